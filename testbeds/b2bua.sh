#!/usr/bin/env bash
# Issue 4 interop with sipp on both legs: busy, no answer with ring timeout,
# CANCEL before answer, BYE from each side, re-INVITE hold/resume, early
# media with 183, forking to two registered contacts; each call leaves a
# CDR with the right disposition.
source "$(dirname "$0")/lib.sh"

start_switch b2bua --set directory.first_run_extensions= --set calls.ring_timeout=3 --set media.timeout=3
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
echo "SEQUENTIAL" >"$OUT/caller.csv"; echo "1000;$DOMAIN" >>"$OUT/caller.csv"
echo "SEQUENTIAL" >"$OUT/callee.csv"; echo "1001;$DOMAIN" >>"$OUT/callee.csv"

# register_uas PORT: register 1001's contact at 127.0.0.1:PORT (sipp, digest).
register_uas() {
  sipp -sf "$SCEN/register_auth.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$1" -t u1 -inf "$OUT/callee.csv" \
       -au 1001 -ap "$P1001" -m 1 -timeout 10 -timeout_error -nostdin >"$OUT/reg_uas_$1.log" 2>&1
}
unregister_all() { # drop every binding of 1001 (Contact: *)
  python3 - "$SIP_PORT" "$P1001" <<'PY'
import hashlib, re, socket, sys
port, pw = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(3)
lp = s.getsockname()[1]
def reg(cseq, auth=""):
    m = (f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bKun{cseq}\r\nFrom: <sip:1001@127.0.0.1>;tag=u\r\n"
         f"To: <sip:1001@127.0.0.1>\r\nCall-ID: unreg-{lp}\r\nCSeq: {cseq} REGISTER\r\nContact: *\r\nExpires: 0\r\n{auth}Content-Length: 0\r\n\r\n")
    s.sendto(m.encode(), ("127.0.0.1", port)); return s.recv(65535).decode()
r = reg(1); n = re.search(r'nonce="([^"]+)"', r).group(1)
md5 = lambda x: hashlib.md5(x.encode()).hexdigest()
resp = md5(f"{md5('1001:127.0.0.1:' + pw)}:{n}:00000001:c:auth:{md5('REGISTER:sip:127.0.0.1')}")
r = reg(2, f'Authorization: Digest username="1001", realm="127.0.0.1", nonce="{n}", uri="sip:127.0.0.1", response="{resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"\r\n')
sys.exit(0 if r.startswith("SIP/2.0 200") else 1)
PY
}
# call_case NAME UAS_SCENARIO UAC_SCENARIO [UAS_ARGS...]: one call, both sipp runs must succeed.
call_case() {
  local uas=$2 uac=$3 port; port=$(free_port)
  unregister_all && register_uas "$port" || return 1
  sipp -sf "$SCEN/$uas" -i 127.0.0.1 -p "$port" -t u1 -m 1 -timeout 20 -timeout_error -nostdin "${@:4}" \
       -trace_err -error_file "$OUT/$1.uas.err" >"$OUT/$1.uas.log" 2>&1 &
  local uas_pid=$!
  sipp -sf "$SCEN/$uac" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/caller.csv" \
       -au 1000 -ap "$P1000" -m 1 -timeout 20 -timeout_error -nostdin -trace_err -error_file "$OUT/$1.uac.err" >"$OUT/$1.uac.log" 2>&1
  local uac_rc=$?
  wait "$uas_pid"; local uas_rc=$?
  echo "uac=$uac_rc uas=$uas_rc"
  [ "$uac_rc" -eq 0 ] && [ "$uas_rc" -eq 0 ]
}

# RFC 4028 expiry, in the background while the cases below run: 1000 calls
# 1002 asking for a 90 s session timer that it will refresh (refresher=uac)
# and then never does, while it keeps sending audio. The switch must end the
# call after 60 s with a BYE to both legs saying why (checked at the end).
P1002=$(new_extension 1002)
echo "SEQUENTIAL" >"$OUT/st_callee.csv"; echo "1002;$DOMAIN" >>"$OUT/st_callee.csv"
python3 "$ROOT/testbeds/tones.py" pcap "$OUT/st.pcap" 440 75
ST_PORT=$(free_port)
sipp -sf "$SCEN/register_auth.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$ST_PORT" -t u1 -inf "$OUT/st_callee.csv" \
     -au 1002 -ap "$P1002" -m 1 -timeout 10 -timeout_error -nostdin >"$OUT/st_reg.log" 2>&1 || echo "session timer: 1002 did not register"
