#!/usr/bin/env bash
# Issue 10 (degraded networks): calls over a signalling path that loses 5%
# of datagrams, duplicates 5% and reorders 5%, both ways. The kernel here
# has no netem, so testbeds/lossy_relay.py does it in user space: one
# relay between the caller's sipp and the switch, another between the
# callee's sipp and the switch (the callee registers through it, so the
# switch's INVITEs and BYEs to it cross it too).
#  - the callee registers with digest through the lossy path;
#  - 60 calls (INVITE, 407, ACK, INVITE with credentials, 180, 300 ms,
#    200, ACK, 1 s, BYE) all complete: RFC 3261 retransmissions on both
#    sides recover every lost message, and duplicates and reordered
#    messages are absorbed (the callee is scenarios/uas_answer_lossy.xml,
#    which retransmits its 200 as a UAS must);
#  - each of the 60 has an answered CDR, none is left live;
#  - the relays really did drop, duplicate and reorder (their counts).
source "$(dirname "$0")/lib.sh"

CALLS=${DEGRADED_CALLS:-60}
start_switch degraded --set directory.first_run_extensions= --set media.mode=bypass
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
PA=$(free_port); PB=$(free_port)
python3 "$ROOT/testbeds/lossy_relay.py" "$PA" "$SIP_PORT" "$OUT/degraded_relay_a.json" 0.05 0.05 0.05 11 &
RELAY_A=$!
python3 "$ROOT/testbeds/lossy_relay.py" "$PB" "$SIP_PORT" "$OUT/degraded_relay_b.json" 0.05 0.05 0.05 12 &
RELAY_B=$!
PIDS+=("$RELAY_A" "$RELAY_B")
udp_ready "$PA"; udp_ready "$PB"
echo "SEQUENTIAL" >"$OUT/degraded_callee.csv"; echo "1001;$DOMAIN" >>"$OUT/degraded_callee.csv"
echo "SEQUENTIAL" >"$OUT/degraded_caller.csv"; echo "1000;$DOMAIN" >>"$OUT/degraded_caller.csv"
UPORT=$(free_port)
check "callee 1001 registers through the lossy path" sipp -sf "$SCEN/register_auth.xml" "127.0.0.1:$PB" -i 127.0.0.1 -p "$UPORT" -t u1 \
  -inf "$OUT/degraded_callee.csv" -au 1001 -ap "$P1001" -m 1 -timeout 30 -timeout_error -nostdin -trace_err -error_file "$OUT/degraded_reg.err"
check "1001 is registered" registered 1001
sipp -sf "$SCEN/uas_answer_lossy.xml" -i 127.0.0.1 -p "$UPORT" -t u1 -nostdin ${DEGRADED_SIPP_ARGS:-} -trace_err -error_file "$OUT/degraded_uas.err" >"$OUT/degraded_uas.log" 2>&1 &
PIDS+=("$!")
udp_ready "$UPORT"
check "$CALLS calls through the lossy path all complete" sipp -sf "$SCEN/uac_bye_logged.xml" "127.0.0.1:$PA" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 \
  -inf "$OUT/degraded_caller.csv" -au 1000 -ap "$P1000" -m "$CALLS" -r 5 -l 30 -timeout 120 -timeout_error -nostdin \
  -trace_logs -log_file "$OUT/degraded_calls.log" -trace_err -error_file "$OUT/degraded_uac.err"
COMPLETED=$(grep -c '^completed ' "$OUT/degraded_calls.log" 2>/dev/null)
check "sipp saw $CALLS BYEs answered ($COMPLETED)" test "${COMPLETED:-0}" -eq "$CALLS"
cdrs_ok() {
  api GET "/v1/cdrs?extension=1000&limit=1000" | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
answered = [c for c in items if c["disposition"] == "answered" and c["callee"] == "1001"]
print(len(items), "CDRs,", len(answered), "answered")
sys.exit(0 if len(answered) == int(sys.argv[1]) and len(items) == len(answered) else 1)' "$CALLS"
}
check "$CALLS answered CDRs, no other" wait_for 10 cdrs_ok
check "no call left live" wait_for 10 bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/calls | python3 -c 'import json,sys; sys.exit(0 if not json.load(sys.stdin)[\"items\"] else 1)'"
# The relays write their final counts when stopped.
kill "$RELAY_A" "$RELAY_B"; wait "$RELAY_A" "$RELAY_B" 2>/dev/null
impaired() {
  python3 - "$OUT/degraded_relay_a.json" "$OUT/degraded_relay_b.json" <<'PY'
import json, sys
tot = {}
for p in sys.argv[1:]:
    for k, v in json.load(open(p)).items():
        tot[k] = tot.get(k, 0) + v
print(tot)
sys.exit(0 if all(tot.get(k, 0) > 0 for k in ("dropped", "duplicated", "reordered")) else 1)
PY
}
check "the path really dropped, duplicated and reordered" impaired
check "no panic logged" bash -c "! grep -q 'BUG: panic' '$SWITCH_LOG'"
check "switch process still running" alive
summary "degraded"
