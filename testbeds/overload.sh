#!/usr/bin/env bash
# Issue 10 (overload): calls offered at well over the rate the switch can
# serve (this debug build, on these shared cores, served about 1,000
# authenticated calls per second on 2026-12-01, 370 before its SIP core had
# a thread of its own, and 150-300 on the slower machine of 2026-12-02,
# where answering the excess with 503 alone kept its queue full; RATE
# defaults to 3000/s for 4 s), then a calm load. sipp's caller (scenarios/uac_overload.xml) treats a 503 as an
# expected answer and checks its Retry-After; sipp answers as the callee.
#  - the switch sheds load: the excess gets 503 with Retry-After, counted
#    in ferroswitch_sip_load_shed_total;
#  - calls it admitted complete: of the calls not refused, fewer than 1%
#    are lost (without shedding, most calls of such a run time out and the
#    kernel drops datagrams: docs/benchmarks.md, "Overload");
#  - calls are admitted all along: calls offered in the overload's second
#    half complete too (on a machine where answering 3000 503s a second
#    alone keeps the queue full, only through the one new request each
#    50 ms the switch lets through while shedding);
#  - memory stays bounded (RSS printed, and under 400 MB: transactions are
#    capped by sip.max_transactions);
#  - when the load drops it recovers by itself: shedding stops, and 100
#    calls at 20/s all complete, none refused.
# The admitted calls' setup times are printed, not asserted (timing belongs
# in benches/overload.sh).
source "$(dirname "$0")/lib.sh"

RATE=${OVERLOAD_RATE:-3000}
SECS=${OVERLOAD_SECONDS:-4}
start_switch overload --set directory.first_run_extensions= --set media.mode=bypass --set calls.drain_timeout=2 --set "log.level=warn,ferroswitch=info,ferroswitch::switch=warn" ${OVERLOAD_ARGS:-}
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
echo "SEQUENTIAL" >"$OUT/overload_callee.csv"; echo "1001;$DOMAIN" >>"$OUT/overload_callee.csv"
echo "SEQUENTIAL" >"$OUT/overload_caller.csv"; echo "1000;$DOMAIN" >>"$OUT/overload_caller.csv"
UPORT=$(free_port)
check "callee 1001 registers" sipp -sf "$SCEN/register_auth.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$UPORT" -t u1 -inf "$OUT/overload_callee.csv" \
  -au 1001 -ap "$P1001" -m 1 -timeout 10 -timeout_error -nostdin
sipp -sf "$ROOT/benches/scenarios/call_uas.xml" -i 127.0.0.1 -p "$UPORT" -t u1 -buff_size 4194304 -nostdin -timeout 120 >"$OUT/overload_uas.log" 2>&1 &
PIDS+=("$!")
udp_ready "$UPORT"

