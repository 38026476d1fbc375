#!/usr/bin/env bash
# Issue 9 scenario 2: relayed media. N concurrent G.711 calls with RTP every
# 20 ms in both directions, first through ferroswitch (media.mode=relay, real
# SIP calls trunk to trunk), then through rtpengine (Debian's
# rtpengine-daemon, userspace forwarding only: --table=-1, no kernel
# module) given the same sessions over its ng protocol, in the same command
# on the same machine, and the ratios between the two.
#
# The load generator is benches/rtpload (Rust, built here in release mode):
# it sets the calls up at SETUP_RATE per second (ferroswitch: INVITE with
# SDP from a carrier on 127.0.0.2 -> route "77" -> outbound gateway, our UAS
# on 127.0.0.3, 200 with SDP, ACK; rtpengine: offer + answer), streams from
# each call as soon as it is up (172-byte PCMU packets, calls spread over the
# 20 ms period, sendmmsg/recvmmsg), and after WARMUP seconds more measures a
# WINDOW of seconds: packets sent in the window and received back (loss),
# one-way latency through the relay (send time in the payload, kernel
# receive time), the relay's CPU (utime+stime of all its threads from
# /proc/PID/stat) and RSS. Then it hangs all calls up (BYE / delete).
#
# For each target N steps through CALLS_LIST on a freshly started server
# until a step is not clean (any packet lost, a call not set up, or a stream
# that never arrived), then one step between the last clean and the first
# unclean N is tried. The two relays are stepped interleaved (at each N one
# and then the other), so both see the same state of the shared machine.
# The table shows each target's highest clean N (and its highest N that
# also kept p99 within MAX_P99_MS: a relay short of CPU queues in its
# sockets for seconds before it loses anything). Then
# the generator runs "direct" (each side sends straight to the other, no
# relay) at those N: the generator's and the kernel's own floor.
#
# Only loopback addresses are used (127.0.0.1 for the servers, 127.0.0.2 and
# 127.0.0.3 for the two sides of every call); rtpload refuses anything else.
#
# Knobs (environment): FERROSWITCH_BIN (skip the ferroswitch build),
# RTPLOAD_BIN (skip the rtpload build), CALLS_LIST ("250 500 1000 1500 2000 3000
# 4000 6000 8000"; steps above what the open-files limit allows are
# skipped), SETUP_RATE (500 calls/s), WARMUP (2 s), WINDOW (10 s),
# GEN_THREADS (2), GEN_SOCKETS (8 per side and thread), GEN_SLOTS (40 per
# 20 ms), RTPE_THREADS (2, as ferroswitch's 2 runtime threads),
# PORT_MIN/PORT_MAX (10000/59999, both relays), TARGETS ("ferroswitch
# rtpengine"), TARGET_BUDGET (230 s of stepping per target, shared), HARD_LIMIT
# (600 s for the whole run), FS_EXTRA_ARGS (more ferroswitch --set flags),
# QUIET_WAIT/QUIET_PCT (before each step, wait up to 15 s for the rest of
# the machine to use less than 30% of a core), MAX_P99_MS (20: the second
# row of each relay is its highest N that also kept p99 within it; 0: off),
# RECORD (1: ferroswitch's route records every call, stereo WAV to its data
# dir, to measure what recording costs per call; default 0), EVENTS (1: the
# calls' SDP offers RFC 4733 telephone-event as carriers' and softphones'
# does, so the switch takes digits from events; 0: no telephone-event, so
# it listens for digits in every call's audio, in-band; default 1. Rows
# before 2026-12-01 12:45 ran without telephone-event).
set -Eeuo pipefail

NAME=media_load
CALLS_LIST=${CALLS_LIST:-250 500 1000 1500 2000 3000 4000 6000 8000}
SETUP_RATE=${SETUP_RATE:-500}
WARMUP=${WARMUP:-2}
WINDOW=${WINDOW:-10}
GEN_THREADS=${GEN_THREADS:-2}
GEN_SOCKETS=${GEN_SOCKETS:-8}
GEN_SLOTS=${GEN_SLOTS:-40}
RTPE_THREADS=${RTPE_THREADS:-2}
PORT_MIN=${PORT_MIN:-10000}
PORT_MAX=${PORT_MAX:-59999}
TARGETS=${TARGETS:-ferroswitch rtpengine}
# TRANSCODE=1: the callers speak Opus only, the callees PCMU, so every call
# is transcoded both ways (issue 9 scenario 3 end to end). rtpengine's
# userspace relay does not transcode, so only ferroswitch runs; the codec
# work's peer is benches/transcode.sh (ffmpeg). Loss is counted by
# direction (the transcoded packets carry no markers), latency is not.
[ "${TRANSCODE:-0}" = 1 ] && TARGETS=ferroswitch
TARGET_BUDGET=${TARGET_BUDGET:-230}
QUIET_WAIT=${QUIET_WAIT:-15}
MAX_P99_MS=${MAX_P99_MS:-20}
QUIET_PCT=${QUIET_PCT:-30}
HARD_LIMIT=${HARD_LIMIT:-600}
FS_EXTRA_ARGS=${FS_EXTRA_ARGS:-}
TOKEN=media-bench-token

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/benches
OUT=${BENCH_OUT:-$BENCH/out}
STEP=$BENCH/lib/step.py
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

