# Shared helpers for the interop testbeds. Source it; do not run it.
# Every testbed starts its own ferroswitch on ports nobody else uses, in its
# own data directory, on 127.0.0.1 only, and stops it on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${FERROSWITCH_BIN:-$ROOT/target/debug/ferroswitch}
SCEN=$ROOT/testbeds/scenarios
OUT=${TESTBED_OUT:-$ROOT/testbeds/out}
mkdir -p "$OUT"

PASSED=0
FAILED=0
PIDS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

# A free port (UDP and TCP) on 127.0.0.1, chosen by the kernel.
free_port() {
  python3 - <<'PY'
import socket
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); continue
    u.close(); t.close()
    print(port)
    break
PY
}

# start_switch NAME [extra --set args...]: sets SIP_PORT, SWITCH_PID, SWITCH_LOG, DATA.
start_switch() {
  local name=$1; shift
  SIP_PORT=$(free_port)
  DATA=$(mktemp -d "$OUT/$name.data.XXXX")
  SWITCH_LOG=$OUT/$name.switch.log
  "$BIN" run --set sip.bind=127.0.0.1 --set sip.udp_port="$SIP_PORT" --set sip.tcp_port="$SIP_PORT" \
      --set data_dir="$DATA" --set log.level=debug "$@" >"$SWITCH_LOG" 2>&1 &
  SWITCH_PID=$!
  PIDS+=("$SWITCH_PID")
  for _ in $(seq 1 100); do
    if grep -q "ferroswitch started" "$SWITCH_LOG" 2>/dev/null; then return 0; fi
    if ! kill -0 "$SWITCH_PID" 2>/dev/null; then break; fi
    sleep 0.05
  done
  echo "ferroswitch did not start:"; cat "$SWITCH_LOG"; exit 1
}

alive() { kill -0 "$SWITCH_PID" 2>/dev/null; }

# check NAME COMMAND...: run a check, report it, count it.
check() {
  local name=$1; shift
  local log=$OUT/$(echo "$name" | tr -c 'A-Za-z0-9_.-' '_').log
  if "$@" >"$log" 2>&1; then
    echo "  ok   $name"; PASSED=$((PASSED + 1))
  else
    echo "  FAIL $name (exit $?; log: $log)"; FAILED=$((FAILED + 1))
    tail -n 30 "$log" | sed 's/^/       /'
  fi
}

# sipp_run SCENARIO TRANSPORT(u1|t1) [extra args]: one sipp client run against the switch.
sipp_run() {
  local scen=$1 transport=$2; shift 2
  sipp -sf "$SCEN/$scen" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -mp "$(free_port)" -t "$transport" \
       -timeout 20 -timeout_error -nostdin -trace_err -error_file "$OUT/${scen%.xml}.$transport.err" "$@"
}

summary() {
  echo "$1: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
