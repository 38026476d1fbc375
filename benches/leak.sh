#!/usr/bin/env bash
# Issue 10 item 7: a long run for leaks. CALLS (200,000) authenticated calls
# through the release build at RATE (1,500/s) with sipp on both legs (the
# call flow of calls_load.sh: INVITE, 407, ACK, INVITE with credentials,
# 200, ACK, BYE, 200; media bypassed; a CDR per call). The switch's RSS
# is sampled every 5 s. Warm-up is the first WARMUP seconds (60): the
# transaction table grows for 32 s (Timers J, K and the RFC 6026 Accepted
# state keep each call's transactions that long) and then holds steady
# at the rate. After warm-up RSS must stay within 5% of its post-warm-up
# mean (max and min both), every completed call must have its CDR, and
# at least 99.5% of the calls must complete (on two shared cores the
# switch sheds a few calls with 503 now and then at this rate). Then the
# load stops, and RSS is read again once the transactions have expired.
# The rate keeps the live transactions (about 3.5 per call for 32 s) under
# sip.max_transactions (200,000): above about 1,750 calls/s a sustained run
# gets 503s from the cap, which 5 s steps never reach.
# Knobs: FERROSWITCH_BIN, CALLS, RATE, WARMUP. Output in benches/out/leak/.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLS=${CALLS:-200000}
RATE=${RATE:-1500}
WARMUP=${WARMUP:-60}
if [ -z "${FERROSWITCH_BIN:-}" ]; then
  echo "leak: cargo build --release -p ferroswitch"
  (cd "$ROOT" && cargo build --release -p ferroswitch --quiet) || exit 1
fi
export FS_BIN=${FERROSWITCH_BIN:-$ROOT/target/release/ferroswitch}
export TESTBED_OUT=${BENCH_OUT:-$ROOT/benches/out}/leak
rm -rf "$TESTBED_OUT"
# shellcheck source=../testbeds/lib.sh
source "$ROOT/testbeds/lib.sh"
echo "== Leak run (issue 10), $(date -u +%FT%TZ): $CALLS calls at $RATE/s, release build, media bypassed =="
# Keep-alive OPTIONS off: sipp's callee does not answer them, and after
# one failed ping (about 62 s in) its binding would be dropped.
start_switch leak --set directory.first_run_extensions= --set media.mode=bypass --set registrar.keepalive_interval=0 --set "log.level=warn,ferroswitch=info,ferroswitch::switch=warn"
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
echo "SEQUENTIAL" >"$OUT/callee.csv"; echo "1001;$DOMAIN" >>"$OUT/callee.csv"
echo "SEQUENTIAL" >"$OUT/caller.csv"; echo "1000;$DOMAIN" >>"$OUT/caller.csv"
UPORT=$(free_port)
# The callee's binding must outlive the run: register for an hour.
sed -e 's/^Expires: 120$/Expires: 3600/' -e 's/expires=1\[12\]\[0-9\]/expires=3[56][0-9][0-9]/' "$SCEN/register_auth.xml" >"$OUT/register_hour.xml"
sipp -sf "$OUT/register_hour.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$UPORT" -t u1 -inf "$OUT/callee.csv" \
  -au 1001 -ap "$P1001" -m 1 -timeout 10 -timeout_error -nostdin >"$OUT/register.log" 2>&1 || { echo "leak: the callee could not register"; exit 1; }
sipp -sf "$ROOT/benches/scenarios/call_uas.xml" -i 127.0.0.1 -p "$UPORT" -t u1 -buff_size 4194304 -nostdin >"$OUT/uas.log" 2>&1 &
PIDS+=("$!")
udp_ready "$UPORT"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SWITCH_PID/status"; }
# What the switch holds, beside RSS: transactions, live calls, store queue.
held() { curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/metrics" |
  awk '$1 == "ferroswitch_sip_transactions" || $1 == "ferroswitch_calls_active" || $1 == "ferroswitch_store_queue" {printf "%s=%s ", $1, $2}'; }
