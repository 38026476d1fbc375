# Shared plumbing for benches/register_load.sh and benches/calls_load.sh
# (sourced, not run). Same conventions as options_load.sh: everything on
# 127.0.0.1 on ports the kernel hands out, results in benches/out/NAME/, a
# temp dir under benches/out/ removed on exit, a watchdog that stops the
# whole run after HARD_LIMIT seconds, every started process killed by PID.
#
# The sourcing script sets NAME (used for the out dir and messages) before
# sourcing, and defines run_step NAME RATE, which must set R_RATE R_CALLS
# R_OK R_FAILED R_ACHIEVED R_WHY R_KIND (and whatever else it reports).
# It also sets KAM_CHILDREN and KAM_SHM (Kamailio's shared memory in MB).
# It may use: BIN, ROOT, BENCH, LOGS, RUN, STEP, MEM, PIDS, SERVER_PID, PORT,
# free_port, forget, start_ferroswitch, start_kamailio, stop_server, stop_pid,
# verdict, measure, next_rate, cpu_of.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/benches
OUT=${BENCH_OUT:-$BENCH/out}
STEP=$BENCH/lib/step.py
MEM=$BENCH/lib/mem.py
SCEN=$BENCH/scenarios

for tool in sipp kamailio python3; do
  command -v "$tool" >/dev/null || { echo "$NAME: $tool is not installed" >&2; exit 1; }
done

if [ -z "${FERROSWITCH_BIN:-}" ]; then
  echo "$NAME: cargo build --release -p ferroswitch"
  (cd "$ROOT" && cargo build --release -p ferroswitch --quiet)
fi
BIN=${FERROSWITCH_BIN:-$ROOT/target/release/ferroswitch}
[ -x "$BIN" ] || { echo "$NAME: no binary at $BIN" >&2; exit 1; }

mkdir -p "$OUT"
rm -rf "${OUT:?}/$NAME"
LOGS=$OUT/$NAME
mkdir -p "$LOGS/sipp"
RUN=$(mktemp -d "$OUT/.run.XXXXXX")

SERVER_PID=
source "$BENCH/lib/procs.sh"

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

# cpu_of PID: user+system CPU seconds of one process (all its threads).
cpu_of() {
  awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}

wait_ready() { # NAME PORT
  if ! python3 "$STEP" probe "$2" 10; then
    echo "$NAME: $1 did not answer OPTIONS on 127.0.0.1:$2; log:" >&2
    tail -n 20 "$LOGS/$1.log" >&2
    exit 1
  fi
}

# make_template USERS: a ferroswitch data dir with extensions 1000 ..
# 1000+USERS-1 (password benchpass<number>), created offline once; every
# step starts from a fresh copy of it.
make_template() {
  local n=$1 i
  mkdir -p "$RUN/template"
  for ((i = 0; i < n; i++)); do
    "$BIN" extension add $((1000 + i)) --password "benchpass$((1000 + i))" \
      --set data_dir="$RUN/template" --set sip.domain=127.0.0.1 >>"$LOGS/template.log" 2>&1 \
      || { echo "$NAME: could not create extension $((1000 + i)); see $LOGS/template.log" >&2; exit 1; }
  done
}

# make_call_parties: the caller (1000) and callee (1001, which registers
# with digest) sipp -inf files $RUN/caller.csv and $RUN/callee.csv, and a
# template with both extensions (calls_load.sh, held_calls.sh).
make_call_parties() {
  echo SEQUENTIAL >"$RUN/caller.csv"
  echo "1000;127.0.0.1" >>"$RUN/caller.csv"
  echo SEQUENTIAL >"$RUN/callee.csv"
  echo "1001;127.0.0.1;[authentication username=1001 password=benchpass1001]" >>"$RUN/callee.csv"
  make_template 2
}

# start_ferroswitch [EXTRA --set ARGS]: fresh copy of the template, wait
# until it answers OPTIONS. Sets PORT, HTTP_PORT and SERVER_PID.
start_ferroswitch() {
  PORT=$(free_port)
  HTTP_PORT=$(free_port)
  rm -rf "$RUN/ferroswitch"; cp -a "$RUN/template" "$RUN/ferroswitch"
  env -u FERROSWITCH_BIN "$BIN" run --set sip.bind=127.0.0.1 --set sip.udp_port="$PORT" --set sip.tcp_port="$PORT" \
    --set http.listen=127.0.0.1:"$HTTP_PORT" --set sip.domain=127.0.0.1 \
    --set directory.first_run_extensions= --set data_dir="$RUN/ferroswitch" --set log.level=warn \
    "$@" $FS_EXTRA_ARGS >>"$LOGS/ferroswitch.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_ready ferroswitch "$PORT"
}

