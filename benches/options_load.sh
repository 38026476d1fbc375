#!/usr/bin/env bash
# Issue 2 SIP-core benchmark: OPTIONS load over UDP from sipp, first against
# ferroswitch, then against Kamailio answering OPTIONS statelessly, in the
# same command on the same machine, and the ratio between the two.
#
# For each target the call rate (one sipp "call" = one OPTIONS transaction)
# is stepped up from START_RATE by FACTOR until a step is not clean, then one
# step halfway (geometrically) between the last clean and the first unclean
# rate is tried. A step is clean when fewer than 0.1% of its calls failed,
# every call finished, and sipp really started calls at >= 95% of the asked
# rate (otherwise sipp, not the server, set the pace). The server is
# restarted before every step, so each step starts from an empty transaction
# table and does not depend on the steps before it. (ferroswitch answers
# out-of-dialog OPTIONS statelessly, RFC 3261 §8.2.7, as Kamailio's sl does.)
#
# Everything listens on 127.0.0.1 on ports the kernel hands out. Results go
# to benches/out/ (git-ignored); nothing is written elsewhere but a temp dir
# under benches/out/ that is removed on exit. The whole run stops by itself
# within HARD_LIMIT seconds (the release build, if needed, comes before).
#
# Knobs (environment): FERROSWITCH_BIN (skip the build, use this binary),
# START_RATE (2000), FACTOR (1.4), STEP_SECONDS (5), MAX_RATE (120000),
# TARGET_BUDGET (75 s of stepping per target), KAM_CHILDREN (2 UDP workers),
# HARD_LIMIT (180), FS_EXTRA_ARGS (more ferroswitch flags, e.g.
# "--set sip.max_transactions=1000000"; empty by default: defaults are measured).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/benches
OUT=${BENCH_OUT:-$BENCH/out}
STEP=$BENCH/lib/step.py
SCENARIO=$BENCH/scenarios/options.xml
KAM_CFG=$BENCH/kamailio/options.cfg

START_RATE=${START_RATE:-2000}
FACTOR=${FACTOR:-1.4}
STEP_SECONDS=${STEP_SECONDS:-5}
MAX_RATE=${MAX_RATE:-120000}
TARGET_BUDGET=${TARGET_BUDGET:-75}
KAM_CHILDREN=${KAM_CHILDREN:-2}
HARD_LIMIT=${HARD_LIMIT:-180}
FS_EXTRA_ARGS=${FS_EXTRA_ARGS:-}

for tool in sipp kamailio python3; do
  command -v "$tool" >/dev/null || { echo "options_load: $tool is not installed" >&2; exit 1; }
done

if [ -z "${FERROSWITCH_BIN:-}" ]; then
  echo "options_load: cargo build --release -p ferroswitch"
  (cd "$ROOT" && cargo build --release -p ferroswitch --quiet)
fi
BIN=${FERROSWITCH_BIN:-$ROOT/target/release/ferroswitch}
[ -x "$BIN" ] || { echo "options_load: no binary at $BIN" >&2; exit 1; }

mkdir -p "$OUT"
rm -rf "$OUT/options_load"
LOGS=$OUT/options_load
mkdir -p "$LOGS/sipp"
RUN=$(mktemp -d "$OUT/.run.XXXXXX")

PIDS=()
SERVER_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
  rm -rf "$RUN"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "options_load: command failed at line $LINENO" >&2' ERR
trap 'echo "options_load: interrupted" >&2; exit 130' INT
trap 'echo "options_load: stopped (time limit or SIGTERM)" >&2; exit 143' TERM

# Watchdog: one process, killed by PID in cleanup.
python3 -c 'import os, sys, time; time.sleep(float(sys.argv[1])); os.kill(int(sys.argv[2]), 15)' \
  "$HARD_LIMIT" $$ &
PIDS+=($!)
T0=$SECONDS

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

# forget PID: drop a stopped process from the cleanup list.
forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  PIDS=("${keep[@]}")
}

