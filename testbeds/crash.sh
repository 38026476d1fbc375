#!/usr/bin/env bash
# Issue 10 (crash safety): kill -9 at a random moment under load, then a
# restart. Load: 200 extensions registered (sipp, digest), calls from 1000
# to 1001 at 40/s lasting a second each (sipp on both legs, about 40 live at
# any time), and every CDR's webhook pending because the CRM's receiver is
# down. The kill comes once a random number (60 to 179) of calls have
# completed. After the restart, with the receiver up:
#  - every registration the switch acknowledged is back;
#  - every call sipp saw completed (its BYE answered) has a CDR marked
#    answered (the 200 to a BYE goes out only once the call's CDR is
#    committed), and every call sipp saw answered but not completed has
#    a CDR, answered or interrupted (its end may or may not have been
#    committed before the kill);
#  - no call is left marked live;
#  - every CDR's webhook arrives, signed, at most twice (a delivery in
#    flight at the kill may be repeated), never lost;
#  - SQLite's integrity check passes.
source "$(dirname "$0")/lib.sh"

WPORT=$(free_port)
HOOKS=$OUT/crash_hooks.jsonl
: >"$HOOKS"
start_switch crash --set directory.first_run_extensions= --set media.mode=bypass \
  --set webhooks.url="http://127.0.0.1:$WPORT/hook" --set webhooks.secret=crash-secret
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)

# 200 more extensions, registered once each (as many phones would be).
echo "SEQUENTIAL" >"$OUT/crash_users.csv"
for e in $(seq 2000 2199); do
  echo "$e;$DOMAIN;[authentication username=$e password=$(new_extension "$e")]" >>"$OUT/crash_users.csv"
done
check "200 extensions register (sipp, digest)" sipp -sf "$ROOT/benches/scenarios/register_load.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 \
  -inf "$OUT/crash_users.csv" -m 200 -r 200 -timeout 30 -timeout_error -nostdin -trace_err -error_file "$OUT/crash_reg.err"
