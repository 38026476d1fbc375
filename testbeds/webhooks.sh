#!/usr/bin/env bash
# Issue 6 (webhooks): every call's CDR is POSTed to the configured URL,
# signed with HMAC-SHA256; a delivery pending when the switch is killed
# (-9, receiver down) is delivered exactly once after the restart.
source "$(dirname "$0")/lib.sh"

WPORT=$(free_port)
HOOKS=$OUT/wh_deliveries.jsonl; : >"$HOOKS"
start_switch webhooks --set directory.first_run_extensions= --set webhooks.url="http://127.0.0.1:$WPORT/hook" --set webhooks.secret=wh-test-secret
P1000=$(new_extension 1000)
echo "SEQUENTIAL" >"$OUT/wh_caller.csv"; echo "1000;$DOMAIN" >>"$OUT/wh_caller.csv"
GW=$(free_port)
api POST /v1/gateways "{\"name\":\"carrier\",\"proxy\":\"127.0.0.1:$GW\"}" >/dev/null
api POST /v1/routes '{"name":"out","destination_prefix":"9","strip":1,"action":{"gateways":["carrier"]}}' >/dev/null
receiver() { python3 "$ROOT/testbeds/webhook_receiver.py" "$WPORT" wh-test-secret "$HOOKS" & RECV=$!; PIDS+=("$RECV"); wait_for 5 bash -c "ss -ltn | grep -q ':$WPORT '"; }
busy_call() { # one call the carrier answers 486; prints nothing, fails if sipp does
  sipp -sf "$SCEN/uas_busy.xml" -i 127.0.0.1 -p "$GW" -t u1 -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/wh_gw.$1.log" 2>&1 & local g=$!
  udp_ready "$GW" || return 1
  sipp -sf "$SCEN/uac_busy.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 90301234 -inf "$OUT/wh_caller.csv" \
       -au 1000 -ap "$P1000" -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/wh_uac.$1.log" 2>&1 || return 1
  wait "$g"
}
cdr_count() { api GET "/v1/cdrs?limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }
# new_cdr_id BEFORE: the newest CDR's id once there are more than BEFORE
# (CDRs are written by the store worker a moment after the call ends).
new_cdr_id() {
  for _ in $(seq 1 100); do
    [ "$(cdr_count)" -gt "$1" ] && { api GET "/v1/cdrs?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])'; return; }
    sleep 0.05
  done
}
delivered() { # delivered CDR_ID COUNT: the receiver got exactly COUNT deliveries of it, all correctly signed
  python3 - "$HOOKS" "$1" "$2" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [r for r in rows if r["cdr_id"] == sys.argv[2]]
print(mine)
sys.exit(0 if len(mine) == int(sys.argv[3]) and all(r["sig_ok"] and r["event"] == "call.ended" for r in mine) else 1)
PY
}
hook_state() { # hook_state CDR_ID: state of its first delivery as the API shows it
  api GET "/v1/cdrs/$1" | python3 -c 'import json,sys; w=json.load(sys.stdin)["webhooks"]; print(w[0]["state"] if w else "none", w[0]["attempts"] if w else 0)'
}

receiver
N0=$(cdr_count)
check "a call through the carrier (busy)"              busy_call 1
ID1=$(new_cdr_id "$N0")
check "its CDR arrives signed at the webhook"          wait_for 10 delivered "$ID1" 1
check "the delivery shows as delivered on the CDR"     bash -c "$(declare -f api hook_state); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; hook_state $ID1 | grep -q '^delivered 1'"
check "the document carries the CDR (busy, gateway)"   python3 -c "import json,sys; r=[json.loads(l) for l in open('$HOOKS')][-1]; sys.exit(0 if (r['disposition'], r['gateway']) == ('busy', 'carrier') else 1)"

# Receiver down: the delivery fails and stays pending; kill -9; restart;
# receiver up: delivered, once.
kill "$RECV"; wait "$RECV" 2>/dev/null
N1=$(cdr_count)
check "second call while the receiver is down"         busy_call 2
ID2=$(new_cdr_id "$N1")
check "its delivery is pending after a failed attempt" wait_for 10 bash -c "$(declare -f api hook_state); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; hook_state $ID2 | grep -Eq '^pending [1-9]'"
restart_switch KILL
receiver
check "after kill -9 and restart: delivered"           wait_for 20 delivered "$ID2" 1
check "the API shows it delivered"                     wait_for 5 bash -c "$(declare -f api hook_state); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; hook_state $ID2 | grep -q '^delivered'"
# Delivered is recorded after the POST succeeded, so no later attempt exists.
check "exactly once (and the first call's not again)"  bash -c "$(declare -f delivered); HOOKS=$HOOKS; delivered $ID2 1 && delivered $ID1 1"
check "switch process still running"                   alive
summary "webhooks"
