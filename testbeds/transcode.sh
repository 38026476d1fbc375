#!/usr/bin/env bash
# Issue 5 interop: transcoding. baresip speaking Opus only calls baresip
# speaking PCMU only; the switch offers the callee PCMU alongside the
# caller's Opus, answers the caller in Opus itself and transcodes both ways
# (jitter buffer, concealment, Opus <-> G.711). Checked by ear: each side's
# tone is detected on the far side. DTMF sent as RFC 4733 in the caller's
# Opus-clock payload type reaches the callee as RFC 4733 in its own
# 8 kHz payload type. The call is recorded (G.711 both channels). Two Opus
# phones are relayed untouched, and their call's recording decodes Opus.
source "$(dirname "$0")/lib.sh"

start_switch transcode --set directory.first_run_extensions=
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
# The Opus phone's audio runs at 48 kHz stereo (baresip's aufile does not resample).
python3 "$ROOT/testbeds/tones.py" make "$OUT/a440.wav" 440 8 48000 2
python3 "$ROOT/testbeds/tones.py" make "$OUT/b1000.wav" 1000 5
api PATCH /v1/extensions/1001 '{"record": true}' >/dev/null

BARESIP_CODECS="PCMU/8000" start_baresip tc_b 1001 "$P1001" udp auto "$OUT/b1000.wav"; B_CTRL=$BARESIP_CTRL
BARESIP_OPUS=1 BARESIP_CODECS="opus/48000/2" start_baresip tc_a 1000 "$P1000" udp manual "$OUT/a440.wav"; A_CTRL=$BARESIP_CTRL
check "both phones registered"                 bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1000 && wait_for 10 registered 1001"
# The callee's own account of what it receives (DTMF among it).
python3 "$ROOT/testbeds/baresip_events.py" "$B_CTRL" "$OUT/tc_b.events.jsonl" 20 &
check "callee event listener connected"        wait_for 5 test -e "$OUT/tc_b.events.jsonl.ready"
# Digits as /v1/events, each with its side.
rm -f "$OUT/tc_events.jsonl.ready"
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "type=dtmf,channel_hangup" collect "$OUT/tc_events.jsonl" 30 channel_hangup & TC_WS=$!
wait_for 5 test -e "$OUT/tc_events.jsonl.ready"
baresip_cmd "$A_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
answered() { api GET /v1/calls | grep -q '"state":"answered"'; }
check "call answered"                          wait_for 10 answered
metric() { curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
check "one transcoding session while it lasts" bash -c "$(declare -f metric); TOKEN=$TOKEN HTTP_PORT=$HTTP_PORT; [ \"\$(metric ferroswitch_transcoding_sessions)\" = 1 ]"
# A digit from the Opus side, in its own telephone-event, then one from
# the callee (an agent keying a code) in its own.
baresip_cmd "$A_CTRL" sndcode 7 >/dev/null
baresip_cmd "$B_CTRL" sndcode 4 >/dev/null
cdr_ready() { api GET "/v1/cdrs?extension=1000" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["items"] else 1)'; }
check "call ends and a CDR is written"         wait_for 20 cdr_ready
check "the phones negotiated what they were told" bash -c "grep -q 'Set audio encoder: opus' '$OUT/tc_a.baresip.log' && grep -q 'Set audio encoder: PCMU' '$OUT/tc_b.baresip.log'"
rec() { ls "$OUT/$1.baresip/snd/"*"$2"*.wav 2>/dev/null | head -1; }
check "Opus caller hears the PCMU callee's 1000 Hz" python3 "$ROOT/testbeds/tones.py" detect "$(rec tc_a dec)" 1000 440
check "PCMU callee hears the Opus caller's 440 Hz" python3 "$ROOT/testbeds/tones.py" detect "$(rec tc_b dec)" 440 1000
check "the Opus digit reaches the PCMU phone as its own telephone-event" grep -q '"type": "CALL_DTMF_START".*"param": "7"' "$OUT/tc_b.events.jsonl"
dtmf_sides() {
  wait_for 20 bash -c "! kill -0 $TC_WS 2>/dev/null" && python3 - "$OUT/tc_events.jsonl" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
got = [(e["digit"], e["side"]) for e in evs if e["type"] == "dtmf"]
print(got)
sys.exit(0 if sorted(got) == [("4", "callee"), ("7", "caller")] else 1)
PY
}
check "digits become dtmf events with their side: the caller's 7, the callee's 4" dtmf_sides
check "CDR: both codecs, answered, no loss" python3 - "$HTTP_PORT" "$TOKEN" <<'PY'
import json, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/cdrs?extension=1000", headers={"Authorization": "Bearer " + token})
c = json.load(urllib.request.urlopen(req))["items"][0]
print(json.dumps(c, indent=1))
assert c["disposition"] == "answered" and c["hangup_side"] == "callee", c
assert c["codec"] == "opus/48000>PCMU/8000", c["codec"]
assert c["packets_to_a"] > 100 and c["packets_to_b"] > 100, c
assert (c["lost_to_a"], c["lost_to_b"]) == (0, 0), c
PY
check "the transcoded call is recorded: caller's tone left, callee's right" recording_has 1000 8000 440 1000
check "no transcoding session left" bash -c "$(declare -f metric); TOKEN=$TOKEN HTTP_PORT=$HTTP_PORT; [ \"\$(metric ferroswitch_transcoding_sessions)\" = 0 ]"

# A queue caller that speaks only Opus: the switch answers it in Opus,
# plays it music on hold through the transcoder, offers the agent G.711,
# and transcodes the bridge.
api POST /v1/queues '{"name":"opus-q","strategy":"longest-idle-agent","moh":"tone:600@1000/0","agent_ring_timeout":10}' >/dev/null
api POST /v1/agents '{"name":"1001","contact":"1001","wrap_up_time":0}' >/dev/null
api POST /v1/tiers '{"queue":"opus-q","agent":"1001"}' >/dev/null
api POST /v1/routes '{"name":"opus-line","destination_prefix":"7000","source":"any","action":{"queue":"opus-q"}}' >/dev/null
baresip_cmd "$A_CTRL" dial "sip:7000@$DOMAIN" >/dev/null
waiting() { api GET "/v1/queues/opus-q/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["waiting"] == 1 and s["longest_wait_ms"] >= 2500 else 1)'; }
check "the Opus caller waits in the queue" wait_for 10 waiting
check "agent 1001 logs in" bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api POST /v1/agents/1001/login | grep -q Available"
qcdr() { api GET "/v1/cdrs?queue=opus-q&limit=1" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i); sys.exit(0 if i and i[0]["queue_result"] == "answered" and i[0]["codec"] == "opus/48000>PCMU/8000" else 1)'; }
check "CDR: answered by the agent, transcoded" wait_for 30 qcdr
last_rec() { ls -t "$OUT/$1.baresip/snd/"*"$2"*.wav 2>/dev/null | head -1; }
QA=$(last_rec tc_a dec)
check "the Opus caller heard the music on hold (600 Hz) first" env TONES_FROM=0.3 TONES_TO=2 python3 "$ROOT/testbeds/tones.py" detect "$QA" 600 1000
QSECS=$(python3 "$ROOT/testbeds/tones.py" info "$QA" 2>/dev/null | sed 's/.*seconds=//')
check "... then the PCMU agent (1000 Hz)" env TONES_FROM="$(python3 -c "print(max(0, ${QSECS:-0} - 3))")" python3 "$ROOT/testbeds/tones.py" detect "$QA" 1000 600
check "the agent heard the Opus caller (440 Hz)" python3 "$ROOT/testbeds/tones.py" detect "$(last_rec tc_b dec)" 440 1000

# SIP INFO into a transcoded call: a G.711 caller (sipp) sends the digit 5
# as SIP INFO to a phone that speaks Opus only; the switch transcodes, and
# the digit reaches the phone as RFC 4733 in the Opus leg's own
# telephone-event (issue 5: INFO <-> RFC 4733 across a transcoder).
P1002=$(new_extension 1002)
P1003=$(new_extension 1003)
BARESIP_OPUS=1 BARESIP_CODECS="opus/48000/2" start_baresip tc_o 1002 "$P1002" udp auto "$OUT/a440.wav"; O_CTRL=$BARESIP_CTRL
check "the Opus-only phone 1002 registered"     wait_for 10 registered 1002
python3 "$ROOT/testbeds/baresip_events.py" "$O_CTRL" "$OUT/tc_o.events.jsonl" 20 &
check "its event listener connected"            wait_for 5 test -e "$OUT/tc_o.events.jsonl.ready"
echo "SEQUENTIAL" >"$OUT/info_caller.csv"; echo "1003;$DOMAIN" >>"$OUT/info_caller.csv"
check "sipp (PCMU, INFO digit) calls the Opus phone" bash -c "cd '$OUT' && sipp -sf '$SCEN/uac_info.xml' 127.0.0.1:$SIP_PORT -i 127.0.0.1 -p $(free_port) -mp $(free_media_port) -t u1 -s 1002 -inf '$OUT/info_caller.csv' -au 1003 -ap '$P1003' -m 1 -timeout 30 -timeout_error -nostdin -trace_err > '$OUT/tc_info.sipp.log' 2>&1"
check "the Opus phone got the INFO digit as its telephone-event" wait_for 10 grep -q '"type": "CALL_DTMF_START".*"param": "5"' "$OUT/tc_o.events.jsonl"
check "... and no INFO reached it" bash -c "! grep -q 'received DTMF' '$OUT/tc_o.baresip.log'"
info_cdr() { api GET "/v1/cdrs?extension=1003" | python3 -c '
import json, sys
c = json.load(sys.stdin)["items"][0]
print(c["codec"], c["disposition"])
sys.exit(0 if c["disposition"] == "answered" and ">" in c["codec"] and "opus" in c["codec"].lower() else 1)'; }
check "CDR: the INFO call was transcoded (PCMU to Opus)" wait_for 10 info_cdr

# Two Opus phones share Opus: the call is relayed untouched (no
# transcoding), and its recording decodes each side's Opus (a G.711
# recorder would write silence): caller's 440 Hz left, callee's 1000 Hz right.
P1004=$(new_extension 1004)
python3 "$ROOT/testbeds/tones.py" make "$OUT/b1000_48k.wav" 1000 5 48000 2
api PATCH /v1/extensions/1004 '{"record": true}' >/dev/null
BARESIP_OPUS=1 BARESIP_CODECS="opus/48000/2" start_baresip tc_r 1004 "$P1004" udp auto "$OUT/b1000_48k.wav"
check "the Opus-only phone 1004 registered"     wait_for 10 registered 1004
baresip_cmd "$A_CTRL" dial "sip:1004@$DOMAIN" >/dev/null
check "Opus to Opus: answered, relayed untouched (one codec), recorded" wait_for 20 cdr_answered_in 1004 opus/48000
check "the Opus call's recording: caller's 440 Hz left, callee's 1000 Hz right" recording_has 1004 8000 440 1000
check "the callee heard the caller through the untouched relay" python3 "$ROOT/testbeds/tones.py" detect "$(last_rec tc_r dec)" 440 1000

# The Opus the switch sends a phone, on the wire (tshark on loopback): a
# PCMU phone plays noise, so the encoder spends all it may. An Opus phone
# that says nothing of its bitrate gets media.opus_bitrate (24 kbit/s: 60
# bytes of Opus per 20 ms); one whose SDP says maxaveragebitrate=12000
# (baresip's opus_bitrate) gets no more (30 bytes).
P1005=$(new_extension 1005); P1006=$(new_extension 1006); P1007=$(new_extension 1007)
python3 "$ROOT/testbeds/tones.py" noise "$OUT/noise.wav" 30
BARESIP_CODECS="PCMU/8000" start_baresip tc_noise 1005 "$P1005" udp auto "$OUT/noise.wav"
BARESIP_OPUS=1 BARESIP_CODECS="opus/48000/2" start_baresip tc_free 1006 "$P1006" udp manual "$OUT/a440.wav"; FREE=$BARESIP_CTRL
BARESIP_OPUS=1 BARESIP_CODECS="opus/48000/2" BARESIP_EXTRA="opus_bitrate 12000" start_baresip tc_cap 1007 "$P1007" udp manual "$OUT/a440.wav"; CAP=$BARESIP_CTRL
check "the noise phone and two Opus phones registered" bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1005 && wait_for 10 registered 1006 && wait_for 10 registered 1007"
# opus_payload NAME CTRL: NAME dials the noise phone; prints the mean Opus
# payload (bytes) of packets 51-150 the switch sent: from its media ports
# (media.rtp_port_min/max), in a dynamic payload type (the callee's PCMU is
# 0; RTCP's types fall below 96), one call at a time. (A capture by the
# phone's configured RTP range once saw none of its packets in CI.)
opus_payload() {
  rm -f "$OUT/$1.tshark.err"
  tshark -i lo -c 150 -f "udp src portrange 16384-32767 and (udp[9] & 0x7f) >= 96" -T fields -e udp.length >"$OUT/$1.lengths" 2>"$OUT/$1.tshark.err" & local ts=$!
  wait_for 10 grep -q "Capturing on" "$OUT/$1.tshark.err" || return 1
  baresip_cmd "$2" dial "sip:1005@$DOMAIN" >/dev/null
  wait_for 20 bash -c "! kill -0 $ts 2>/dev/null" || { kill "$ts"; return 1; }
  baresip_cmd "$2" hangup >/dev/null
  grep -q "Set audio encoder: opus" "$OUT/$1.baresip.log" || return 1
  # UDP length minus its 8-byte header and the 12-byte RTP header.
  tail -n 100 "$OUT/$1.lengths" | awk '{ s += $1 - 20; n++ } END { if (n == 100) printf "%.1f\n", s / n; else exit 1 }'
}
check "an Opus phone that sets no bitrate gets 24 kbit/s (52-64 bytes a packet)" bash -c "$(declare -f opus_payload wait_for baresip_cmd); OUT='$OUT' DOMAIN='$DOMAIN'; b=\$(opus_payload tc_free $FREE) && echo \"\$b bytes\" && awk -v b=\"\$b\" 'BEGIN { exit !(b >= 52 && b <= 64) }'"
check "one whose SDP says maxaveragebitrate=12000 gets 12 kbit/s (24-33 bytes)" bash -c "$(declare -f opus_payload wait_for baresip_cmd); OUT='$OUT' DOMAIN='$DOMAIN'; b=\$(opus_payload tc_cap $CAP) && echo \"\$b bytes\" && awk -v b=\"\$b\" 'BEGIN { exit !(b >= 24 && b <= 33) }'"

# G.722 (issue 5): with G722 in media.transcode, a G.722-only phone calls a
# PCMU-only one through the transcoder (G.722 worked through its lower
# sub-band at 8 kHz); then two G.722 phones share it, are relayed
# untouched, and their recording decodes G.722. baresip's G.722 runs at
# 16 kHz, so its files are 16 kHz. This switch records at 16 kHz
# (recordings.rate): the G.722 callee's 6 kHz tone, beyond 8 kHz's band,
# is in its call's recording.
start_switch transcode_g722 --set directory.first_run_extensions= --set media.transcode=PCMU,PCMA,opus,G722 --set recordings.rate=16000
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
P1002=$(new_extension 1002)
python3 "$ROOT/testbeds/tones.py" make "$OUT/a440_16k.wav" 440 8 16000 1
python3 "$ROOT/testbeds/tones.py" make "$OUT/c6000_16k.wav" 6000 5 16000 1
api PATCH /v1/extensions/1001 '{"record": true}' >/dev/null
api PATCH /v1/extensions/1002 '{"record": true}' >/dev/null
BARESIP_CODECS="PCMU/8000" start_baresip g_pcmu 1001 "$P1001" udp auto "$OUT/b1000.wav"
BARESIP_G722=1 BARESIP_CODECS="G722/16000/1" start_baresip g_wide 1002 "$P1002" udp auto "$OUT/c6000_16k.wav"
BARESIP_G722=1 BARESIP_CODECS="G722/16000/1" start_baresip g_call 1000 "$P1000" udp manual "$OUT/a440_16k.wav"; G_CTRL=$BARESIP_CTRL
check "three phones registered (G.722)" bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1000 && wait_for 10 registered 1001 && wait_for 10 registered 1002"
baresip_cmd "$G_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
check "G.722 to PCMU: answered and transcoded" wait_for 20 cdr_answered_in 1001 "G722/8000>PCMU/8000"
check "the G.722 phone negotiated G.722, the other PCMU" bash -c "grep -q 'Set audio encoder: G722' '$OUT/g_call.baresip.log' && grep -q 'Set audio encoder: PCMU' '$OUT/g_pcmu.baresip.log'"
check "the PCMU phone hears the G.722 phone's 440 Hz" python3 "$ROOT/testbeds/tones.py" detect "$(last_rec g_pcmu dec)" 440 1000
check "the G.722 phone hears the PCMU phone's 1000 Hz" python3 "$ROOT/testbeds/tones.py" detect "$(last_rec g_call dec)" 1000 440
check "the transcoded G.722 call's 16 kHz recording: 440 Hz left, 1000 Hz right" recording_has 1001 16000 440 1000
baresip_cmd "$G_CTRL" dial "sip:1002@$DOMAIN" >/dev/null
check "G.722 to G.722: answered, relayed untouched" wait_for 20 cdr_answered_in 1002 "G722/8000"
check "the callee hears the caller's 440 Hz through the untouched relay" python3 "$ROOT/testbeds/tones.py" detect "$(last_rec g_wide dec)" 440 6000
check "the caller hears the callee's 6 kHz (wideband, untouched)" python3 "$ROOT/testbeds/tones.py" detect "$(last_rec g_call dec)" 6000 440
check "the G.722 call's 16 kHz recording decodes G.722: 440 Hz left, 6 kHz right" recording_has 1002 16000 440 6000
# Two Opus phones on the same switch: relayed untouched, and the recording
# decodes Opus at 16 kHz, so the callee's 6 kHz is in it.
P1003=$(new_extension 1003)
P1004=$(new_extension 1004)
api PATCH /v1/extensions/1004 '{"record": true}' >/dev/null
python3 "$ROOT/testbeds/tones.py" make "$OUT/c6000_48k.wav" 6000 5 48000 2
BARESIP_OPUS=1 BARESIP_CODECS="opus/48000/2" start_baresip w_opus_b 1004 "$P1004" udp auto "$OUT/c6000_48k.wav"
BARESIP_OPUS=1 BARESIP_CODECS="opus/48000/2" start_baresip w_opus_a 1003 "$P1003" udp manual "$OUT/a440.wav"; W_CTRL=$BARESIP_CTRL
check "two Opus phones registered (16 kHz recordings)" bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1003 && wait_for 10 registered 1004"
baresip_cmd "$W_CTRL" dial "sip:1004@$DOMAIN" >/dev/null
check "Opus to Opus: answered, relayed untouched" wait_for 20 cdr_answered_in 1004 opus/48000
check "the Opus call's 16 kHz recording decodes Opus: 440 Hz left, 6 kHz right" recording_has 1004 16000 440 6000

# media.transcode empty: the same two phones have nothing in common; the
# callee refuses the offer (488) and the caller is told so.
start_switch transcode_off --set directory.first_run_extensions= --set media.transcode=
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
BARESIP_CODECS="PCMU/8000" start_baresip off_b 1001 "$P1001" udp auto "$OUT/b1000.wav"
BARESIP_OPUS=1 BARESIP_CODECS="opus/48000/2" start_baresip off_a 1000 "$P1000" udp manual "$OUT/a440.wav"; A_CTRL=$BARESIP_CTRL
check "both phones registered (transcoding off)" bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1000 && wait_for 10 registered 1001"
baresip_cmd "$A_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
failed_cdr() { api GET "/v1/cdrs?extension=1000" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; sys.exit(0 if i and i[0]["disposition"] != "answered" else 1)'; }
check "without transcoding the call fails instead" wait_for 15 failed_cdr
check "switch process still running" alive
summary "transcode"