sipp -sf "$SCEN/uas_answer_reason.xml" -i 127.0.0.1 -p "$ST_PORT" -t u1 -m 1 -timeout 120 -timeout_error -nostdin -trace_logs \
     -log_file "$OUT/st_uas.reason.log" -trace_err -error_file "$OUT/st_uas.err" >"$OUT/st_uas.log" 2>&1 &
ST_UAS=$!
(cd "$OUT" && exec sipp -sf "$SCEN/uac_timer_expire.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -mp "$(free_media_port)" -t u1 -s 1002 \
     -inf "$OUT/caller.csv" -au 1000 -ap "$P1000" -m 1 -timeout 120 -timeout_error -nostdin -trace_logs -log_file "$OUT/st_uac.reason.log" \
     -trace_err -error_file "$OUT/st_uac.err" >"$OUT/st_uac.log" 2>&1) &
ST_UAC=$!
PIDS+=("$ST_UAS" "$ST_UAC")
# That call's CDR may land at any point: "the last CDR" below means 1001's.
CDR_FILTER="&extension=1001"

check "answered, caller hangs up"          call_case bye uas_answer.xml uac_bye.xml
check "  CDR: answered, caller hung up"     wait_for 3 last_cdr disposition=answered hangup_side=caller a_status=200
check "session timer (RFC 4028): confirmed in the 200, refresher=uac" call_case timer uas_answer.xml uac_timer.xml
check "session interval below 90 s: 422 with Min-SE: 90" sipp -sf "$SCEN/uac_422.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/caller.csv" -au 1000 -ap "$P1000" -m 1 -timeout 20 -timeout_error -nostdin -trace_err -error_file "$OUT/422.uac.err"
check "answered, callee hangs up"          call_case calleebye uas_answer_bye.xml uac_callee_bye.xml
check "  CDR: answered, callee hung up"     wait_for 3 last_cdr disposition=answered hangup_side=callee
# The callee's codec preference (issue 4): 1001 allows PCMA only, so its
# phone is offered PCMA alone although the caller offered PCMU first.
codec_case() {
  api PATCH /v1/extensions/1001 '{"codecs": ["PCMA"]}' >/dev/null || return 1
  call_case codecs uas_answer_pcma.xml uac_bye.xml -trace_logs -log_file "$OUT/codecs.offer.log"; local rc=$?
  api PATCH /v1/extensions/1001 '{"codecs": []}' >/dev/null
  cat "$OUT/codecs.offer.log"
  return $rc
}
check "extension codecs [PCMA]: its phone is offered PCMA only" codec_case
check "  CDR: the call ran on PCMA"         wait_for 3 last_cdr disposition=answered codec=PCMA/8000
# The caller's codec preference: 1000 allows PCMA only, so its phone's
# offer (PCMU, PCMA) becomes PCMA alone. The callee, offered PCMA first
# and the codecs the switch transcodes after it, answers PCMU: the caller
# leg still runs PCMA and the switch transcodes. A phone offering none of
# its extension's codecs gets 488.
caller_codec_case() {
  api PATCH /v1/extensions/1000 '{"codecs": ["PCMA"]}' >/dev/null || return 1
  call_case callercodecs uas_answer.xml uac_bye.xml; local rc=$?
  api PATCH /v1/extensions/1000 '{"codecs": []}' >/dev/null
  return $rc
}
check "caller extension codecs [PCMA]: the call completes" caller_codec_case
check "  CDR: caller leg PCMA, callee leg PCMU (transcoded)" wait_for 3 last_cdr disposition=answered "codec=PCMA/8000>PCMU/8000"
caller_opus_case() {
  api PATCH /v1/extensions/1000 '{"codecs": ["opus"]}' >/dev/null || return 1
  local code; code=$(python3 "$ROOT/testbeds/auth_invite.py" "$SIP_PORT" 1000 "$P1000" 1001)
  api PATCH /v1/extensions/1000 '{"codecs": []}' >/dev/null
  echo "code: $code"
  [ "$code" = 488 ]
}
check "caller extension codecs [opus], its phone offers PCMU only: 488" caller_opus_case
check "busy: 486 relayed"                  call_case busy uas_busy.xml uac_busy.xml
check "  CDR: busy, 486 on both legs"       wait_for 3 last_cdr disposition=busy a_status=486 b_status=486
check "decline: 603 relayed"               call_case decline uas_decline.xml uac_decline.xml
check "  CDR: declined, 603 on both legs"   wait_for 3 last_cdr disposition=declined a_status=603 b_status=603
check "no answer: 480 after ring timeout"  call_case noanswer uas_ring.xml uac_noanswer.xml
check "  CDR: no_answer"                    wait_for 3 last_cdr disposition=no_answer a_status=480
check "CANCEL before answer"               call_case cancel uas_ring.xml uac_cancel.xml
check "  CDR: cancelled by the caller"      wait_for 3 last_cdr disposition=cancelled hangup_side=caller a_status=487
rm -f "$OUT/b2b_ev.jsonl.ready"
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "type=channel_early_media,channel_hold,channel_unhold" collect "$OUT/b2b_ev.jsonl" 60 channel_unhold & EVPID=$!
wait_for 5 test -e "$OUT/b2b_ev.jsonl.ready"
check "early media: 183 with SDP relayed"  call_case early uas_early.xml uac_early.xml
check "re-INVITE hold and resume relayed"  call_case hold uas_hold.xml uac_hold.xml
check "events: early media, then hold and unhold by the caller" bash -c "$(declare -f wait_for gone); wait_for 10 gone $EVPID; python3 - '$OUT/b2b_ev.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(evs)
assert [e['type'] for e in evs] == ['channel_early_media', 'channel_hold', 'channel_unhold'], evs
assert evs[1]['by'] == 'caller' and evs[2]['by'] == 'caller', evs
PY"
check "UPDATE (RFC 3311) hold and resume relayed leg to leg" call_case update uas_update.xml uac_update.xml
check "  CDR: answered, caller hung up"     wait_for 3 last_cdr disposition=answered hangup_side=caller
# Neither sipp sends RTP: after media.timeout (3 s) the switch hangs up both legs.
check "media timeout: BYE to both legs"    call_case mediatimeout uas_answer_reason.xml uac_callee_bye.xml -trace_logs -log_file "$OUT/mediatimeout.reason.log"
check "  the BYE says why: Reason: Q.850;cause=102;text=\"media_timeout\"" grep -q 'BYE Reason: Q.850;cause=102;text="media_timeout"' "$OUT/mediatimeout.reason.log"
check "  CDR: system hung up, media_timeout" wait_for 3 last_cdr disposition=answered hangup_side=system hangup_cause=media_timeout

# Forking: two contacts for 1001; one rings on, the other answers; the
# ringing one is cancelled.
fork_case() {
  local p1 p2; p1=$(free_port); p2=$(free_port)
  unregister_all && register_uas "$p1" && register_uas "$p2" || return 1
  sipp -sf "$SCEN/uas_ring.xml" -i 127.0.0.1 -p "$p1" -t u1 -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/fork.ring.log" 2>&1 &
  local ring=$!
  sipp -sf "$SCEN/uas_answer.xml" -i 127.0.0.1 -p "$p2" -t u1 -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/fork.answer.log" 2>&1 &
  local ans=$!
  sipp -sf "$SCEN/uac_bye.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/caller.csv" \
       -au 1000 -ap "$P1000" -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/fork.uac.log" 2>&1
  local rc=$?
  wait "$ring"; local r1=$?; wait "$ans"; local r2=$?
  echo "uac=$rc ringing-fork=$r1 answering-fork=$r2"
  [ $rc -eq 0 ] && [ $r1 -eq 0 ] && [ $r2 -eq 0 ]
}
check "forking: first 200 wins, other fork cancelled" fork_case
# Per-extension concurrent call limit: with max_calls 1 and a call up, a
# second call to 1001 is busy (486) without ringing its phone.
limit_case() {
  api PATCH /v1/extensions/1001 '{"max_calls": 1}' >/dev/null || return 1
  local port; port=$(free_port)
  unregister_all && register_uas "$port" || return 1
  sipp -sf "$SCEN/uas_answer.xml" -i 127.0.0.1 -p "$port" -t u1 -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/limit.uas.log" 2>&1 &
  local uas=$!
  sipp -sf "$SCEN/uac_bye.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/caller.csv" \
       -au 1000 -ap "$P1000" -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/limit.first.log" 2>&1 &
  local first=$!
  # (Only a call to 1001 counts: the session-timer call to 1002 is up too.)
  first_up() { api GET /v1/calls | python3 -c 'import json,sys; sys.exit(0 if any(c["callee"] == "1001" and c["state"] == "answered" for c in json.load(sys.stdin)["items"]) else 1)'; }
  wait_for 5 first_up || return 1
  sipp -sf "$SCEN/uac_busy.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/caller.csv" \
       -au 1000 -ap "$P1000" -m 1 -timeout 10 -timeout_error -nostdin >"$OUT/limit.second.log" 2>&1
  local rc=$?
  wait "$first"; local r1=$?; wait "$uas"; local ru=$?
  api PATCH /v1/extensions/1001 '{"max_calls": 0}' >/dev/null
  echo "second=$rc first=$r1 uas(one call only)=$ru"
  [ $rc -eq 0 ] && [ $r1 -eq 0 ] && [ $ru -eq 0 ]
}
check "max_calls 1: a second call is busy (486)"  limit_case
# A client that stops reading /v1/events is disconnected while calls go on
# at full rate (issue 8): 1500 calls at 150/s, every one completes.
stall_case() {
  python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "" stall 12 >"$OUT/b2b_stall.log" 2>&1 & local stall=$!
  local port; port=$(free_port)
  unregister_all && register_uas "$port" || return 1
  sipp -sf "$SCEN/uas_answer.xml" -i 127.0.0.1 -p "$port" -t u1 -m 1500 -timeout 60 -timeout_error -nostdin >"$OUT/stall.uas.log" 2>&1 &
  local uas=$!
  udp_ready "$port" || return 1
  sipp -sf "$SCEN/uac_bye.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/caller.csv" \
       -au 1000 -ap "$P1000" -m 1500 -r 150 -l 300 -timeout 60 -timeout_error -nostdin -trace_stat -stf "$OUT/stall.uac.csv" >"$OUT/stall.uac.log" 2>&1
  local rc=$?
  wait "$uas"; local ru=$?
  wait "$stall"; cat "$OUT/b2b_stall.log"
  echo "uac=$rc uas=$ru"
  [ $rc -eq 0 ] && [ $ru -eq 0 ] && grep -Eq 'RESULT=(overflow-notice|closed-by-server|dropped-by-server)' "$OUT/b2b_stall.log"
}
check "1500 calls at 150/s all complete while a stalled event client is dropped" stall_case
st_case() {
  wait "$ST_UAC"; local rc=$?
  wait "$ST_UAS"; local ru=$?
  cat "$OUT/st_uac.reason.log" "$OUT/st_uas.reason.log"
  echo "uac=$rc uas=$ru"
  [ $rc -eq 0 ] && [ $ru -eq 0 ] && grep -q 'BYE Reason: Q.850;cause=102;text="session_timer_expired"' "$OUT/st_uas.reason.log"
}
check "session timer 90 s never refreshed: BYE to both legs at expiry, Reason cause 102" st_case
st_cdr() {
  api GET "/v1/cdrs?extension=1002" | python3 -c '
import json, sys
c = json.load(sys.stdin)["items"][0]
print(c)
assert (c["hangup_side"], c["hangup_cause"], c["disposition"]) == ("system", "session_timer_expired", "answered"), c
# Cut 60 s after the answer (90 s less a third); allow for scheduling.
assert 59000 <= c["billable_ms"] <= 63000, c["billable_ms"]'
}
check "  CDR: system hung up, session_timer_expired, about 60 s" wait_for 5 st_cdr
check "no call left behind"                bash -c "curl -sS -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/v1/calls | grep -q '\"items\":\[\]'"
check "switch process still running"       alive

summary "b2bua"