# rtpengine (Debian package), installed only when missing.
if ! dpkg -s rtpengine-daemon >/dev/null 2>&1; then
  echo "$NAME: installing rtpengine-daemon"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rtpengine-daemon >/dev/null
fi
for tool in rtpengine python3; do
  command -v "$tool" >/dev/null || { echo "$NAME: $tool is not installed" >&2; exit 1; }
done

if [ -z "${FERROSWITCH_BIN:-}" ]; then
  echo "$NAME: cargo build --release -p ferroswitch"
  (cd "$ROOT" && cargo build --release -p ferroswitch --quiet)
fi
BIN=${FERROSWITCH_BIN:-$ROOT/target/release/ferroswitch}
[ -x "$BIN" ] || { echo "$NAME: no binary at $BIN" >&2; exit 1; }
if [ -z "${RTPLOAD_BIN:-}" ]; then
  echo "$NAME: cargo build --release -p rtpload"
  (cd "$ROOT" && cargo build --release -p rtpload --quiet)
fi
GEN=${RTPLOAD_BIN:-$ROOT/target/release/rtpload}
[ -x "$GEN" ] || { echo "$NAME: no rtpload at $GEN" >&2; exit 1; }

# Each relayed call holds 4 sockets in the relay (RTP and RTCP per side).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
MAX_BY_FDS=$(( (NOFILE - 256) / 4 ))
MAX_BY_PORTS=$(( (PORT_MAX - PORT_MIN + 1) / 4 ))

mkdir -p "$OUT"
rm -rf "${OUT:?}/$NAME"
LOGS=$OUT/$NAME
mkdir -p "$LOGS"
RUN=$(mktemp -d "$OUT/.run.XXXXXX")

source "$BENCH/lib/procs.sh"
python3 -c 'import os, sys, time; time.sleep(float(sys.argv[1])); os.kill(int(sys.argv[2]), 15)' "$HARD_LIMIT" $$ &
PIDS+=($!)
T0=$SECONDS