wait_ready() { # NAME PORT
  if ! python3 "$STEP" probe "$2" 10; then
    echo "options_load: $1 did not answer OPTIONS on 127.0.0.1:$2; log:" >&2
    tail -n 20 "$LOGS/$1.log" >&2
    exit 1
  fi
}

start_ferroswitch() {
  PORT=$(free_port)
  rm -rf "$RUN/ferroswitch"; mkdir -p "$RUN/ferroswitch"
  env -u FERROSWITCH_BIN "$BIN" run --set sip.bind=127.0.0.1 --set sip.udp_port="$PORT" --set sip.tcp_port="$PORT" \
    --set http.listen=127.0.0.1:"$(free_port)" \
    --set data_dir="$RUN/ferroswitch" --set log.level=warn $FS_EXTRA_ARGS >>"$LOGS/ferroswitch.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_ready ferroswitch "$PORT"
}

start_kamailio() {
  PORT=$(free_port)
  rm -rf "$RUN/kamailio"; mkdir -p "$RUN/kamailio"
  kamailio -f "$KAM_CFG" -A "BENCH_PORT=$PORT" -A "BENCH_CHILDREN=$KAM_CHILDREN" \
    -DD -E -m 512 -Y "$RUN/kamailio" -P "$RUN/kamailio/kamailio.pid" -w "$RUN/kamailio" \
    >>"$LOGS/kamailio.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_ready kamailio "$PORT"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  forget "$SERVER_PID"
}

# run_step NAME RATE: start the server NAME, one sipp run against it, stop
# the server; sets the R_* variables from step.py's line.
run_step() {
  local name=$1 rate=$2
  "start_$name"
  local calls=$((rate * STEP_SECONDS))
  local csv=$LOGS/sipp/$name.$rate.csv
  local line
  python3 "$STEP" run "$SERVER_PID" "$csv" $((STEP_SECONDS + 15)) -- \
    sipp -sf "$SCENARIO" "127.0.0.1:$PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 \
    -m "$calls" -r "$rate" -rp 1000 -l $((rate * 3)) -recv_timeout 2000 \
    -timeout $((STEP_SECONDS + 10))s -buff_size 4194304 -nostdin \
    -trace_stat -stf "$csv" -fd 1 >"$RUN/step" 2>"$LOGS/sipp/$name.$rate.err" &
  local sp=$!
  PIDS+=("$sp")
  wait "$sp" || true
  forget "$sp"
  stop_server
  line=$(cat "$RUN/step")
  [ -n "$line" ] || { echo "options_load: step runner failed" >&2; cat "$LOGS/sipp/$name.$rate.err" >&2; exit 1; }
  local rc ok failed non200 noreply retrans achieved wall server_cpu sipp_cpu irq_cpu other_cpu udp_drops killed
  eval "$(echo "$line" | tr ' ' '\n' | sed -n 's/^\([a-z_0-9]*\)=\([0-9.]*\)$/\1=\2/p')"
  R_RATE=$rate R_CALLS=$calls R_OK=$ok R_FAILED=$failed R_RETRANS=$retrans R_ACHIEVED=$achieved
  R_WALL=$wall R_SCPU=$server_cpu R_SIPPCPU=$sipp_cpu R_IRQ=$irq_cpu R_OTHER=$other_cpu R_DROPS=$udp_drops R_RC=$rc
  # Clean: < 0.1% failed, all calls finished, sipp kept >= 95% of the pace.
  R_WHY=$(awk -v c="$calls" -v ok="$ok" -v f="$failed" -v a="$R_ACHIEVED" -v r="$rate" -v k="$killed" \
      -v n2="$non200" -v nr="$noreply" 'BEGIN {
    if (k == 1)            { print "sipp-killed-at-timeout"; exit }
    if (f * 1000 >= c)     { printf "failed-%.2f%%(non200:%d,noreply:%d)\n", 100 * f / c, n2, nr; exit }
    if (ok + f < c)        { printf "unfinished-%d\n", c - ok - f; exit }
    if (a < 0.95 * r)      { printf "sipp-only-reached-%d/s\n", a; exit }
    print "clean" }')
  case $R_WHY in
    clean) R_KIND= ;;
    sipp-only-reached-*) R_KIND=client ;;
    failed-*) if [ "$non200" -ge "$noreply" ]; then R_KIND=refused; else R_KIND=silent; fi ;;
    *) R_KIND=silent ;;
  esac
  printf '  %-11s %6d/s got %6.0f/s ok %6d failed %6d retrans %6d udp-drops %6d %5.2fs | CPU s: server %4.2f sipp %4.2f irq %4.2f other %4.2f | %s\n' \
    "$name" "$rate" "$R_ACHIEVED" "$ok" "$failed" "$retrans" "$udp_drops" "$wall" "$server_cpu" "$sipp_cpu" "$irq_cpu" "$other_cpu" "$R_WHY"
  echo "$name,$rate,$calls,$R_ACHIEVED,$ok,$failed,$retrans,$udp_drops,$wall,$server_cpu,$sipp_cpu,$irq_cpu,$other_cpu,$rc,$R_WHY" >>"$LOGS/steps.csv"
}