# start_kamailio CFG [-A DEFINE ...]: sets PORT and SERVER_PID.
start_kamailio() {
  local cfg=$1; shift
  PORT=$(free_port)
  rm -rf "$RUN/kamailio"; mkdir -p "$RUN/kamailio"
  kamailio -f "$cfg" -A "BENCH_PORT=$PORT" -A "BENCH_CHILDREN=$KAM_CHILDREN" "$@" ${KAM_EXTRA_ARGS:-} \
    -DD -E -m "$KAM_SHM" -Y "$RUN/kamailio" -P "$RUN/kamailio/kamailio.pid" -w "$RUN/kamailio" \
    >>"$LOGS/kamailio.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_ready kamailio "$PORT"
}

# running PID: the process exists and is not a zombie.
running() {
  [ -r "/proc/$1/stat" ] && ! awk '{ sub(/^.*\) /, ""); exit ($1 == "Z" ? 0 : 1) }' "/proc/$1/stat" 2>/dev/null
}

# stop_pid PID: SIGTERM; if still there after 2 s a second SIGTERM
# (ferroswitch drains live calls for up to calls.drain_timeout = 300 s after
# the first one and skips the wait on the second), then SIGKILL after 5 s
# more. Reaps it and drops it from the cleanup list.
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do running "$pid" || break; sleep 0.1; done
  if running "$pid"; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then
      echo "$NAME: PID $pid did not stop on SIGTERM; SIGKILL" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  forget "$pid"
}

stop_server() { stop_pid "$SERVER_PID"; }

