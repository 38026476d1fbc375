#!/usr/bin/env bash
# Issue 7 benchmark, end to end: sipp as a carrier sends calls into a queue
# (route action queue, longest-idle-agent, agent_ring_timeout 5 s) served
# by AGENTS agents whose phones are one sipp UAS (every agent registered
# from the same port; it answers every INVITE at once). Each call: the
# switch answers the caller (parked, music on hold), the engine offers an
# idle agent, the agent's leg is answered and bridged, the caller hangs up
# HOLD_MS after our answer. Steps of STEP_SECONDS at RATES calls/s; per
# step: calls, failures, calls/s achieved, queue wait p50/p99 and the
# switch's CPU per call, from the CDRs in the store.
#
# No peer runs alongside: neither FreeSWITCH (mod_callcenter) nor Asterisk
# (app_queue) is installable on these machines; the figure is absolute and
# noisy (see docs/benchmarks.md).
#
# Knobs: FERROSWITCH_BIN (release build), AGENTS (200), RATES ("25 50 100 150"),
# STEP_SECONDS (8), HOLD_MS (1000).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export FS_BIN=${FERROSWITCH_BIN:-$ROOT/target/release/ferroswitch}
[ -x "$FS_BIN" ] || (cd "$ROOT" && cargo build --release -p ferroswitch --quiet) || exit 1
export TESTBED_OUT=$ROOT/benches/out/queue_load
rm -rf "$TESTBED_OUT"; mkdir -p "$TESTBED_OUT"
source "$ROOT/testbeds/lib.sh"
AGENTS=${AGENTS:-200}
RATES=${RATES:-25 50 100 150}
STEP_SECONDS=${STEP_SECONDS:-8}
HOLD_MS=${HOLD_MS:-1000}

start_switch ql --set directory.first_run_extensions= --set media.rtp_port_min=20000 --set media.rtp_port_max=40000
api PUT /v1/log '{"level":"warn"}' >/dev/null  # no per-call log lines during the load
UAS_PORT=$(free_port)
echo SEQUENTIAL >"$OUT/agents.csv"
for i in $(seq 1 "$AGENTS"); do
  n=$((5000 + i))
  api POST /v1/extensions "{\"number\":\"$n\",\"password\":\"benchpass$n\"}" >/dev/null
  api POST /v1/agents "{\"name\":\"$n\",\"contact\":\"$n\",\"wrap_up_time\":0,\"max_no_answer\":0}" >/dev/null
  echo "$n;127.0.0.1;[authentication username=$n password=benchpass$n]" >>"$OUT/agents.csv"
done
api POST /v1/queues '{"name":"load","strategy":"longest-idle-agent","agent_ring_timeout":5,"moh":"silence"}' >/dev/null
for i in $(seq 1 "$AGENTS"); do api POST /v1/tiers "{\"queue\":\"load\",\"agent\":\"$((5000 + i))\"}" >/dev/null; done
api POST /v1/gateways '{"name":"carrier","proxy":"127.0.0.2:5060","inbound":["127.0.0.2/32"]}' >/dev/null
api POST /v1/routes '{"name":"load","destination_prefix":"4930","source":"gateway","action":{"queue":"load"}}' >/dev/null
sipp -sf "$ROOT/benches/scenarios/register_load.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$UAS_PORT" -t u1 -inf "$OUT/agents.csv" \
     -m "$AGENTS" -r 500 -timeout 60 -timeout_error -nostdin >"$OUT/register.log" 2>&1 || { echo "agents did not register"; exit 1; }
for i in $(seq 1 "$AGENTS"); do api POST "/v1/agents/$((5000 + i))/login" >/dev/null; done
sipp -sf "$ROOT/benches/scenarios/call_uas.xml" -i 127.0.0.1 -p "$UAS_PORT" -t u1 -timeout 600 -nostdin -bg >"$OUT/uas.log" 2>&1
UAS_PID=$(pgrep -n -f "call_uas.xml.*-p $UAS_PORT")
PIDS+=("$UAS_PID")
echo SEQUENTIAL >"$OUT/carrier.csv"; echo "4930111222;carrier.test" >>"$OUT/carrier.csv"
cpu() { awk '{print $14 + $15}' "/proc/$SWITCH_PID/stat"; }
printf '%-6s %7s %7s %9s %8s %9s %9s %10s\n' rate calls failed abandoned "calls/s" "wait p50" "wait p99" "CPU/call"
for rate in $RATES; do
  n=$((rate * STEP_SECONDS))
  t0=$(date +%s%3N); c0=$(cpu)
  sipp -sf "$ROOT/testbeds/scenarios/carrier_hold.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.2 -p "$(free_port)" -mp "$(free_media_port)" -t u1 -s 49301234 \
       -inf "$OUT/carrier.csv" -d "$HOLD_MS" -m "$n" -r "$rate" -l $((rate * 10)) -timeout 120 -nostdin -trace_stat -stf "$OUT/uac_$rate.csv" >"$OUT/uac_$rate.log" 2>&1
  t1=$(date +%s%3N); c1=$(cpu)
  ok=$(grep -E "Successful call" "$OUT/uac_$rate.log" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  failed=$(grep -E "Failed call" "$OUT/uac_$rate.log" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  sleep 1  # let the last CDRs be committed
  python3 - "$DATA/ferroswitch.db" "$t0" "$rate" "${ok:-0}" "${failed:-0}" "$t0" "$t1" "$c0" "$c1" <<'PY'
import sqlite3, sys
db, since, rate, ok, failed, t0, t1, c0, c1 = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
w = sorted(r[0] for r in con.execute("select queue_wait_ms from cdrs where queue = 'load' and start_ms >= ? and queue_result = 'answered'", (since,)))
abandoned = con.execute("select count(*) from cdrs where queue = 'load' and start_ms >= ? and queue_result != 'answered'", (since,)).fetchone()[0]
p = lambda q: w[min(len(w) - 1, int(q * len(w)))] if w else 0
secs = (t1 - t0) / 1000
cpu_ms = (c1 - c0) * 10 / max(1, ok)
# A call counts when sipp completed it and the CDR says an agent answered it.
print(f"{rate:<6} {ok:>7} {failed:>7} {abandoned:>9} {len(w) / max(secs, 1e-9):>8.1f} {p(0.5):>6} ms {p(0.99):>6} ms {cpu_ms:>7.2f} ms")
PY
done