next_rate() { awk -v r="$1" -v f="$2" 'BEGIN { n = int(r * f / 100 + 0.5) * 100; if (n <= r) n = r + 100; print n }'; }

# measure NAME: step the rate; sets B_* (best clean step) and LIMIT (why it stopped).
measure() {
  local name=$1 rate=$START_RATE fail=0 t_start=$SECONDS
  B_RATE=0 B_ACHIEVED=0 B_OK=0 B_SCPU=0 B_SIPPCPU=0 B_WALL=1 B_RETRANS=0 B_IRQ=0 B_OTHER=0
  LIMIT="max rate $MAX_RATE reached" LIMIT_KIND=max LIMIT_RATE=0 LIMIT_DROPS=0 LIMIT_SCPU= LIMIT_SIPPCPU= LIMIT_WALL= LIMIT_IRQ= LIMIT_OTHER=
  keep() {
    B_RATE=$R_RATE B_ACHIEVED=$R_ACHIEVED B_OK=$R_OK B_SCPU=$R_SCPU B_SIPPCPU=$R_SIPPCPU
    B_WALL=$R_WALL B_RETRANS=$R_RETRANS B_IRQ=$R_IRQ B_OTHER=$R_OTHER
  }
  unclean() { # RATE
    LIMIT="$R_WHY at $1/s" LIMIT_KIND=$R_KIND LIMIT_RATE=$1 LIMIT_DROPS=$R_DROPS LIMIT_SCPU=$R_SCPU LIMIT_SIPPCPU=$R_SIPPCPU LIMIT_WALL=$R_WALL
    LIMIT_IRQ=$R_IRQ LIMIT_OTHER=$R_OTHER
  }
  while [ "$rate" -le "$MAX_RATE" ]; do
    if [ $((SECONDS - t_start + STEP_SECONDS + 2)) -gt "$TARGET_BUDGET" ]; then
      LIMIT="time budget (${TARGET_BUDGET}s) used up; max is a lower bound" LIMIT_KIND=budget; break
    fi
    run_step "$name" "$rate"
    if [ "$R_WHY" = clean ]; then
      keep
      rate=$(next_rate "$rate" "$FACTOR")
    else
      fail=$rate
      unclean "$rate"
      break
    fi
  done
  # One refining step between the last clean rate and the first failure.
  if [ "$fail" -gt 0 ] && [ "$B_RATE" -gt 0 ] \
     && [ $((SECONDS - t_start + STEP_SECONDS + 2)) -le "$TARGET_BUDGET" ]; then
    local mid
    mid=$(awk -v a="$B_RATE" -v b="$fail" 'BEGIN { print int(sqrt(a * b) / 100 + 0.5) * 100 }')
    if [ "$mid" -gt "$B_RATE" ] && [ "$mid" -lt "$fail" ]; then
      run_step "$name" "$mid"
      if [ "$R_WHY" = clean ]; then keep; else unclean "$mid"; fi
    fi
  fi
}

