#!/usr/bin/env bash
# Issue 8 (lifecycle): SIGTERM during a live call. The call goes on (audio
# still flows), a new call gets 503 with Retry-After, health reports
# draining, and the process exits by itself once the call has ended, with
# the call's CDR written.
source "$(dirname "$0")/lib.sh"

start_switch lifecycle --set directory.first_run_extensions= --set calls.drain_timeout=30
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
python3 "$ROOT/testbeds/tones.py" make "$OUT/lc_a.wav" 440 12
python3 "$ROOT/testbeds/tones.py" make "$OUT/lc_b.wav" 1000 6
start_baresip lc_b 1001 "$P1001" udp auto "$OUT/lc_b.wav"
start_baresip lc_a 1000 "$P1000" udp manual "$OUT/lc_a.wav"; A_CTRL=$BARESIP_CTRL
wait_for 10 registered 1000 >/dev/null; wait_for 10 registered 1001 >/dev/null
baresip_cmd "$A_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
answered() { api GET /v1/calls | grep -q '"state":"answered"'; }
check "call answered"                                 wait_for 10 answered
kill -TERM "$SWITCH_PID"
check "health reports draining (503)"                 wait_for 5 bash -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP_PORT/v1/health | grep -q 503"
check "a new call gets 503 with Retry-After"          sipp_run invite_503.xml u1 -m 1
check "the live call is still up"                     answered
check "the switch exits by itself after the call"     wait_for 20 bash -c "! kill -0 $SWITCH_PID 2>/dev/null"
check "caller heard the callee throughout"            python3 "$ROOT/testbeds/tones.py" detect "$(ls "$OUT"/lc_a.baresip/snd/*dec.wav | head -1)" 1000 440
check "the call's CDR was written before exit"        python3 - "$DATA/ferroswitch.db" <<'PY'
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("select disposition, hangup_side, billable_ms from cdrs").fetchall()
print(rows)
assert len(rows) == 1 and rows[0][0] == "answered" and rows[0][1] == "callee" and rows[0][2] > 4000, rows
PY
check "log says it drained"                           grep -q "draining: waiting for live calls" "$SWITCH_LOG"