# free_port [IP]: a UDP+TCP port free on IP (127.0.0.1).
free_port() {
  python3 - "${1:-127.0.0.1}" <<'PY'
import socket, sys
ip = sys.argv[1]
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind((ip, 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind((ip, port))
    except OSError:
        t.close(); continue
    u.close(); t.close()
    print(port)
    break
PY
}

forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  PIDS=("${keep[@]}")
}

running() {
  [ -r "/proc/$1/stat" ] && ! awk '{ sub(/^.*\) /, ""); exit ($1 == "Z" ? 0 : 1) }' "/proc/$1/stat" 2>/dev/null
}

# stop_pid PID: SIGTERM, a second one after 2 s (ferroswitch then skips its
# drain), SIGKILL after 5 s more; reaped and forgotten.
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

# api METHOD PATH JSON: ferroswitch's admin API; fails on a non-2xx answer.
api() {
  python3 - "$HTTP" "$TOKEN" "$@" <<'PY'
import sys, urllib.request
base, token, method, path, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
req = urllib.request.Request(f"http://{base}{path}", data=body.encode(), method=method,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    r.read()
PY
}

# ng_ping PORT: rtpengine answers an ng ping within 10 s.
ng_ping() {
  python3 - "$1" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); s.settimeout(0.2)
end = time.monotonic() + 10
while time.monotonic() < end:
    s.sendto(b"p1 d7:command4:pinge", ("127.0.0.1", int(sys.argv[1])))
    try:
        if b"pong" in s.recv(4096):
            sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

# start_ferroswitch UAS_PORT: a fresh data dir, relay on 127.0.0.1, the two
# gateways and the route. Sets SERVER_PID, SERVER_ADDR.
start_ferroswitch() {
  local uas=$1 port
  port=$(free_port); HTTP=127.0.0.1:$(free_port)
  rm -rf "$RUN/ferroswitch"; mkdir -p "$RUN/ferroswitch"
  env -u FERROSWITCH_BIN "$BIN" run --set sip.bind=127.0.0.1 --set sip.udp_port="$port" --set sip.tcp_port="$port" \
    --set http.listen="$HTTP" --set http.token="$TOKEN" --set sip.domain=127.0.0.1 \
    --set directory.first_run_extensions= --set data_dir="$RUN/ferroswitch" --set log.level=warn \
    --set media.mode=relay --set media.rtp_port_min="$PORT_MIN" --set media.rtp_port_max="$PORT_MAX" \
    $FS_EXTRA_ARGS >>"$LOGS/ferroswitch.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  SERVER_ADDR=127.0.0.1:$port
  python3 "$STEP" probe "$port" 10 || { echo "$NAME: ferroswitch did not answer OPTIONS; log:" >&2; tail -n 20 "$LOGS/ferroswitch.log" >&2; exit 1; }
  # A carrier on 127.0.0.2 (trusted by address) calls 77...; the route sends
  # those calls to the gateway "callee", which is rtpload's UAS.
  api POST /v1/gateways '{"name":"caller","proxy":"127.0.0.2:5060","inbound":["127.0.0.2/32"]}'
  api POST /v1/gateways "{\"name\":\"callee\",\"proxy\":\"127.0.0.3:$uas\"}"
  api POST /v1/routes "{\"name\":\"bench\",\"destination_prefix\":\"77\",\"source\":\"gateway\",\"action\":{\"gateways\":[\"callee\"]},\"record\":$([ "${RECORD:-0}" = 1 ] && echo true || echo false)}"
  sleep 0.5
}

# start_rtpengine: userspace only, its own port range. Sets SERVER_PID, SERVER_ADDR.
start_rtpengine() {
  local ng; ng=$(free_port)
  rtpengine --config-file=none --foreground --log-stderr --table=-1 --interface=127.0.0.1 \
    --listen-ng=127.0.0.1:"$ng" --port-min="$PORT_MIN" --port-max="$PORT_MAX" --num-threads="$RTPE_THREADS" \
    --log-level=4 --delete-delay=0 --timeout=60 >>"$LOGS/rtpengine.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  SERVER_ADDR=127.0.0.1:$ng
  ng_ping "$ng" || { echo "$NAME: rtpengine did not answer an ng ping; log:" >&2; tail -n 20 "$LOGS/rtpengine.log" >&2; exit 1; }
}

# wait_quiet: wait (at most QUIET_WAIT s) until the rest of the machine
# uses less than QUIET_PCT% of one core over a second: another engineer's
# build on the same two cores makes a step meaningless. Sets QUIET_OTHER
# (the % of a core busy just before the step).
wait_quiet() {
  QUIET_OTHER=$(python3 - "$QUIET_WAIT" "$QUIET_PCT" <<'PY'
import sys, time
wait, pct = float(sys.argv[1]), float(sys.argv[2])
def busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
end = time.monotonic() + wait
while True:
    b0 = busy(); time.sleep(1); b1 = busy()
    other = b1 - b0  # ticks of 1/100 s: % of one core
    if other < pct or time.monotonic() >= end:
        print(other)
        break
PY
)
  if [ "$QUIET_OTHER" -ge "$QUIET_PCT" ]; then
    echo "  (the machine was not quiet: ${QUIET_OTHER}% of a core busy elsewhere after ${QUIET_WAIT}s of waiting)"
  fi
}

KEYS="up failed failures setup_s window_s sent received lost loss_pct streams_lossy streams_dead lost_ab lost_ba dead_ab dead_ba lat_p50_us lat_p99_us lat_p999_us lat_max_us gen_late_p99_us gen_busy_max_pct gen_cpu_s send_errors server_cpu_s server_core_pct server_core_pct_per_call machine_busy_pct irq_cpu_s other_cpu_s udp_drops rss_idle_kb rss_kb rss_per_call_kb server_threads fds_idle fds_load fds_after torn_down"

# run_step TARGET N: one measurement on a fresh server; sets R_* and R_WHY.
run_step() {
  local target=$1 n=$2 uas line k
  for k in $KEYS; do eval "R_$k="; done
  local args=(--target "$target" --calls "$n" --setup-rate "$SETUP_RATE" --warmup "$WARMUP" --window "$WINDOW"
              --threads "$GEN_THREADS" --sockets "$GEN_SOCKETS" --slots "$GEN_SLOTS")
  [ "${EVENTS:-1}" = 1 ] && args+=(--events)
  [ "${TRANSCODE:-0}" = 1 ] && args+=(--opus-caller)
  SERVER_PID=
  wait_quiet
  case $target in
    ferroswitch)
      uas=$(free_port 127.0.0.3)
      start_ferroswitch "$uas"
      args+=(--server "$SERVER_ADDR" --uas "127.0.0.3:$uas" --server-pid "$SERVER_PID") ;;
    rtpengine)
      start_rtpengine
      args+=(--server "$SERVER_ADDR" --server-pid "$SERVER_PID") ;;
    direct) ;;
  esac
  line=$("$GEN" "${args[@]}" 2>>"$LOGS/rtpload.err") || line=
  [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
  echo "$target $n $line" >>"$LOGS/steps.txt"
  if [ -z "$line" ]; then
    R_WHY="rtpload-failed(see rtpload.err)"; return
  fi
  eval "$(echo "$line" | tr ' ' '\n' | sed -n 's/^\([a-z_0-9]*\)=\([-A-Za-z0-9_.:,]*\)$/R_\1="\2"/p')"
  # Transcoded packets carry no marker: they are counted by receive time,
  # so a packet at a window's edge can fall either side. Below 1 in 10,000
  # is that counting's resolution, not loss.
  local tol=0; [ "${TRANSCODE:-0}" = 1 ] && tol=0.0001
  R_WHY=$(awk -v n="$n" -v up="$R_up" -v lost="$R_lost" -v dead="$R_streams_dead" -v sent="$R_sent" -v tol="$tol" 'BEGIN {
    if (up < n)       { printf "calls-not-set-up-%d\n", n - up; exit }
    if (sent == 0)    { print "nothing-sent"; exit }
    if (dead > 0)     { printf "dead-streams-%d\n", dead; exit }
    if (lost > tol * sent) { printf "lost-%d-of-%d\n", lost, sent; exit }
    print "clean" }')
  # A relay that falls behind queues in its sockets (the kernel's default
  # receive buffer holds seconds of one call's packets) before it drops:
  # also say whether this step kept p99 within MAX_P99_MS.
  R_KEEPSUP=no
  if [ "$R_WHY" = clean ] && { [ "$MAX_P99_MS" = 0 ] || [ "${R_lat_p99_us:-0}" -le $((MAX_P99_MS * 1000)) ]; }; then R_KEEPSUP=yes; fi
  local verdict=$R_WHY
  [ "$R_WHY" = clean ] && [ "$R_KEEPSUP" = no ] && verdict="clean (zero loss) but p99 > ${MAX_P99_MS} ms"
  printf '  %-11s N=%5d up %5d lost %7s/%-8s (%s%%) streams lossy %4s | lat p50 %5sus p99 %6sus | server %5s%% core, %.4f%%/call | RSS %s->%s MB (%s KiB/call) | gen busy %3s%% late p99 %5sus | machine %3s%% | %s\n' \
    "$target" "$n" "$R_up" "$R_lost" "$R_sent" "$R_loss_pct" "$R_streams_lossy" "$R_lat_p50_us" "$R_lat_p99_us" \
    "$R_server_core_pct" "$R_server_core_pct_per_call" "$((R_rss_idle_kb / 1024))" "$((R_rss_kb / 1024))" "$R_rss_per_call_kb" \
    "$R_gen_busy_max_pct" "$R_gen_late_p99_us" "$R_machine_busy_pct" "$verdict"
  [ "${R_lost:-0}" -gt 0 ] && echo "              lost by direction: caller->callee $R_lost_ab, callee->caller $R_lost_ba; streams that got nothing: $R_dead_ab / $R_dead_ba"
  [ "$R_failures" != "-" ] && echo "              setup failures (code:count, 0 = no answer): $R_failures"
  [ "$target" = ferroswitch ] && [ "${R_fds_after:-0}" -gt $(( ${R_fds_idle:-0} + 2 )) ] && \
    echo "              after hanging up ${R_torn_down} calls: ferroswitch still holds ${R_fds_after} fds (idle ${R_fds_idle})"
  echo "$target,$n,$line" | sed 's/RTPLOAD //' >>"$LOGS/steps.csv"
}