# verdict LINE CALLS RATE: parse step.py's key=value line into the step
# variables and decide whether the step is clean (< 0.1% failed, every call
# finished, sipp kept >= 95% of the asked pace). Sets R_* and R_WHY/R_KIND.
verdict() {
  local line=$1 calls=$2 rate=$3
  local rc ok failed non200 noreply retrans achieved wall server_cpu sipp_cpu irq_cpu other_cpu udp_drops killed
  eval "$(echo "$line" | tr ' ' '\n' | sed -n 's/^\([a-z_0-9]*\)=\([0-9.]*\)$/\1=\2/p')"
  R_RATE=$rate R_CALLS=$calls R_OK=$ok R_FAILED=$failed R_RETRANS=$retrans R_ACHIEVED=$achieved
  R_WALL=$wall R_SCPU=$server_cpu R_SIPPCPU=$sipp_cpu R_IRQ=$irq_cpu R_OTHER=$other_cpu R_DROPS=$udp_drops R_RC=$rc
  R_NON200=$non200 R_NOREPLY=$noreply
  R_WHY=$(awk -v c="$calls" -v ok="$ok" -v f="$failed" -v a="$achieved" -v r="$rate" -v k="$killed" \
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
}

next_rate() { awk -v r="$1" -v f="$2" 'BEGIN { s = (r < 1000) ? 10 : 100; n = int(r * f / s + 0.5) * s; if (n <= r) n = r + s; print n }'; }

# measure NAME: step the rate from START_RATE by FACTOR until a step is not
# clean, then try once between the last clean and the first unclean rate.
# Sets B_* from the best clean step (every R_* variable copied, by name) and
# LIMIT/LIMIT_KIND/L_* from the step that stopped it.
measure() {
  local name=$1 rate=$START_RATE fail=0 t_start=$SECONDS v
  B_RATE=0
  LIMIT="max rate $MAX_RATE reached" LIMIT_KIND=max
  for v in $STEP_VARS; do eval "L_$v="; done
  keep() { for v in $STEP_VARS; do eval "B_$v=\$R_$v"; done; }
  unclean() { LIMIT="$R_WHY at $1/s" LIMIT_KIND=$R_KIND; for v in $STEP_VARS; do eval "L_$v=\$R_$v"; done; }
  while [ "$rate" -le "$MAX_RATE" ]; do
    if [ $((SECONDS - t_start + STEP_SECONDS + STEP_OVERHEAD)) -gt "$TARGET_BUDGET" ]; then
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
  if [ "$fail" -gt 0 ] && [ "$B_RATE" -gt 0 ] \
     && [ $((SECONDS - t_start + STEP_SECONDS + STEP_OVERHEAD)) -le "$TARGET_BUDGET" ]; then
    local mid s
    s=$([ "$B_RATE" -lt 1000 ] && echo 10 || echo 100)
    mid=$(awk -v a="$B_RATE" -v b="$fail" -v s="$s" 'BEGIN { print int(sqrt(a * b) / s + 0.5) * s }')
    if [ "$mid" -gt "$B_RATE" ] && [ "$mid" -lt "$fail" ]; then
      run_step "$name" "$mid"
      if [ "$R_WHY" = clean ]; then keep; else unclean "$mid"; fi
    fi
  fi
}

# save PREFIX: copy B_*, L_*, LIMIT, LIMIT_KIND to PREFIX_B_*, PREFIX_L_*, ...
save() {
  local p=$1 v
  for v in $STEP_VARS; do eval "${p}_B_$v=\${B_$v:-}; ${p}_L_$v=\${L_$v:-}"; done
  eval "${p}_LIMIT=\$LIMIT ${p}_KIND=\$LIMIT_KIND"
}

# why_stopped PREFIX SERVER_NAME: the "why the stepping stopped" lines.
why_stopped() {
  local p=$1 n=$2 lim kind scpu sipp wall irq other drops extra
  eval "lim=\$${p}_LIMIT kind=\$${p}_KIND scpu=\$${p}_L_SCPU sipp=\$${p}_L_SIPPCPU wall=\$${p}_L_WALL"
  eval "irq=\$${p}_L_IRQ other=\$${p}_L_OTHER drops=\$${p}_L_DROPS extra=\${${p}_L_UASCPU:-0}"
  printf '  %-12s %s\n' "$n" "$lim"
  [ -n "$scpu" ] || return 0
  awk -v kind="$kind" -v c="$scpu" -v s="$sipp" -v u="$extra" -v w="$wall" -v i="$irq" -v o="$other" \
      -v k="$(nproc)" -v d="$drops" 'BEGIN {
    printf "  %-12s server %.0f%%, sipp %.0f%%", "", 100 * c / w, 100 * s / w
    if (u > 0) printf " (+ callee sipp %.0f%%)", 100 * u / w
    printf ", kernel irq %.0f%%, other %.0f%%", 100 * i / w, 100 * o / w
    t = (c + s + u + i + o) / w / k
    printf "; machine %.0f%% busy", 100 * t
    if (t >= 0.8) printf " (the shared cores are nearly full)"
    else if (s / w > 0.85 || u / w > 0.85) printf " (a sipp near a full core)"
    printf "\n"
    if (kind == "refused") print "               -> the SERVER answered with an unexpected status (see sipp errors), not silence"
    if (kind == "silent" && d > 0)
      printf "               -> no reply in time; the kernel dropped %d datagrams at full socket buffers\n", d
    else if (kind == "silent") print "               -> the SERVER did not answer in time (overload)"
    if (kind == "client")  print "               -> the CLIENT: sipp could not keep the asked pace; the server max is higher" }'
}

# status_counts FILE: the unexpected replies that made sipp abort a call
# (from its -trace_err log), by status code, e.g. "500 x2146".
status_counts() {
  [ -s "$1" ] || return 0
  { grep -ao "Aborting call on unexpected message.*received 'SIP/2.0 [0-9][0-9][0-9]" "$1" || true; } \
    | sed 's/.*SIP.2.0 //' | awk '{ n[$1]++ } END { for (k in n) printf "%s%s x%d", (c++ ? ", " : ""), k, n[k] }'
}

# ratio_note FERRO_KIND KAM_KIND: how to read a max-rate ratio.
ratio_note() {
  awk -v fk="$1" -v kk="$2" 'BEGIN {
    fb = (fk == "client" || fk == "budget" || fk == "max")
    kb = (kk == "client" || kk == "budget" || kk == "max")
    if (fb && kb)  print "   (both maxima set by the client/budget: not a server comparison)"
    else if (kb)   print "   (kamailio max is a lower bound, so this ratio is an upper bound)"
    else if (fb)   print "   (ferroswitch max is a lower bound, so this ratio is a lower bound)"
    else print "" }'
}

FS_VERSION=$({ "$BIN" --version 2>/dev/null || true; } | head -n 1)
KAM_VERSION=$({ kamailio -v 2>/dev/null || true; } | sed -n 's/^version: \(kamailio [^ ]*\).*/\1/p')
SIPP_VERSION=$({ sipp -v 2>/dev/null || true; } | sed -n 's/.*\(SIPp v[0-9.]*\).*/\1/p')  # sipp -v exits 99
