#!/usr/bin/env bash
# Issue 4 interop: extension-to-extension calls through the B2BUA with
# anchored media, checked by ear (tones detected on the far side in both
# directions), and the CDR that results.
source "$(dirname "$0")/lib.sh"

start_switch calls --set directory.first_run_extensions=
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)

python3 "$ROOT/testbeds/tones.py" make "$OUT/a440.wav" 440 8
python3 "$ROOT/testbeds/tones.py" make "$OUT/b1000.wav" 1000 4

# Callee auto-answers and plays 1000 Hz for 4 s, then hangs up (its file ends).
# 1001's calls are recorded (the extension's record flag).
api PATCH /v1/extensions/1001 '{"record": true}' >/dev/null
start_baresip call_b 1001 "$P1001" udp auto "$OUT/b1000.wav"; B_CTRL=$BARESIP_CTRL
start_baresip call_a 1000 "$P1000" udp manual "$OUT/a440.wav"; A_CTRL=$BARESIP_CTRL
check "both phones registered"                 bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1000 && wait_for 10 registered 1001"
rm -f "$OUT/events.jsonl.ready"
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "extension=1000" collect "$OUT/events.jsonl" 30 channel_hangup &
WS_PID=$!
check "event client subscribed"               wait_for 5 test -e "$OUT/events.jsonl.ready"
baresip_cmd "$A_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
answered() { api GET /v1/calls | grep -q '"state":"answered"'; }
check "call answered"                          wait_for 10 answered
baresip_cmd "$A_CTRL" sndcode 5 >/dev/null
check "ctl status shows the live call"          bash -c "$(declare -f ctl); BIN='$BIN' HTTP_PORT=$HTTP_PORT DATA='$DATA'; ctl status | tee /dev/stderr | grep -q 'calls: *1 live, 1 answered'"
check "ctl status: version, uptime, calls/s, load" bash -c "$(declare -f ctl); BIN='$BIN' HTTP_PORT=$HTTP_PORT DATA='$DATA'; ctl status > '$OUT/status.txt'; cat '$OUT/status.txt'; grep -q '^version: *0\.1\.0' '$OUT/status.txt' && grep -Eq '^uptime: *0d 00:0[0-9]:[0-9]{2}' '$OUT/status.txt' && grep -Eq '^calls/s: *0\.[1-9]' '$OUT/status.txt' && grep -Eq '^load: *[0-9.]+ \(1 min\)' '$OUT/status.txt'"
check "ctl show calls lists it"                 bash -c "$(declare -f ctl); BIN='$BIN' HTTP_PORT=$HTTP_PORT DATA='$DATA'; ctl show calls | tee /dev/stderr | grep -Eq ' 1000 +1001 +answered '"
check "/metrics during the call: 1 call, 2 channels" bash -c "curl -sS -H 'Authorization: Bearer $TOKEN' -o '$OUT/metrics_live.txt' http://127.0.0.1:$HTTP_PORT/metrics && grep -x 'ferroswitch_c[a-z]*_active [0-9]*' '$OUT/metrics_live.txt' && grep -qx 'ferroswitch_channels_active 2' '$OUT/metrics_live.txt' && grep -qx 'ferroswitch_calls_active 1' '$OUT/metrics_live.txt'"
check "ctl show registrations lists both"       bash -c "$(declare -f ctl); BIN='$BIN' HTTP_PORT=$HTTP_PORT DATA='$DATA'; [ \$(ctl show registrations | grep -c ' udp ') -eq 2 ]"
cdr_ready() { api GET "/v1/cdrs?extension=1000" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["items"] else 1)'; }
check "call ends and a CDR is written"         wait_for 20 cdr_ready
rec() { ls "$OUT/$1.baresip/snd/"*"$2"*.wav 2>/dev/null | head -1; }
check "caller hears the callee's 1000 Hz"       python3 "$ROOT/testbeds/tones.py" detect "$(rec call_a dec)" 1000 440
check "callee hears the caller's 440 Hz"        python3 "$ROOT/testbeds/tones.py" detect "$(rec call_b dec)" 440 1000
check "CDR: parties, disposition, callee hung up, ~4 s" python3 - "$HTTP_PORT" "$TOKEN" <<'PY'
import json, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/cdrs?extension=1000", headers={"Authorization": "Bearer " + token})
c = json.load(urllib.request.urlopen(req))["items"][0]
print(json.dumps(c, indent=1))
assert c["caller"] == "1000" and c["callee"] == "1001", c
assert c["disposition"] == "answered" and c["a_status"] == 200 and c["b_status"] == 200, c
assert c["hangup_side"] == "callee" and c["hangup_cause"] == "normal_clearing", c
assert abs(c["billable_ms"] - 4000) <= 1000, c["billable_ms"]
assert c["codec"] and c["codec"].upper().startswith(("PCMU", "PCMA")), c["codec"]
assert c["packets_to_a"] > 100 and c["packets_to_b"] > 100, (c["packets_to_a"], c["packets_to_b"])
# Receive quality per direction (RFC 3550): nothing lost on loopback, jitter small.
assert (c["lost_to_a"], c["lost_to_b"]) == (0, 0), c
assert 0 <= c["jitter_to_a_us"] < 20000 and 0 <= c["jitter_to_b_us"] < 20000, c
one = json.load(urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/cdrs/{c['id']}", headers={"Authorization": "Bearer " + token})))
assert one.pop("webhooks") == [], one  # no webhooks.url configured: no delivery
assert one == c, one
PY
check "record flag: the call is recorded, caller left, callee right" recording_has 1000 8000 440 1000
rec_ranges() { # the API serves the recording in byte ranges, as players seek
  local f u h; f=$(api GET "/v1/cdrs?extension=1000" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["recording"] or "")')
  u="http://127.0.0.1:$HTTP_PORT/v1/recordings/$f"; h="Authorization: Bearer $TOKEN"
  curl -sSf -H "$h" -o "$OUT/rec_full.wav" "$u" || return 1
  local total; total=$(stat -c %s "$OUT/rec_full.wav")
  [ "$(curl -s -H "$h" -r 0-43 -o "$OUT/rec_head.bin" -D "$OUT/rec_head.hdr" -w '%{http_code}' "$u")" = 206 ] || return 1
  grep -qi "^content-range: bytes 0-43/$total" "$OUT/rec_head.hdr" || { cat "$OUT/rec_head.hdr"; return 1; }
  cmp -s "$OUT/rec_head.bin" <(head -c 44 "$OUT/rec_full.wav") || return 1
  [ "$(curl -s -H "$h" -r 44- -o "$OUT/rec_tail.bin" -w '%{http_code}' "$u")" = 206 ] || return 1
  cmp -s "$OUT/rec_tail.bin" <(tail -c +45 "$OUT/rec_full.wav") || return 1
  [ "$(curl -s -H "$h" -r "$((total + 10))-" -o /dev/null -w '%{http_code}' "$u")" = 416 ]
}
check "the recording is served in byte ranges (206, exact bytes; 416 past the end)" rec_ranges
check "no call left behind"                     bash -c "curl -sS -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/v1/calls | grep -q '\"items\":\[\]'"
check "switch process still running"            alive
gone() { ! kill -0 "$1" 2>/dev/null; }
check "event stream: created, answered, hangup in order" bash -c "$(declare -f wait_for gone); wait_for 30 gone $WS_PID; python3 - '$OUT/events.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
types = [e['type'] for e in evs]
print(types)
seqs = [e['seq'] for e in evs]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
calls = {e['call'] for e in evs if e['type'].startswith('channel_')}
assert len(calls) == 1, calls
want = ['channel_created', 'channel_ringing', 'channel_answered', 'channel_bridged', 'dtmf', 'channel_hangup']
it = iter(types)
assert all(w in it for w in want), types
assert [e['digit'] for e in evs if e['type'] == 'dtmf'] == ['5'], evs
h = [e for e in evs if e['type'] == 'channel_hangup'][0]
assert h['disposition'] == 'answered' and h['hangup_side'] == 'callee', h
PY"
check "/metrics needs the token"                bash -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP_PORT/metrics | grep -q 401"
check "/metrics parses and moved with the call" python3 - "$HTTP_PORT" "$TOKEN" <<'PY'
import re, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer " + token}))
assert r.headers["Content-Type"].startswith("text/plain"), r.headers["Content-Type"]
samples, typed = {}, set()
for line in r.read().decode().splitlines():
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ", 3)
        assert kind in ("counter", "gauge", "histogram"), line
        typed.add(name)
    elif line.startswith("#") or not line:
        continue
    else:
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9.e+]+)', line)
        assert m, f"not Prometheus text: {line!r}"
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, f"sample before its TYPE: {line}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(4))
print(samples)
assert samples['ferroswitch_calls_ended_total{disposition="answered"}'] == 1
assert samples["ferroswitch_calls_started_total"] == 1
assert samples["ferroswitch_calls_active"] == 0 and samples["ferroswitch_relay_sessions"] == 0
assert samples["ferroswitch_channels_active"] == 0 and samples["ferroswitch_blocked_sources"] == 0
assert samples["ferroswitch_registrations"] == 2
assert samples["process_resident_memory_bytes"] > 1e6
assert samples["ferroswitch_rtp_packets_total"] > 200 and samples["ferroswitch_rtp_lost_total"] == 0, samples
assert samples["ferroswitch_rtp_jitter_ms_count"] == 2 and samples['ferroswitch_rtp_jitter_ms_bucket{le="+Inf"}'] == 2
assert samples['ferroswitch_rtp_jitter_ms_bucket{le="20"}'] == 2, "jitter on loopback under 20 ms"
assert samples["ferroswitch_rtp_loss_percent_count"] == 2 and samples['ferroswitch_rtp_loss_percent_bucket{le="0"}'] == 2, "both streams lost nothing"
PY