declare -A CPU_AT  # "target:n" -> % of a core per call of a clean step
declare -A RSS_AT  # "target:n" -> RSS kB under load of a clean step
# v PREFIX NAME: the value of PREFIX_NAME (0 when unset or empty).
v() { local n="$1_$2"; echo "${!n:-0}"; }

# Stepping, both relays interleaved: at each N ferroswitch and then
# rtpengine, so that both see the same state of the shared machine (another
# engineer's build disturbs a run for minutes; paired steps are disturbed
# alike). A relay drops out at its first unclean step; then each gets one
# step halfway between its last clean and its first unclean N.
# Per relay (prefix P = F or E): P_B_* best clean step, PK_B_* best that
# also kept p99 <= MAX_P99_MS, P_L_* the step that stopped it, P_LIMIT why.
prefix_of() { case $1 in ferroswitch) echo F ;; rtpengine) echo E ;; esac; }
keep() { # P TARGET N
  local p=$1 k
  eval "${p}_B_N=$3 ${p}_LAST=$3"
  for k in $KEYS WHY; do eval "${p}_B_$k=\$R_$k"; done
  CPU_AT[$2:$3]=$R_server_core_pct_per_call RSS_AT[$2:$3]=$R_rss_kb
  if [ "$R_KEEPSUP" = yes ] && [ "$3" -gt "$(v "${p}K" B_N)" ]; then
    eval "${p}K_B_N=$3"
    for k in $KEYS WHY; do eval "${p}K_B_$k=\$R_$k"; done
  fi
}
unclean() { # P N
  local p=$1 k
  eval "${p}_L_N=$2 ${p}_LIMIT=\"\$R_WHY at N=$2\""
  for k in $KEYS WHY; do eval "${p}_L_$k=\$R_$k"; done
}
step_budget() { # N RELAYS: would one more round of steps fit the budget?
  [ $((SECONDS - STEPPING_T0 + $2 * (20 + $1 / SETUP_RATE))) -le "$STEP_BUDGET" ]
}