registrations() { api GET "/v1/registrations?limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }

# The callee: 1001's sipp UAS, registered from the port it answers on.
echo "SEQUENTIAL" >"$OUT/crash_callee.csv"; echo "1001;$DOMAIN" >>"$OUT/crash_callee.csv"
echo "SEQUENTIAL" >"$OUT/crash_caller.csv"; echo "1000;$DOMAIN" >>"$OUT/crash_caller.csv"
UPORT=$(free_port)
check "callee 1001 registers" sipp -sf "$SCEN/register_auth.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$UPORT" -t u1 -inf "$OUT/crash_callee.csv" \
  -au 1001 -ap "$P1001" -m 1 -timeout 10 -timeout_error -nostdin
REGS=$(registrations)
check "201 registrations acknowledged before the load ($REGS)" test "$REGS" -eq 201
sipp -sf "$SCEN/uas_answer.xml" -i 127.0.0.1 -p "$UPORT" -t u1 -nostdin >"$OUT/crash_uas.log" 2>&1 &
UAS=$!
PIDS+=("$UAS")
udp_ready "$UPORT"
sipp -sf "$SCEN/uac_bye_logged.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/crash_caller.csv" \
  -au 1000 -ap "$P1000" -m 2000 -r 40 -l 200 -nostdin -trace_logs -log_file "$OUT/crash_calls.log" >"$OUT/crash_uac.log" 2>&1 &
UAC=$!
PIDS+=("$UAC")
# A click-to-call the CRM placed, with its own webhook URL and ext_data:
# 1001 (the sipp UAS) answers as the agent, then as the customer; it is
# still up at the kill.
C2C_EXT='{"ticket":"T-42","n":[1,2]}'
C2C=$(api POST /v1/calls "{\"caller\":\"1001\",\"callee\":\"1001\",\"ext_data\":$C2C_EXT,\"webhook_url\":\"http://127.0.0.1:$WPORT/crm\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("id", ""))')
c2c_up() { api GET /v1/calls | python3 -c 'import json,sys; sys.exit(0 if any(c["id"] == sys.argv[1] and c["state"] == "answered" for c in json.load(sys.stdin)["items"]) else 1)' "$C2C"; }
check "a click-to-call with ext_data is up" wait_for 10 c2c_up
KILL_AT=$((60 + RANDOM % 120))
check "the load runs: $KILL_AT calls completed" wait_for 30 bash -c "[ \$(grep -c '^completed ' '$OUT/crash_calls.log' 2>/dev/null || echo 0) -ge $KILL_AT ]"
kill -9 "$SWITCH_PID"
wait "$SWITCH_PID" 2>/dev/null
# What sipp saw up to the kill (a reply can no longer come).
kill "$UAC" "$UAS" 2>/dev/null
wait "$UAC" "$UAS" 2>/dev/null
grep '^answered ' "$OUT/crash_calls.log" | awk '{print $2}' | sort -u >"$OUT/crash_answered.txt"
grep '^completed ' "$OUT/crash_calls.log" | awk '{print $2}' | sort -u >"$OUT/crash_completed.txt"
echo "at the kill: $(wc -l <"$OUT/crash_answered.txt") answered, $(wc -l <"$OUT/crash_completed.txt") completed"

STARTS=$(( $(grep -c "ferroswitch started" "$SWITCH_LOG") + 1 )) RESTART=1 start_switch crash
check "after the restart: all 201 registrations are back" wait_for 5 bash -c "[ \$($(declare -f api registrations); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; registrations) -eq 201 ]"
db() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str, r)) for r in c.execute(sys.argv[2])))' "$DATA/ferroswitch.db" "$1"; }
check "no call is left marked live" test "$(db "select count(*) from live_calls")" = 0
check_calls() {
  python3 - "$DATA/ferroswitch.db" "$OUT/crash_answered.txt" "$OUT/crash_completed.txt" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cdrs = {cid: d for cid, d in db.execute("select a_call_id, disposition from cdrs")}
answered = set(open(sys.argv[2]).read().split())
completed = set(open(sys.argv[3]).read().split())
seen = answered | completed
lost = sorted(c for c in seen if c not in cdrs)
odd = sorted(c for c in seen if cdrs.get(c) not in (None, "answered", "interrupted"))
done_answered = sum(1 for c in completed if cdrs.get(c) == "answered")
live_interrupted = sum(1 for c in answered - completed if cdrs.get(c) == "interrupted")
print(f"{len(completed)} completed ({done_answered} recorded answered), "
      f"{len(answered - completed)} live at the kill ({live_interrupted} interrupted), {len(cdrs)} CDRs")
print("without a CDR:", lost[:5], "odd dispositions:", odd[:5])
sys.exit(0 if completed and not lost and not odd and done_answered == len(completed) else 1)
PY
}
check "every call sipp saw answered or completed has its CDR" check_calls
python3 "$ROOT/testbeds/webhook_receiver.py" "$WPORT" crash-secret "$HOOKS" &
PIDS+=("$!")
hooks_done() {
  python3 - "$DATA/ferroswitch.db" "$HOOKS" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
ids = [r[0] for r in db.execute("select id from cdrs")]
rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
count = {}
for r in rows:
    count[r["cdr_id"]] = count.get(r["cdr_id"], 0) + 1
missing = [i for i in ids if i not in count]
twice = [i for i, n in count.items() if n > 2]
bad = [r for r in rows if not r["sig_ok"]]
print(f"{len(ids)} CDRs, {len(rows)} deliveries, {len(missing)} not yet delivered, {len(twice)} more than twice, {len(bad)} badly signed")
sys.exit(0 if ids and not missing and not twice and not bad else 1)
PY
}
check "every CDR's webhook arrives, signed, at most twice" wait_for 60 hooks_done
c2c_hook() { # the interrupted click-to-call's CDR went to its own URL, with its ext_data byte for byte
  python3 - "$HOOKS" "$C2C" "$C2C_EXT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [r for r in rows if r["cdr_id"] == sys.argv[2]]
print(mine)
sys.exit(0 if mine and all(r["path"] == "/crm" and r["disposition"] == "interrupted" and (r["ext_data_raw"] or "").startswith(sys.argv[3] + ",") for r in mine) else 1)
PY
}
check "the interrupted click-to-call's webhook: its own URL, its ext_data" c2c_hook
check "SQLite integrity check" test "$(db "pragma integrity_check")" = ok
check "switch process still running" alive
summary "crash"