metric() { curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
rss_mb() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$SWITCH_PID/status"; }
# calls RUN RATE COUNT: sipp's caller; its log lines go to $OUT/overload_RUN.log.
calls() {
  local run=$1 rate=$2 count=$3
  rm -f "$OUT/overload_$run.log" "$OUT"/overload_"$run"_rtt*.csv
  (cd "$OUT" && sipp -sf "$SCEN/uac_overload.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/overload_caller.csv" \
    -au 1000 -ap "$P1000" -m "$count" -r "$rate" -buff_size 4194304 -recv_timeout 15000 -timeout 90 -nostdin -trace_logs -log_file "$OUT/overload_$run.log" \
    -trace_rtt -rtt_freq 1 -trace_err -error_file "$OUT/overload_$run.err" >"$OUT/overload_$run.out" 2>&1)
}
# outcome RUN COUNT: counts of completed, refused (503 to the first or the
# credentialed INVITE) and lost (the rest) calls of a run.
outcome() {
  local run=$1 count=$2 done ref ref2
  done=$(grep -c '^completed ' "$OUT/overload_$run.log" 2>/dev/null); ref=$(grep -c '^refused ' "$OUT/overload_$run.log" 2>/dev/null)
  ref2=$(grep -c '^refused2 ' "$OUT/overload_$run.log" 2>/dev/null)
  echo "$((done + 0)) $((ref + 0)) $((ref2 + 0)) $((count - done - ref - ref2))"
}

# Datagrams the kernel dropped for full receive buffers, machine-wide
# (the switch's, or a sipp's: then a retransmission delays that call).
udp_drops() { awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp; }
COUNT=$((RATE * SECS))
RSS0=$(rss_mb)
DROPS0=$(udp_drops)
calls over "$RATE" "$COUNT"
DROPS=$(( $(udp_drops) - DROPS0 ))
read -r DONE REF REF2 LOST <<<"$(outcome over "$COUNT")"
RSS1=$(rss_mb)
SHED=$(metric ferroswitch_sip_load_shed_total)
echo "offered $COUNT calls at $RATE/s: $DONE completed, $REF refused (503), $REF2 refused after the challenge, $LOST lost; load shed: ${SHED:-?}; RSS $RSS0 -> $RSS1 MB; UDP drops: $DROPS"
python3 - "$OUT" <<'PY'
import glob, sys
vals = []
for f in glob.glob(sys.argv[1] + "/uac_overload_*_rtt.csv"):
    for line in open(f):
        p = line.strip().split(";")
        if len(p) >= 2 and p[1].replace(".", "", 1).isdigit():
            vals.append(float(p[1]))
vals.sort()
q = lambda x: vals[min(len(vals) - 1, int(x * len(vals)))] if vals else float("nan")
print(f"setup time of completed calls (first INVITE to 200, ms): n={len(vals)} p50={q(.5):.0f} p90={q(.9):.0f} p99={q(.99):.0f} max={vals[-1] if vals else float('nan'):.0f}")
PY
check "the switch sheds load: 503s counted (ferroswitch_sip_load_shed_total ${SHED:-none})" test "${SHED:-0}" -gt 0
check "the excess got 503 with Retry-After ($REF calls; sipp checks the header)" test "$REF" -gt 0
check "admitted calls complete: $LOST lost of $((COUNT - REF - REF2)) admitted (< 1%)" test $((LOST * 100)) -lt $((COUNT - REF - REF2))
# Admitted throughout: calls offered in the overload's second half, long
# after shedding began, completed too (sipp numbers its calls in the order
# it offers them, RATE a second). How many is the machine's speed; that
# some are, however deep the overload, is the switch's: while it sheds it
# still lets one new request through each 50 ms, and sheds again the
# retransmissions of what it shed.
completed_late() {
  grep '^completed ' "$OUT/overload_over.log" | awk -v rate="$RATE" -v secs="$SECS" '
    { split($2, a, "-"); s = int((a[1] - 1) / rate); n[s]++; if (2 * s >= secs) late++ }
    END { for (s = 0; s < secs; s++) printf "offered in second %d: %d completed\n", s, n[s] + 0; exit !(late > 0) }'
}
check "calls were admitted throughout: some offered in the second half completed ($DONE in all; $(metric ferroswitch_sip_admitted_while_shedding_total) let through while shedding)" completed_late
check "memory bounded: RSS ${RSS1} MB after the overload (< 400)" test "${RSS1:-9999}" -lt 400
check "shedding stops by itself once the load is gone" wait_for 10 bash -c "[ \"\$($(declare -f metric); TOKEN=$TOKEN HTTP_PORT=$HTTP_PORT; metric ferroswitch_sip_shedding)\" = 0 ]"
calls calm 20 100
read -r DONE REF REF2 LOST <<<"$(outcome calm 100)"
check "recovered: 100 calls at 20/s all complete, none refused ($DONE completed, $REF + $REF2 refused, $LOST lost)" test "$DONE" -eq 100
check "switch process still running" alive
summary "overload"