# Summary row for one target into the F_* / K_* variables.
save() { # PREFIX
  local p=$1
  eval "${p}_RATE=\$B_RATE ${p}_ACHIEVED=\$B_ACHIEVED ${p}_OK=\$B_OK ${p}_SCPU=\$B_SCPU"
  eval "${p}_SIPPCPU=\$B_SIPPCPU ${p}_WALL=\$B_WALL ${p}_RETRANS=\$B_RETRANS ${p}_IRQ=\$B_IRQ ${p}_OTHER=\$B_OTHER"
  eval "${p}_LIMIT=\$LIMIT ${p}_LSCPU=\$LIMIT_SCPU ${p}_LSIPPCPU=\$LIMIT_SIPPCPU ${p}_LWALL=\$LIMIT_WALL"
  eval "${p}_LIRQ=\$LIMIT_IRQ ${p}_LOTHER=\$LIMIT_OTHER ${p}_KIND=\$LIMIT_KIND"
  eval "${p}_LRATE=\$LIMIT_RATE ${p}_LDROPS=\$LIMIT_DROPS"
}

echo "name,rate,calls,achieved,ok,failed,retrans,udp_drops,wall_s,server_cpu_s,sipp_cpu_s,irq_cpu_s,other_cpu_s,sipp_rc,verdict" >"$LOGS/steps.csv"
FS_VERSION=$({ "$BIN" --version 2>/dev/null || true; } | head -n 1)
KAM_VERSION=$({ kamailio -v 2>/dev/null || true; } | sed -n 's/^version: \(kamailio [^ ]*\).*/\1/p')
SIPP_VERSION=$({ sipp -v 2>/dev/null || true; } | sed -n 's/.*\(SIPp v[0-9.]*\).*/\1/p')  # sipp -v exits 99

echo "OPTIONS over UDP on 127.0.0.1, $STEP_SECONDS s per step, rate from $START_RATE/s x $FACTOR"
echo "steps:"
measure ferroswitch
save F
measure kamailio
save K

# ---- report -------------------------------------------------------------
CORES=$(nproc)
# (OPTIONS are answered statelessly: no transaction-table bound to report.)
state_note() { :; }