# A route that records: 1001's record flag off, 1000 dials 8001, which a
# route with "record": true sends to 1001; the call is recorded all the same.
api PATCH /v1/extensions/1001 '{"record": false}' >/dev/null
api POST /v1/routes '{"name":"rec-line","destination_prefix":"8001","source":"extension","action":{"extension":"1001"},"record":true}' >/dev/null
baresip_cmd "$A_CTRL" dial "sip:8001@$DOMAIN" >/dev/null
two_cdrs() { [ "$(api GET "/v1/cdrs?extension=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" -ge 2 ]; }
check "route record: the call through rec-line ends with a CDR" wait_for 20 two_cdrs
check "route record: recorded, caller left, callee right" recording_has 1000 8000 440 1000

# media.mode = bypass: SDP passes untouched, the phones talk directly,
# the switch relays nothing (and the audio still gets through).
start_switch calls_bypass --set directory.first_run_extensions= --set media.mode=bypass --set http.events_buffer=8
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
start_baresip byp_b 1001 "$P1001" udp auto "$OUT/b1000.wav"
start_baresip byp_a 1000 "$P1000" udp manual "$OUT/a440.wav"; A_CTRL=$BARESIP_CTRL
check "bypass: both phones registered"          bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1000 && wait_for 10 registered 1001"
baresip_cmd "$A_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
check "bypass: call ends with a CDR"            wait_for 20 cdr_ready
check "bypass: caller hears 1000 Hz directly"   python3 "$ROOT/testbeds/tones.py" detect "$(rec byp_a dec)" 1000 440
check "bypass: callee hears 440 Hz directly"    python3 "$ROOT/testbeds/tones.py" detect "$(rec byp_b dec)" 440 1000
# ctl hangup ends a live call; its CDR says so.
python3 "$ROOT/testbeds/tones.py" make "$OUT/long.wav" 700 30
start_baresip byp_b2 1001 "$P1001" udp auto "$OUT/long.wav"
wait_for 10 registered 1001 >/dev/null
baresip_cmd "$A_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
check "ctl: second call answered"              wait_for 10 answered
CALL=$(api GET /v1/calls | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
check "ctl hangup UUID"                         ctl hangup "$CALL"
check "hung-up call has a CDR: system, api_hangup" wait_for 10 bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/cdrs/$CALL | grep -q '\"hangup_cause\":\"api_hangup\"'"
check "bypass: the switch relayed no packet"    bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET '/v1/cdrs?extension=1000' | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"items\"][0]; sys.exit(0 if c[\"disposition\"]==\"answered\" and c[\"packets_to_a\"]==0 and c[\"packets_to_b\"]==0 else 1)'"
# A route may choose the media mode (issue 4): on this bypassing switch,
# calls dialled as 7xxx go to 1001 through a route that relays.
check "a route with media_mode relay is accepted" bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api POST /v1/routes '{\"name\":\"relayed-line\",\"destination_prefix\":\"7\",\"source\":\"extension\",\"action\":{\"extension\":\"1001\"},\"media_mode\":\"relay\"}' | grep -q '\"media_mode\":\"relay\"'"
check "a route with media_mode sideways is refused, naming the field" bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api POST /v1/routes '{\"name\":\"bad-line\",\"destination_prefix\":\"8\",\"action\":{\"extension\":\"1001\"},\"media_mode\":\"sideways\"}' | grep -q 'media_mode'"
baresip_cmd "$A_CTRL" dial "sip:7001@$DOMAIN" >/dev/null
check "route relay: call answered"             wait_for 10 answered
CALL=$(api GET /v1/calls | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
relayed_live() { curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/metrics" | grep -qx 'ferroswitch_relay_sessions 1'; }
check "route relay: the switch opened a relay for it" wait_for 5 relayed_live
ctl hangup "$CALL" >/dev/null
check "route relay: the CDR shows media relayed both ways" wait_for 10 bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/cdrs/$CALL | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c[\"packets_to_a\"], c[\"packets_to_b\"]); sys.exit(0 if c[\"packets_to_a\"]>0 and c[\"packets_to_b\"]>0 else 1)'"

# A client that stops reading /v1/events is dropped; registrations meanwhile
# go on at full rate (3000 REGISTERs, each an event: more than the kernel's
# socket buffers hold, so the server must notice the client is not reading).
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "" stall 12 >"$OUT/stall.log" 2>&1 &
STALL=$!
echo "SEQUENTIAL" >"$OUT/u1000.csv"; echo "1000;$DOMAIN" >>"$OUT/u1000.csv"
check "3000 REGISTERs succeed while a client stalls"  sipp_run register_auth.xml u1 -inf "$OUT/u1000.csv" -au 1000 -ap "$P1000" -m 3000 -r 1000
check "the stalled event client was dropped"          bash -c "$(declare -f wait_for gone); wait_for 30 gone $STALL; cat '$OUT/stall.log'; grep -Eq 'RESULT=(overflow-notice|closed-by-server|dropped-by-server)' '$OUT/stall.log'"
check "switch process still running"                  alive

# A recording cut by kill -9 is still a valid WAV: its header is fixed up
# every second, so the .part file plays all but the last moments. The next
# start makes it whole, links it from the interrupted call's CDR and
# names it in that CDR's webhook.
CUT_WPORT=$(free_port)
CUT_HOOKS=$OUT/cut_deliveries.jsonl; : >"$CUT_HOOKS"
python3 "$ROOT/testbeds/webhook_receiver.py" "$CUT_WPORT" cut-secret "$CUT_HOOKS" & PIDS+=("$!")
start_switch calls_cut --set directory.first_run_extensions= --set webhooks.url="http://127.0.0.1:$CUT_WPORT/hook" --set webhooks.secret=cut-secret
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
api PATCH /v1/extensions/1001 '{"record": true}' >/dev/null
start_baresip cut_b 1001 "$P1001" udp auto "$OUT/long.wav"; CUT_B_PID=$BARESIP_PID
start_baresip cut_a 1000 "$P1000" udp manual "$OUT/a440.wav"; A_CTRL=$BARESIP_CTRL; CUT_A_PID=$BARESIP_PID
check "cut: both phones registered"             bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1000 && wait_for 10 registered 1001"
baresip_cmd "$A_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
part_grown() { # at least 3 s of stereo audio written
  local f; f=$(ls "$DATA"/recordings/*.wav.part 2>/dev/null | head -1)
  [ -n "$f" ] && [ "$(stat -c %s "$f")" -ge $((44 + 3 * 32000)) ]
}
check "cut: the recording grows"                 wait_for 20 part_grown
rec_writer_keeps_up() { # the writer's backlog is under 2 s of this call's audio, nothing dropped
  curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/metrics" > "$OUT/metrics_rec.txt" || return 1
  grep -qx 'ferroswitch_recording_dropped_bytes_total 0' "$OUT/metrics_rec.txt" &&
    awk '$1 == "ferroswitch_recording_write_queue_bytes" { found = 1; ok = ($2 < 64000) } END { exit !(found && ok) }' "$OUT/metrics_rec.txt"
}
check "cut: /metrics shows the recording writer keeping up (nothing dropped)" rec_writer_keeps_up
kill -KILL "$SWITCH_PID"; wait "$SWITCH_PID" 2>/dev/null
CUT=$(ls "$DATA"/recordings/*.wav.part | head -1)
check "cut: after kill -9 the .part file is a stereo WAV of at least 2.5 s" bash -c "python3 '$ROOT/testbeds/tones.py' info '$CUT' | tee /dev/stderr | python3 -c 'import sys; l=sys.stdin.read(); s=float(l.split(\"seconds=\")[1]); sys.exit(0 if \"channels=2 rate=8000\" in l and s >= 2.5 else 1)'"
check "cut: ... holding the caller (440 Hz) left and the callee (700 Hz) right" bash -c "python3 '$ROOT/testbeds/tones.py' detectch '$CUT' 0 440 700 && python3 '$ROOT/testbeds/tones.py' detectch '$CUT' 1 700 440"
CUT_CALL=$(basename "$CUT" .wav.part)
CUT_LEN=$(stat -c %s "$CUT")
# The cut call's phones never heard a BYE and still stream to the dead
# switch's relay ports, which the next switch may reuse: hang them up.
kill "$CUT_A_PID" "$CUT_B_PID" 2>/dev/null || true
RESTART=1 STARTS=2 start_switch calls_cut; STARTS=1
cut_cdr() { api GET "/v1/cdrs/$CUT_CALL" | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c.get("disposition"), c.get("recording"))'; }
check "cut: after the restart the interrupted call's CDR links its recording" wait_for 10 bash -c "$(declare -f api cut_cdr); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN CUT_CALL=$CUT_CALL; cut_cdr | tee /dev/stderr | grep -qx 'interrupted $CUT_CALL.wav'"
check "cut: ... made whole (no .part left; every whole frame written kept)" bash -c "! ls '$DATA'/recordings/*.part 2>/dev/null && [ \$(stat -c %s '$DATA/recordings/$CUT_CALL.wav') -gt $((CUT_LEN - 4)) ]"
check "cut: ... served by the API: stereo, at least 2.5 s, caller left, callee right" bash -c "curl -sSf -H 'Authorization: Bearer $TOKEN' -o '$OUT/cut_served.wav' 'http://127.0.0.1:$HTTP_PORT/v1/recordings/$CUT_CALL.wav' && python3 '$ROOT/testbeds/tones.py' info '$OUT/cut_served.wav' | tee /dev/stderr | python3 -c 'import sys; l=sys.stdin.read(); s=float(l.split(\"seconds=\")[1]); sys.exit(0 if \"channels=2 rate=8000\" in l and s >= 2.5 else 1)' && python3 '$ROOT/testbeds/tones.py' detectch '$OUT/cut_served.wav' 0 440 700 && python3 '$ROOT/testbeds/tones.py' detectch '$OUT/cut_served.wav' 1 700 440"
check "cut: ... and named in the interrupted call's webhook" wait_for 15 python3 -c "import json,sys; r=[json.loads(l) for l in open('$CUT_HOOKS') if l.strip()]; m=[x for x in r if x.get('cdr_id') == '$CUT_CALL']; print(m); sys.exit(0 if m and m[0]['sig_ok'] and m[0]['disposition'] == 'interrupted' and m[0]['recording'] == '$CUT_CALL.wav' and (m[0]['recording_url'] or '').endswith('/v1/recordings/$CUT_CALL.wav') else 1)"
# Recordings start at answer, unless recordings.start = "early_media": a
# carrier's callee (sipp) sends 2 s of early media (1200 Hz, after 183),
# answers and speaks (700 Hz) for 6 s, hangs up. The route records.
python3 "$ROOT/testbeds/tones.py" pcap "$OUT/early.pcap" 1200 2
python3 "$ROOT/testbeds/tones.py" pcap "$OUT/answer.pcap" 700 6
mkdir -p "$OUT/alaw"
python3 "$ROOT/testbeds/tones.py" pcap "$OUT/alaw/early.pcap" 1200 2 alaw
python3 "$ROOT/testbeds/tones.py" pcap "$OUT/alaw/answer.pcap" 700 6 alaw
early_call() { # early_call NAME [--set ...]: one call of 1000 through the carrier (answering PCMU, or PCMA with CARRIER_LAW=alaw); sets EREC (the recording) and EBILL (billable ms)
  local name=$1; shift
  start_switch "$name" --set directory.first_run_extensions= "$@"
  P1000=$(new_extension 1000)
  local gw; gw=$(free_port)
  api POST /v1/gateways "{\"name\":\"carrier\",\"proxy\":\"127.0.0.1:$gw\"}" >/dev/null
  api POST /v1/routes '{"name":"out","destination_prefix":"9","source":"extension","action":{"gateways":["carrier"]},"record":true}' >/dev/null
  start_baresip "${name}_a" 1000 "$P1000" udp manual "$OUT/a440.wav"
  wait_for 10 registered 1000
  local pcaps=$OUT pt=0 codec=PCMU
  [ "${CARRIER_LAW:-mulaw}" = alaw ] && pcaps=$OUT/alaw pt=8 codec=PCMA
  (cd "$pcaps" && exec sipp -sf "$SCEN/uas_early_record.xml" -key pt "$pt" -key codec "$codec" -i 127.0.0.1 -p "$gw" -mp "$(free_media_port)" -t u1 -m 1 -timeout 30 -timeout_error -nostdin) >"$OUT/$name.sipp.log" 2>&1 & local carrier=$!
  PIDS+=("$carrier")
  baresip_cmd "$BARESIP_CTRL" dial "sip:9001@$DOMAIN" >/dev/null
  wait "$carrier"
  wait_for 10 bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET '/v1/cdrs?extension=1000' | grep -q '\"recording\":\"'"
  local c; c=$(api GET "/v1/cdrs?extension=1000" | python3 -c 'import json,sys; c=json.load(sys.stdin)["items"][0]; print(c["recording"] or "", c["billable_ms"])')
  EREC=$DATA/recordings/${c% *}; EBILL=${c#* }
}
rec_len_is() { # rec_len_is FILE MS TOLERANCE_MS: the WAV lasts MS, within TOLERANCE_MS
  python3 "$ROOT/testbeds/tones.py" info "$1" | tee /dev/stderr | python3 -c 'import sys; s=float(sys.stdin.read().split("seconds=")[1]); want, tol = int(sys.argv[1]) / 1000, int(sys.argv[2]) / 1000; print(s, want); sys.exit(0 if abs(s - want) <= tol else 1)' "$2" "$3"
}
early_call calls_early
check "at answer: the carrier call is recorded, its length the answered call's (within 1%)" rec_len_is "$EREC" "$EBILL" $((EBILL / 100))
check "at answer: callee right, speech only (700 Hz, no early 1200 Hz)"  python3 "$ROOT/testbeds/tones.py" detectch "$EREC" 1 700 1200
check "at answer: caller left (440 Hz)"                                python3 "$ROOT/testbeds/tones.py" detectch "$EREC" 0 440 700
early_call calls_early_media --set recordings.start=early_media
check "early_media: the recording also holds the 2 s before the answer" rec_len_is "$EREC" $((EBILL + 2250)) 450
check "early_media: first the announcement (1200 Hz) on the right"   env TONES_TO=1.8 python3 "$ROOT/testbeds/tones.py" detectch "$EREC" 1 1200 700
check "early_media: then the speech (700 Hz)"                        env TONES_FROM=2.5 python3 "$ROOT/testbeds/tones.py" detectch "$EREC" 1 700 1200
# recordings.format = "opus": the same call's recording ends as Ogg Opus
# (opusdec, from opus-tools, reads it back).
early_call calls_opus --set recordings.format=opus
check "opus: the recording is an .opus file, no WAV left" bash -c "[[ '$EREC' == *.opus ]] && [ -s '$EREC' ] && ! ls '$DATA'/recordings/*.wav* 2>/dev/null"
check "opus: under a fifth of the WAV's size (32 bytes a millisecond)" bash -c "[ \$(stat -c %s '$EREC') -lt $(( EBILL * 32 / 5 )) ]"
check "opus: served as audio/ogg" bash -c "curl -sSf -D - -o '$OUT/rec.opus' -H 'Authorization: Bearer $TOKEN' 'http://127.0.0.1:$HTTP_PORT/v1/recordings/$(basename "$EREC")' | grep -qi '^content-type: audio/ogg' && cmp '$OUT/rec.opus' '$EREC'"
opusdec --quiet --rate 8000 "$EREC" "$OUT/rec_opus.wav" >"$OUT/opusdec.log" 2>&1
check "opus: decodes to stereo of the answered call's length (within 1%)" rec_len_is "$OUT/rec_opus.wav" "$EBILL" $((EBILL / 100))
check "opus: caller left (440 Hz), callee right (700 Hz)" bash -c "python3 '$ROOT/testbeds/tones.py' info '$OUT/rec_opus.wav' | grep -q channels=2 && python3 '$ROOT/testbeds/tones.py' detectch '$OUT/rec_opus.wav' 0 440 700 && python3 '$ROOT/testbeds/tones.py' detectch '$OUT/rec_opus.wav' 1 700 440"
# recordings.encoding = "g711": the same call recorded in its own law
# (PCMU here: a μ-law WAV, format 7), one byte a sample, half the size.
# sox, a standard reader, takes it and converts it to 16-bit PCM.
early_call calls_g711 --set recordings.encoding=g711
check "g711: a stereo 8 kHz μ-law WAV" bash -c "python3 '$ROOT/testbeds/tones.py' info '$EREC' | grep -q 'channels=2 rate=8000 encoding=mulaw'"
check "g711: the answered call's length (within 1%)" rec_len_is "$EREC" "$EBILL" $((EBILL / 100))
check "g711: one byte a sample (16 bytes a millisecond, half of 16-bit PCM)" bash -c "s=\$(stat -c %s '$EREC'); [ \$s -ge $((EBILL * 16 * 99 / 100)) ] && [ \$s -le $((EBILL * 16 * 101 / 100 + 58)) ]"
check "g711: sox reads it as 8-bit u-law, 2 channels" bash -c "sox --i '$EREC' | tee /dev/stderr | grep -q 'u-law' && sox --i -c '$EREC' | grep -qx 2"
sox "$EREC" -e signed -b 16 "$OUT/rec_g711_pcm.wav" 2>"$OUT/sox.log"
check "g711: converted by sox, caller left (440 Hz), callee right (700 Hz)" bash -c "python3 '$ROOT/testbeds/tones.py' detectch '$OUT/rec_g711_pcm.wav' 0 440 700 && python3 '$ROOT/testbeds/tones.py' detectch '$OUT/rec_g711_pcm.wav' 1 700 440"
check "g711: read directly, the same tones" bash -c "python3 '$ROOT/testbeds/tones.py' detectch '$EREC' 0 440 700 && python3 '$ROOT/testbeds/tones.py' detectch '$EREC' 1 700 440"
# Both: a G.711 recording converted to Ogg Opus when the call ends (the
# conversion reads the μ-law WAV back as 16-bit audio).
early_call calls_g711_opus --set recordings.encoding=g711 --set recordings.format=opus
check "g711+opus: the recording is an .opus file, no WAV left" bash -c "[[ '$EREC' == *.opus ]] && [ -s '$EREC' ] && ! ls '$DATA'/recordings/*.wav* 2>/dev/null"
opusdec --quiet --rate 8000 "$EREC" "$OUT/rec_g711_opus.wav" >"$OUT/opusdec_g711.log" 2>&1
check "g711+opus: decodes to stereo of the answered call's length (within 1%)" rec_len_is "$OUT/rec_g711_opus.wav" "$EBILL" $((EBILL / 100))
check "g711+opus: caller left (440 Hz), callee right (700 Hz)" bash -c "python3 '$ROOT/testbeds/tones.py' detectch '$OUT/rec_g711_opus.wav' 0 440 700 && python3 '$ROOT/testbeds/tones.py' detectch '$OUT/rec_g711_opus.wav' 1 700 440"
# A carrier speaking PCMA: the call is recorded in A-law (WAV format 6),
# which sox reads as such, each side's tone on its channel.
CARRIER_LAW=alaw early_call calls_g711_alaw --set recordings.encoding=g711
check "g711 A-law: a stereo 8 kHz A-law WAV" bash -c "python3 '$ROOT/testbeds/tones.py' info '$EREC' | grep -q 'channels=2 rate=8000 encoding=alaw'"
check "g711 A-law: the answered call's length (within 1%)" rec_len_is "$EREC" "$EBILL" $((EBILL / 100))
check "g711 A-law: sox reads it as 8-bit A-law, 2 channels" bash -c "sox --i '$EREC' | tee /dev/stderr | grep -q 'A-law' && sox --i -c '$EREC' | grep -qx 2"
sox "$EREC" -e signed -b 16 "$OUT/rec_alaw_pcm.wav" 2>"$OUT/sox_alaw.log"
check "g711 A-law: converted by sox, caller left (440 Hz), callee right (700 Hz)" bash -c "python3 '$ROOT/testbeds/tones.py' detectch '$OUT/rec_alaw_pcm.wav' 0 440 700 && python3 '$ROOT/testbeds/tones.py' detectch '$OUT/rec_alaw_pcm.wav' 1 700 440"
# The same carrier in a 16-bit recording (the default): the recorder keeps
# the A-law side decoded in its track (A-law has no byte for linear 0).
CARRIER_LAW=alaw early_call calls_pcm16_alaw
check "16-bit, A-law carrier: a stereo 8 kHz 16-bit WAV" bash -c "python3 '$ROOT/testbeds/tones.py' info '$EREC' | grep -q 'channels=2 rate=8000 encoding=pcm16'"
check "16-bit, A-law carrier: the answered call's length (within 1%)" rec_len_is "$EREC" "$EBILL" $((EBILL / 100))
check "16-bit, A-law carrier: caller left (440 Hz), callee right (700 Hz)" bash -c "python3 '$ROOT/testbeds/tones.py' detectch '$EREC' 0 440 700 && python3 '$ROOT/testbeds/tones.py' detectch '$EREC' 1 700 440"
summary "calls"