# kill -9 during a live call: after the restart the call has a CDR marked
# interrupted (every call leaves a record), and the registrations are back.
STARTS=$(( $(grep -c "ferroswitch started" "$SWITCH_LOG") + 1 )) RESTART=1 start_switch lifecycle
wait_for 10 registered 1000 >/dev/null
start_baresip lc_b2 1001 "$P1001" udp auto "$OUT/lc_b.wav"
wait_for 10 registered 1001 >/dev/null
baresip_cmd "$A_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
check "second call answered"                          wait_for 10 answered
CALL_ID=$(api GET /v1/calls | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
restart_switch KILL
check "after kill -9: the live call has an interrupted CDR" bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/cdrs/$CALL_ID | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c); sys.exit(0 if c[\"disposition\"]==\"interrupted\" and c[\"answer_ms\"] else 1)'"
check "after kill -9: registrations are back"         registered 1000

# SIGTERM in the middle of a burst of calls: the calls in flight finish,
# new ones get 503, and every call the switch started has its CDR when the
# process has exited (the store worker drains its queue before the store
# closes; CDRs are group-committed, so the queue keeps up with the calls).
P1002=$(new_extension 1002)
BENCH_SCEN=$ROOT/benches/scenarios
echo SEQUENTIAL >"$OUT/lc_callee.csv"; echo "1002;$DOMAIN;[authentication username=1002 password=$P1002]" >>"$OUT/lc_callee.csv"
echo SEQUENTIAL >"$OUT/lc_caller.csv"; echo "1000;$DOMAIN" >>"$OUT/lc_caller.csv"
UPORT=$(free_port)
check "load callee 1002 registers"                    sipp -sf "$BENCH_SCEN/register_load.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$UPORT" -t u1 \
    -inf "$OUT/lc_callee.csv" -m 1 -recv_timeout 5000 -timeout 10s -timeout_error -nostdin
sipp -sf "$BENCH_SCEN/call_uas.xml" -i 127.0.0.1 -p "$UPORT" -t u1 -nostdin -bg >/dev/null 2>&1
PIDS+=($(pgrep -f "sipp -sf $BENCH_SCEN/call_uas.xml -i 127.0.0.1 -p $UPORT" || true))
db_count() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$DATA/ferroswitch.db" "$1"; }
BEFORE=$(db_count "select count(*) from cdrs")
LOG_FROM=$(wc -l <"$SWITCH_LOG")
sipp -sf "$BENCH_SCEN/call_uac.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1002 -inf "$OUT/lc_caller.csv" \
    -au 1000 -ap "$P1000" -m 3000 -r 250 -l 3000 -buff_size 4194304 -recv_timeout 5000 -timeout 40s -nostdin >"$OUT/lc_burst.log" 2>&1 &
BURST=$!
PIDS+=("$BURST")
started_calls() { tail -n +"$((LOG_FROM + 1))" "$SWITCH_LOG" | grep -c "call started"; }
check "the burst is under way (300 calls started)"   wait_for 20 bash -c "[ \$(tail -n +$((LOG_FROM + 1)) '$SWITCH_LOG' | grep -c 'call started') -ge 300 ]"
kill -TERM "$SWITCH_PID"
check "the switch exits after SIGTERM"                wait_for 60 bash -c "! kill -0 $SWITCH_PID 2>/dev/null"
wait "$BURST" 2>/dev/null
STARTED=$(started_calls)
AFTER=$(db_count "select count(*) from cdrs")
check "every started call has its CDR ($STARTED started, $((AFTER - BEFORE)) new CDRs)" test "$STARTED" -ge 300 -a "$((AFTER - BEFORE))" -eq "$STARTED"
check "no call left marked live"                      test "$(db_count "select count(*) from live_calls")" = 0
pkill -f "sipp -sf $BENCH_SCEN/call_uas.xml -i 127.0.0.1 -p $UPORT" 2>/dev/null || true

# Drain timeout: a call still up when calls.drain_timeout runs out is hung
# up by the switch, both legs get a BYE that says why (RFC 3326 Reason, text
# "shutdown"), the CDR names the cause, and the process exits.
# This switch logs in JSON (log.format = json).
start_switch lifecycle_drain --set directory.first_run_extensions= --set calls.drain_timeout=2 --set media.timeout=0 --set log.format=json
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
echo SEQUENTIAL >"$OUT/dr_caller.csv"; echo "1000;$DOMAIN" >>"$OUT/dr_caller.csv"
echo SEQUENTIAL >"$OUT/dr_callee.csv"; echo "1001;$DOMAIN" >>"$OUT/dr_callee.csv"
DPORT=$(free_port)
check "drain: callee 1001 registers"                  sipp -sf "$SCEN/register_auth.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$DPORT" -t u1 \
    -inf "$OUT/dr_callee.csv" -au 1001 -ap "$P1001" -m 1 -timeout 10 -timeout_error -nostdin
sipp -sf "$SCEN/uas_answer_reason.xml" -i 127.0.0.1 -p "$DPORT" -t u1 -m 1 -timeout 30 -timeout_error -nostdin -trace_logs \
    -log_file "$OUT/dr_uas.reason.log" -trace_err -error_file "$OUT/dr_uas.err" >"$OUT/dr_uas.log" 2>&1 &
DR_UAS=$!
sipp -sf "$SCEN/uac_callee_bye.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/dr_caller.csv" \
    -au 1000 -ap "$P1000" -m 1 -timeout 30 -timeout_error -nostdin -trace_err -error_file "$OUT/dr_uac.err" >"$OUT/dr_uac.log" 2>&1 &
DR_UAC=$!
PIDS+=("$DR_UAS" "$DR_UAC")
check "drain: call answered"                          wait_for 10 answered
kill -TERM "$SWITCH_PID"
check "drain: the switch exits after the drain timeout" wait_for 20 bash -c "! kill -0 $SWITCH_PID 2>/dev/null"
check "drain: the caller got a BYE (sipp UAC done)"   wait "$DR_UAC"
check "drain: the callee got a BYE with Reason text=\"shutdown\"" bash -c "wait $DR_UAS; grep -q 'BYE Reason: Q.850;cause=16;text=\"shutdown\"' '$OUT/dr_uas.reason.log'"
check "drain: the CDR says the system hung up, cause shutdown" test "$(db_count "select hangup_side || '/' || hangup_cause from cdrs")" = "system/shutdown"
check "log says the drain timed out"                  grep -q "drain timeout: hanging up the remaining calls" "$SWITCH_LOG"
check "log.format=json: every line is a JSON object; the call's lines carry its UUID span" python3 - "$SWITCH_LOG" "$DATA/ferroswitch.db" <<'PY'
import json, sqlite3, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
uuid = sqlite3.connect(sys.argv[2]).execute("select id from cdrs").fetchone()[0]
def in_call(e):
    return any(s.get("name") == "call" and s.get("uuid") == uuid for s in e.get("spans", []))
msgs = [e["fields"].get("message", "") for e in lines if in_call(e)]
print(len(lines), "lines;", msgs)
assert all(isinstance(e, dict) and "level" in e and "timestamp" in e for e in lines)
assert "call started" in msgs and "call answered" in msgs and "call ended" in msgs, msgs
PY

summary "lifecycle"