echo "target,calls,$(echo "$KEYS" | tr ' ' ','),... (key=value as rtpload prints them)" >"$LOGS/steps.csv"
echo "relayed G.711 calls on loopback: PCMU 20 ms both ways, ${WINDOW}s window after ${WARMUP}s warm-up; N from: $CALLS_LIST"
echo "(relay sockets: open-files limit $NOFILE allows N <= $MAX_BY_FDS; ports $PORT_MIN-$PORT_MAX allow N <= $MAX_BY_PORTS)"
echo "steps (at each N, ferroswitch then rtpengine):"
STEPPING_T0=$SECONDS
ACTIVE=()
for t in ferroswitch rtpengine; do
  p=$(prefix_of "$t")
  eval "${p}_B_N=0 ${p}K_B_N=0 ${p}_LAST=0 ${p}_FAIL=0"
  case " $TARGETS " in
    *" $t "*) ACTIVE+=("$t"); eval "${p}_LIMIT=\"all of CALLS_LIST clean\"" ;;
    *) eval "${p}_LIMIT=\"not run (TARGETS)\"" ;;
  esac
done
STEP_BUDGET=$((TARGET_BUDGET * ${#ACTIVE[@]}))
for n in $CALLS_LIST; do
  [ ${#ACTIVE[@]} -gt 0 ] || break
  if [ "$n" -gt "$MAX_BY_FDS" ] || [ "$n" -gt "$MAX_BY_PORTS" ]; then
    for t in "${ACTIVE[@]}"; do
      eval "$(prefix_of "$t")_LIMIT=\"N=$n skipped: needs $((4 * n)) relay sockets; open-files limit $NOFILE, ports $PORT_MIN-$PORT_MAX\""
    done
    break
  fi
  if ! step_budget "$n" "${#ACTIVE[@]}"; then
    for t in "${ACTIVE[@]}"; do
      eval "$(prefix_of "$t")_LIMIT=\"time budget (${STEP_BUDGET}s) used up before N=$n; the max is a lower bound\""
    done
    break
  fi
  still=()
  for t in "${ACTIVE[@]}"; do
    p=$(prefix_of "$t")
    run_step "$t" "$n"
    if [ "$R_WHY" = clean ]; then keep "$p" "$t" "$n"; still+=("$t"); else eval "${p}_FAIL=$n"; unclean "$p" "$n"; fi
  done
  ACTIVE=("${still[@]}")
done
for t in ferroswitch rtpengine; do
  p=$(prefix_of "$t")
  fail=$(v "$p" FAIL) last=$(v "$p" LAST)
  { [ "$fail" -gt 0 ] && step_budget "$fail" 1; } || continue
  mid=$(awk -v a="$last" -v b="$fail" 'BEGIN { print int((a + b) / 2 / 50 + 0.5) * 50 }')
  if [ "$mid" -gt "$last" ] && [ "$mid" -lt "$fail" ]; then
    run_step "$t" "$mid"
    if [ "$R_WHY" = clean ]; then keep "$p" "$t" "$mid"; else unclean "$p" "$mid"; fi
  fi
done

# The generator's own floor: no relay, same N.
declare -A D_LAT50 D_LAT99 D_LOST D_BUSY
for n in "${F_B_N:-0}" "${E_B_N:-0}"; do
  [ "$n" -gt 0 ] && [ -z "${D_LOST[$n]:-}" ] || continue
  run_step direct "$n"
  D_LAT50[$n]=${R_lat_p50_us:-0} D_LAT99[$n]=${R_lat_p99_us:-0} D_LOST[$n]=${R_lost:-0} D_BUSY[$n]=${R_gen_busy_max_pct:-0}
done

# The kernel's own floor: one read and one send per packet and nothing else
# (udpfloor, beside rtpload), over as many sockets as the relay's calls
# receive on at its highest clean N.
FLOOR=""
FLOOR_BIN=$(dirname "$GEN")/udpfloor
if [ -x "$FLOOR_BIN" ]; then
  fs=$(( 2 * ${F_B_N:-0} )); [ "$fs" -ge 100 ] || fs=100; [ "$fs" -le $(( (NOFILE - 256) / 2 )) ] || fs=$(( (NOFILE - 256) / 2 ))
  # (It opens two sockets for each one asked for: where packets arrive and
  # where they are sent from.)
  FLOOR=$("$FLOOR_BIN" --sockets "$fs" 2>>"$LOGS/udpfloor.err" | grep '^UDPFLOOR' || true)
  [ -n "$FLOOR" ] || echo "$NAME: udpfloor gave no result (see $LOGS/udpfloor.err)" >&2
  echo "$FLOOR" >> "$LOGS/steps.txt"
else
  echo "$NAME: no udpfloor beside $GEN: no kernel floor in the report" >&2
fi
fv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$FLOOR"; }

FS_VERSION=$({ "$BIN" --version 2>/dev/null || true; } | head -n 1)
RTPE_VERSION=$(dpkg-query -W -f='${Version}' rtpengine-daemon 2>/dev/null || echo "?")

declare -A MARGINAL
report() {
  echo
  echo "== Relayed media benchmark (issue 9, scenario 2), $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
  echo "generator: rtpload (benches/rtpload), $GEN_THREADS threads x $GEN_SOCKETS sockets per side, $GEN_SLOTS slots per 20 ms;"
  echo "           calls set up at $SETUP_RATE/s, streams start at answer; ${WARMUP}s warm-up, ${WINDOW}s window"
  echo "           SDP $([ "${EVENTS:-1}" = 1 ] && echo "with telephone-event (digits from RFC 4733 events)" || echo "without telephone-event (the switch detects digits in-band)")$([ "${RECORD:-0}" = 1 ] && echo ", every call recorded")$([ "${TRANSCODE:-0}" = 1 ] && echo ", callers in Opus: every call transcoded")"
  echo "servers:   $FS_VERSION (release, media.mode=relay, trunk to trunk, log.level=warn${FS_EXTRA_ARGS:+ $FS_EXTRA_ARGS})"
  echo "           | rtpengine $RTPE_VERSION (userspace: --table=-1, --num-threads=$RTPE_THREADS, ng offer/answer/delete, log-level 4)"
  echo "host:      $(nproc) cores, SHARED by the generator, the relay under test and the kernel's loopback work"
  echo
  echo "SAME WORK, NOT THE SAME EXTRAS: both relay each packet to the other side after learning/using the"
  echo "  SDP addresses; ferroswitch also parses each RTP header for RFC 3550 receive statistics and"
  echo "  answers real SIP (two dialogs per call, a CDR at hang-up); rtpengine gets its sessions over ng."
  echo
  printf '%-12s %6s %9s %13s %8s %10s %10s %16s %9s %9s %8s\n' "" "max N" "lost" "latency us" "server" "server" "calls per" "server RSS MB" "RSS per" "gen busy" "machine"
  printf '%-12s %6s %9s %13s %8s %10s %10s %16s %9s %9s %8s\n' target "clean" "" "p50/p99" "%core" "%core/call" "core" "idle->load" "call KiB" "(max thr)" "busy"
  row() { # NAME PREFIX
    local p=$2 n
    n=$(v "$p" B_N)
    if [ "$n" -eq 0 ]; then printf '%-12s %6s\n' "$1" "  none"; return; fi
    awk -v name="$1" -v n="$n" -v lost="$(v "$p" B_lost)" -v sent="$(v "$p" B_sent)" -v l50="$(v "$p" B_lat_p50_us)" \
      -v l99="$(v "$p" B_lat_p99_us)" -v sc="$(v "$p" B_server_core_pct)" -v pc="$(v "$p" B_server_core_pct_per_call)" \
      -v r0="$(v "$p" B_rss_idle_kb)" -v r1="$(v "$p" B_rss_kb)" -v rc="$(v "$p" B_rss_per_call_kb)" \
      -v gb="$(v "$p" B_gen_busy_max_pct)" -v mb="$(v "$p" B_machine_busy_pct)" 'BEGIN {
      printf "%-12s %6d %4d/%-6s %6d/%-6d %7.1f%% %9.4f%% %10.0f %7.1f->%-7.1f %9.1f %8d%% %7d%%\n",
        name, n, lost, (sent >= 1e6 ? sprintf("%.1fM", sent / 1e6) : sprintf("%dk", sent / 1000)), l50, l99, sc, pc,
        (pc > 0 ? 100 / pc : 0), r0 / 1024, r1 / 1024, rc, gb, mb }'
  }
  row ferroswitch F
  row "  p99<=${MAX_P99_MS}ms" FK
  row rtpengine E
  row "  p99<=${MAX_P99_MS}ms" EK
  for n in "${!D_LOST[@]}"; do
    awk -v n="$n" -v l50="${D_LAT50[$n]}" -v l99="${D_LAT99[$n]}" -v lost="${D_LOST[$n]}" -v gb="${D_BUSY[$n]}" 'BEGIN {
      printf "%-12s %6d %9d %6d/%-6d   (no relay: the generator and the kernel alone; busiest generator thread %d%%)\n", "direct", n, lost, l50, l99, gb }'
  done
  # Marginal memory: the slope of RSS between the smallest and the largest
  # clean N (the per-call column also carries whatever the first calls
  # touched once: allocator arenas, thread caches).
  local t
  for t in ferroswitch rtpengine; do
    local lo=0 hi=0 k
    for k in "${!RSS_AT[@]}"; do
      case $k in "$t":*) k=${k#*:}; { [ "$lo" = 0 ] || [ "$k" -lt "$lo" ]; } && lo=$k; [ "$k" -gt "$hi" ] && hi=$k ;; esac
    done
    if [ "$hi" -gt "$lo" ]; then
      MARGINAL[$t]=$(awk -v a="${RSS_AT[$t:$lo]}" -v b="${RSS_AT[$t:$hi]}" -v n0="$lo" -v n1="$hi" 'BEGIN { printf "%.1f", (b - a) / (n1 - n0) }')
      printf '%-12s RSS slope from N=%d to N=%d: %s KiB per additional call\n' "$t" "$lo" "$hi" "${MARGINAL[$t]}"
    fi
  done
  echo "(first row of each: its highest N with no packet lost among those sent in the window; the"
  echo " p99<=${MAX_P99_MS}ms row: its highest N that also kept p99 within ${MAX_P99_MS} ms, i.e. did not queue; %core = CPU s of all"
  echo " the server's threads / window s, 100% = one core; calls per core = 100 / (%core per call);"
  echo " RSS per call = (RSS under load - idle RSS) / N; latency = send stamp to the kernel's receive"
  echo " stamp at the far side, so it includes the generator's sendmmsg and the kernel's loopback path,"
  echo " which the direct rows show alone)"
  echo
  echo "why the stepping stopped:"
  local t n p
  for t in ferroswitch:F rtpengine:E; do
    n=${t%%:*} p=${t##*:}
    printf '  %-12s %s\n' "$n" "$(v "$p" LIMIT)"
    [ "$(v "$p" L_WHY)" != 0 ] || continue
    awk -v sc="$(v "$p" L_server_core_pct)" -v gb="$(v "$p" L_gen_busy_max_pct)" -v gl="$(v "$p" L_gen_late_p99_us)" \
      -v mb="$(v "$p" L_machine_busy_pct)" -v lossy="$(v "$p" L_streams_lossy)" -v drops="$(v "$p" L_udp_drops)" \
      -v l99="$(v "$p" L_lat_p99_us)" -v gc="$(v "$p" L_gen_cpu_s)" -v w="$(v "$p" L_window_s)" 'BEGIN {
      if (w <= 0) w = 1
      printf "  %-12s server %.0f%% of a core, generator %.0f%% (busiest thread %d%%, slots served %dus late at p99),\n", "", sc, 100 * gc / w, gb, gl
      printf "  %-12s machine %d%% busy; %d streams lost packets, kernel dropped %d datagrams at full buffers; p99 %dus\n", "", mb, lossy, drops, l99
      if (mb >= 90) printf "  %-12s -> the two shared cores were full: the generator and the relay limit each other\n", ""
      else if (gb >= 90) printf "  %-12s -> the GENERATOR was the limit (a thread near 100%%): the max is a lower bound\n", ""
      else if (sc >= 90) printf "  %-12s -> the relay was near a full core\n", "" }'
  done
  echo
  if [ "${F_B_N:-0}" -gt 0 ] && [ "${E_B_N:-0}" -gt 0 ]; then
    awk -v fn="$F_B_N" -v en="$E_B_N" -v fkn="$(v FK B_N)" -v ekn="$(v EK B_N)" -v mp="$MAX_P99_MS" \
        -v fc="$F_B_server_core_pct_per_call" -v ec="$E_B_server_core_pct_per_call" \
        -v fr="$F_B_rss_per_call_kb" -v er="$E_B_rss_per_call_kb" -v fl="$F_B_lat_p99_us" -v el="$E_B_lat_p99_us" \
        -v fk="$F_LIMIT" -v ek="$E_LIMIT" -v mf="${MARGINAL[ferroswitch]:-0}" -v me="${MARGINAL[rtpengine]:-0}" 'BEGIN {
      note = ""
      if (fk ~ /budget|skipped|all of/ && ek ~ /budget|skipped|all of/) note = "   (neither reached its limit: not a capacity comparison)"
      else if (ek ~ /budget|skipped|all of/) note = "   (rtpengine max is a lower bound, so this ratio is an upper bound)"
      else if (fk ~ /budget|skipped|all of/) note = "   (ferroswitch max is a lower bound, so this ratio is a lower bound)"
      printf "RATIO ferroswitch/rtpengine:  max N, zero loss  %.2f%s   (issue 9 target >= 1.5)\n", fn / en, note
      if (fkn > 0 && ekn > 0) printf "                              max N, p99<=%dms  %.2f   (%d vs %d)\n", mp, fkn / ekn, fkn, ekn
      if (ec > 0) printf "                              CPU per call      %.2f   (each at its zero-loss max; above 1: ferroswitch spends more)\n", fc / ec
      if (er > 0) printf "                              RSS per call      %.2f   (%.1f vs %.1f KiB)\n", fr / er, fr, er
      if (mf > 0 && me > 0) printf "                              RSS slope         %.2f   (%.1f vs %.1f KiB per additional call)\n", mf / me, mf, me
      if (fl >= 200000 || el >= 200000) printf "                              latency p99       n/a    (%d vs %d us: 200 ms is the histogram cap, i.e. queueing)\n", fl, el
      else if (el > 0) printf "                              latency p99       %.2f   (%d vs %d us)\n", fl / el, fl, el }'
    local k
    for k in "${!CPU_AT[@]}"; do
      case $k in ferroswitch:*) k=${k#*:}; [ -n "${CPU_AT[rtpengine:$k]:-}" ] && echo "$k" ;; esac
    done | sort -n | while read -r k; do
      awk -v n="$k" -v f="${CPU_AT[ferroswitch:$k]}" -v e="${CPU_AT[rtpengine:$k]}" 'BEGIN {
        if (e > 0) printf "                              CPU per call      %.2f   (both at N=%d: ferroswitch %.4f%%, rtpengine %.4f%% of a core)\n", f / e, n, f, e }'
    done
  else
    echo "RATIO ferroswitch/rtpengine: n/a (a target had no clean step)"
  fi
  if [ "${F_B_N:-0}" -gt 0 ] && [ "${TRANSCODE:-0}" = 1 ]; then
    echo
    awk -v n="$F_B_N" -v pc="$F_B_server_core_pct_per_call" 'BEGIN {
      printf "issue 9 target for ferroswitch (measured here, at its highest clean N=%d, every call transcoded):\n", n
      printf "  >= 600 transcoded Opus<->PCMU calls per core: %.4f%% of a core per call = %.0f calls per core -> %s\n", pc, (pc > 0 ? 100 / pc : 0), (pc > 0 && 100 / pc >= 600 ? "met" : "NOT met") }'
  elif [ "${F_B_N:-0}" -gt 0 ]; then
    echo
    awk -v n="$F_B_N" -v pc="$F_B_server_core_pct_per_call" -v l99="$F_B_lat_p99_us" -v rc="$F_B_rss_per_call_kb" -v en="${E_B_N:-0}" \
        -v kn="$(v FK B_N)" -v kl99="$(v FK B_lat_p99_us)" -v d99="${D_LAT99[$F_B_N]:-0}" -v mf="${MARGINAL[ferroswitch]:-0}" 'BEGIN {
      printf "issue 9 targets for ferroswitch (measured here, at its highest zero-loss N=%d):\n", n
      printf "  >= 3000 relayed calls per core (<= 0.033%% of a core per call): %.4f%% per call = %.0f calls per core -> %s\n", pc, (pc > 0 ? 100 / pc : 0), (pc > 0 && pc <= 0.0333 ? "met" : "NOT met")
      printf "  added latency p99 <= 1 ms: %d us (the generator and kernel alone: %d us) -> %s\n", l99, d99, (l99 <= 1000 ? "met" : "NOT met")
      if (kn > 0) printf "      (at N=%d, its highest N without queueing: p99 %d us)\n", kn, kl99
      printf "  <= 48 KiB RSS per relayed call: %.1f KiB -> %s\n", rc, (rc <= 48 ? "met" : "NOT met")
      if (mf > 0) printf "      (slope between its clean steps: %.1f KiB per additional call)\n", mf
      if (en > 0) printf "  >= 1.5 x rtpengine userspace calls: %.2f x -> %s\n", n / en, (n / en >= 1.5 ? "met" : "NOT met") }'
  fi
  if [ -n "$FLOOR" ]; then
    echo
    awk -v s="$(fv sockets)" -v pp="$(fv per_packet_us)" -v r="$(fv recv_us)" -v sd="$(fv send_us)" -v bp="$(fv batched_per_packet_us)" \
        -v z="$(fv syscall_us)" -v fn="${F_B_N:-0}" -v fc="${F_B_server_core_pct_per_call:-0}" -v en="${E_B_N:-0}" \
        -v ec="${E_B_server_core_pct_per_call:-0}" -v tc="${TRANSCODE:-0}" 'BEGIN {
      # A call relays 50 packets a second each way: 100 reads and 100 sends.
      printf "KERNEL FLOOR (udpfloor: a loop that only reads and sends, one thread, %d loopback sockets, no relay logic):\n", s
      printf "  %.2f us per relayed packet (recv %.2f + send %.2f, the send carrying the loopback delivery),\n", pp, r, sd
      printf "  %.2f us with recvmmsg/sendmmsg of 64 on one shared socket; an empty system call %.2f us\n", bp, z
      printf "  = at most %.0f calls per core (%.0f batched) for any userspace relay of 20 ms G.711 on this machine\n", 1e4 / pp, 1e4 / bp
      if (fn > 0 && fc > 0) printf "  ferroswitch at N=%d: %.2f us per relayed packet, %.2f x the floor%s\n", fn, fc * 100, fc * 100 / pp, (tc == 1 ? " (transcoding included)" : "")
      if (en > 0 && ec > 0) printf "  rtpengine   at N=%d: %.2f us per relayed packet, %.2f x the floor\n", en, ec * 100, ec * 100 / pp
      if (tc != 1) printf "  (3000 calls per core means <= 3.33 us per relayed packet; the batched floor alone is %.1f x that)\n", bp / 3.333 }'
  fi
  awk -v a="$(v F B_other_cpu_s)" -v aw="$(v F B_window_s)" -v b="$(v E B_other_cpu_s)" -v bw="$(v E B_window_s)" 'BEGIN {
    if ((aw > 0 && a / aw > 0.1) || (bw > 0 && b / bw > 0.1))
      printf "WARNING: other processes used %.0f%% / %.0f%% of a core during the best steps (ferroswitch / rtpengine);\n         the numbers are disturbed.\n", (aw > 0 ? 100 * a / aw : 0), (bw > 0 ? 100 * b / bw : 0) }'
  echo "details: benches/out/$NAME/ (steps.csv and steps.txt: every rtpload line; server logs; rtpload.err)"
}

report | tee "$LOGS/report.txt"
echo "total time: $((SECONDS - T0)) s"
# Success: every target asked for had a clean step.
for t in $TARGETS; do
  case $t in
    ferroswitch) [ "${F_B_N:-0}" -gt 0 ] || exit 1 ;;
    rtpengine) [ "${E_B_N:-0}" -gt 0 ] || exit 1 ;;
  esac
done