IDLE=$(rss_kb)
sipp -sf "$ROOT/benches/scenarios/call_uac.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 1001 -inf "$OUT/caller.csv" \
  -au 1000 -ap "$P1000" -m "$CALLS" -r "$RATE" -buff_size 4194304 -nostdin -trace_stat -stf "$OUT/uac_stat.csv" -fd 5 \
  -trace_err -error_file "$OUT/uac.err" >"$OUT/uac.log" 2>&1 &
UAC=$!
PIDS+=("$UAC")
T0=$SECONDS
: >"$OUT/rss.csv"
while kill -0 "$UAC" 2>/dev/null; do
  echo "$((SECONDS - T0)),$(rss_kb)" >>"$OUT/rss.csv"
  echo "$((SECONDS - T0)) $(held) $(awk '/^Rss(Anon|File|Shmem)/ {printf "%s%s ", $1, $2}' "/proc/$SWITCH_PID/status")" >>"$OUT/held.txt"
  sleep 5
done
wait "$UAC"; RC=$?
END=$((SECONDS - T0))
# Let the last calls' transactions expire (32 s), then read RSS at rest.
sleep 40
AFTER=$(rss_kb)
echo "at rest: $(held) $(awk '/^Rss(Anon|File|Shmem)/ {printf "%s%s ", $1, $2}' "/proc/$SWITCH_PID/status")" >>"$OUT/held.txt"
# The largest mappings, for the record.
awk '/^[0-9a-f]+-[0-9a-f]+ / {name = $6} /^Rss:/ {print $2, name}' "/proc/$SWITCH_PID/smaps" | sort -rn | head -5 >"$OUT/mappings.txt"
CDRS=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from cdrs where disposition = \"answered\"").fetchone()[0])' "$DATA/ferroswitch.db")
python3 - "$OUT/rss.csv" "$WARMUP" "$IDLE" "$AFTER" "$CALLS" "$CDRS" "$RC" "$END" "$OUT/uac_stat.csv" <<'PY'
import csv, sys
path, warm, idle, after, calls, cdrs, rc, end, stat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), sys.argv[9]
rows = [(int(t), int(r)) for t, r in csv.reader(open(path)) if r]
steady = [r for t, r in rows if t >= warm]
ok = failed = 0
try:
    last = list(csv.DictReader(open(stat), delimiter=";"))[-1]
    ok, failed = int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"])
except Exception as e:
    print("could not read sipp's statistics:", e)
print("RSS (MB) every 5 s:", " ".join(f"{r / 1024:.0f}" for _, r in rows))
if not steady:
    print("the run ended before the warm-up did"); sys.exit(1)
mean = sum(steady) / len(steady)
lo, hi = min(steady), max(steady)
dev = max(hi - mean, mean - lo) / mean * 100
print(f"calls: {ok} completed, {failed} failed of {calls} in {end} s ({ok / max(end, 1):.0f}/s); answered CDRs: {cdrs}")
print(f"RSS idle {idle / 1024:.1f} MB; after warm-up ({len(steady)} samples from {warm} s): mean {mean / 1024:.1f} MB, "
      f"min {lo / 1024:.1f}, max {hi / 1024:.1f}, largest deviation {dev:.2f}% (flat means <= 5%); "
      f"40 s after the load {after / 1024:.1f} MB")
flat = dev <= 5.0
# At this rate on two shared cores the switch sheds load now and then
# (503 to a new call, which sipp counts as failed); every completed call
# must have its CDR, and nearly every call must complete.
recorded = cdrs == ok and ok >= calls * 0.995
print("verdict:", "flat" if flat else "NOT flat", "/",
      "every completed call recorded" if cdrs == ok else "CDRs MISSING", "/",
      f"{100 * ok / calls:.2f}% of the calls completed" + ("" if ok >= calls * 0.995 else " (< 99.5%)"))
sys.exit(0 if flat and recorded else 1)
PY