report() {
  echo
  echo "== OPTIONS load benchmark (issue 2), $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
  echo "client:  $SIPP_VERSION, one process, UDP, benches/scenarios/options.xml, ${STEP_SECONDS}s per step,"
  echo "         each step against a freshly started server"
  echo "servers: $FS_VERSION (release build, log.level=warn${FS_EXTRA_ARGS:+ $FS_EXTRA_ARGS}) | $KAM_VERSION, stateless sl_send_reply,"
  echo "         $KAM_CHILDREN UDP workers, -m 512"
  echo "host:    $CORES cores, SHARED by sipp, the server under test and the kernel's loopback work:"
  echo "         a server's max rate here is bounded by what sipp leaves it (see sipp CPU)."
  echo
  printf '%-12s %9s %9s %7s %7s %8s %6s %7s %8s %6s %9s\n' \
    "" "max clean" achieved calls retrans "server" "server" "server" "sipp" "sipp" "irq+other"
  printf '%-12s %9s %9s %7s %7s %8s %6s %7s %8s %6s %9s\n' \
    target "calls/s" "calls/s" "" "" "CPU s" "%core" "us/req" "CPU s" "%core" "CPU s"
  row() { # NAME PREFIX
    local p=$2 rate ach ok re scpu sipp wall irq other
    eval "rate=\$${p}_RATE ach=\$${p}_ACHIEVED ok=\$${p}_OK re=\$${p}_RETRANS scpu=\$${p}_SCPU"
    eval "sipp=\$${p}_SIPPCPU wall=\$${p}_WALL irq=\$${p}_IRQ other=\$${p}_OTHER"
    if [ "$rate" -eq 0 ]; then
      printf '%-12s %9s\n' "$1" "no clean step"; return
    fi
    awk -v n="$1" -v r="$rate" -v a="$ach" -v ok="$ok" -v re="$re" -v c="$scpu" -v s="$sipp" \
        -v w="$wall" -v i="$irq" -v o="$other" 'BEGIN {
      printf "%-12s %9d %9.0f %7d %7d %8.2f %5.0f%% %7.1f %8.2f %5.0f%% %4.2f+%4.2f\n",
        n, r, a, ok, re, c, 100 * c / w, 1e6 * c / ok, s, 100 * s / w, i, o }'
  }
  row ferroswitch F
  row kamailio K
  echo "(the best clean step of each; %core = CPU seconds / wall seconds of that step, 100% = one core)"
  echo
  echo "why the stepping stopped (first unclean step; CPU during it as % of one core):"
  for t in ferroswitch:F kamailio:K; do
    local n=${t%%:*} p=${t##*:} lim kind lscpu lsipp lwall lirq loth ldrops
    eval "lim=\$${p}_LIMIT kind=\$${p}_KIND lscpu=\$${p}_LSCPU lsipp=\$${p}_LSIPPCPU lwall=\$${p}_LWALL"
    eval "lirq=\$${p}_LIRQ loth=\$${p}_LOTHER ldrops=\$${p}_LDROPS"
    printf '  %-12s %s\n' "$n" "$lim"
    [ -n "$lscpu" ] || continue
    awk -v kind="$kind" -v c="$lscpu" -v s="$lsipp" -v w="$lwall" -v i="$lirq" -v o="$loth" -v k="$CORES" \
        -v d="$ldrops" 'BEGIN {
      printf "  %-12s server %.0f%%, sipp %.0f%%, kernel irq %.0f%%, other %.0f%%", "", 100 * c / w, 100 * s / w,
        100 * i / w, 100 * o / w
      t = (c + s + i + o) / w / k
      printf "; machine %.0f%% busy", 100 * t
      if (t >= 0.8) printf " (the shared cores are nearly full)"
      else if (s / w > 0.85) printf " (sipp near a full core)"
      printf "\n"
      if (kind == "refused") print "               -> the SERVER answered non-200 (e.g. 503: a configured limit), not overload"
      if (kind == "silent" && d > 0)
        printf "               -> no reply in time; the kernel dropped %d datagrams at full socket buffers\n", d
      else if (kind == "silent") print "               -> the SERVER did not answer in time (overload)"
      if (kind == "client")  print "               -> the CLIENT: sipp could not keep the asked pace; the server max is higher" }'
  done
  echo
  if [ "$F_RATE" -gt 0 ] && [ "$K_RATE" -gt 0 ]; then
    awk -v fr="$F_RATE" -v kr="$K_RATE" -v fc="$F_SCPU" -v fo="$F_OK" -v kc="$K_SCPU" -v ko="$K_OK" \
        -v fk="$F_KIND" -v kk="$K_KIND" 'BEGIN {
      fb = (fk == "client" || fk == "budget" || fk == "max")
      kb = (kk == "client" || kk == "budget" || kk == "max")
      note = ""
      if (fb && kb)  note = "   (both maxima set by the client/budget: not a server comparison)"
      else if (kb)   note = "   (kamailio max is a lower bound, so this ratio is an upper bound)"
      else if (fb)   note = "   (ferroswitch max is a lower bound, so this ratio is a lower bound)"
      printf "RATIO ferroswitch/kamailio:  max clean rate  %.2f%s\n", fr / kr, note
      printf "                             (above 1: ferroswitch sustains more)\n"
      if (kc > 0 && fc > 0)
        printf "                             CPU per request %.2f   (above 1: ferroswitch spends more CPU per OPTIONS)\n", (fc / fo) / (kc / ko)
      else
        print  "                             CPU per request n/a    (too little CPU measured)"
    }'
  else
    echo "RATIO ferroswitch/kamailio: n/a (a target had no clean step)"
  fi
  awk -v a="$F_OTHER" -v aw="$F_WALL" -v b="$K_OTHER" -v bw="$K_WALL" 'BEGIN {
    if (a / aw > 0.1 || b / bw > 0.1)
      print "WARNING: other processes used >10% of a core during a best step; numbers are disturbed." }'
  state_note
  echo "details: benches/out/options_load/ (steps.csv, sipp CSVs, server logs)"
}
report | tee "$LOGS/report.txt"
echo "total time: $((SECONDS - T0)) s"
[ "$F_RATE" -gt 0 ] && [ "$K_RATE" -gt 0 ]
