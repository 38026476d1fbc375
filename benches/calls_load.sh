#!/usr/bin/env bash
# Issue 9 scenario 1: authenticated calls per second, media bypassed, over
# UDP, first through ferroswitch (B2BUA, media.mode=bypass), then through
# Kamailio 5.6 as a stateful record-routing proxy doing the same digest
# authentication and location lookup, in the same command on the same
# machine, and the ratio between the two.
#
# Per step: start the server; register the callee (extension 1001, a sipp
# UAS on its own port, benches/scenarios/register_load.xml from that port);
# start the UAS (benches/scenarios/call_uas.xml: answers every INVITE at once
# with 200 + SDP); then the caller (extension 1000, benches/scenarios/
# call_uac.xml) makes calls at the step's rate: INVITE, 407, ACK, INVITE
# with Proxy-Authorization, 200, ACK, no pause, BYE, 200.
#
# ferroswitch: two dialogs per call (caller leg and callee leg), digest
# check of every INVITE, callee looked up in the registrar, SDP passed
# through untouched, and a CDR row written to SQLite after each call (off
# the call path). Kamailio (benches/kamailio/calls.cfg): proxy_authenticate
# against an htable, lookup("location"), record_route, t_relay; no dialog
# state, no CDRs, registrations in memory.
#
# Stepping and the "clean" rule are those of options_load.sh (< 0.1% failed
# calls, all finished, sipp at >= 95% of the asked pace); the server is
# restarted for every step. Server RSS is read right before the caller
# starts and right after its last call (before the server is stopped).
#
# Knobs (environment): FERROSWITCH_BIN (skip the build), START_RATE (500),
# FACTOR (1.5), STEP_SECONDS (5), MAX_RATE (20000), TARGET_BUDGET (75 s of
# stepping per target), KAM_CHILDREN (4 UDP workers; ferroswitch runs 2
# runtime + 2 SQLite threads), KAM_SHM (2048 MB of Kamailio shared memory:
# with 512, tm runs out of it near 4000 calls/s in a 5 s step, because each
# call's transactions stay for tm's wait timer), KAM_EXTRA_ARGS (more
# kamailio flags), TARGETS (which servers; both), HARD_LIMIT (180),
# FS_EXTRA_ARGS (more ferroswitch --set flags).
#
# Target "stalled" (issue 8: "a deliberately stalled client is disconnected
# while calls continue at full rate"): ferroswitch again, stepped the same
# way, with a WebSocket client subscribed to every event of /v1/events that
# never reads (testbeds/ws_events.py stall, a 4 KiB receive buffer) for the
# whole step. It is not stepped: it runs at ferroswitch's max clean rate
# (found just before, without the client), twice, each time after a step at
# the same rate without the client (that max is the edge of failure, so the
# pairs show how often each is clean), and reports whether the switch
# dropped the client.
set -Eeuo pipefail

NAME=calls_load
START_RATE=${START_RATE:-500}
FACTOR=${FACTOR:-1.5}
STEP_SECONDS=${STEP_SECONDS:-5}
STEP_OVERHEAD=3
MAX_RATE=${MAX_RATE:-20000}
TARGET_BUDGET=${TARGET_BUDGET:-75}
KAM_CHILDREN=${KAM_CHILDREN:-4}
KAM_SHM=${KAM_SHM:-2048}
HARD_LIMIT=${HARD_LIMIT:-180}
FS_EXTRA_ARGS=${FS_EXTRA_ARGS:-}
TARGETS=${TARGETS:-ferroswitch stalled kamailio}
STEP_VARS="RATE CALLS OK FAILED RETRANS ACHIEVED WALL SCPU SIPPCPU UASCPU IRQ OTHER DROPS RC NON200 NOREPLY RSS0 RSS1 PSS0 PSS1 PROCS UASFAILED CDRS STALL"
STALL_TOKEN=bench-$RANDOM$RANDOM$RANDOM
STALL_STEPS=0 STALL_DROPPED=0

# shellcheck source=lib/sipbench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/sipbench.sh"
KAM_CFG=$BENCH/kamailio/calls.cfg

make_call_parties

declare -A CPUCALL  # "name:rate" -> server CPU microseconds per call of a clean step

# mem PID: sets MEM_RSS MEM_PSS (kB, summed over the process tree) MEM_PROCS.
mem() {
  local line rss_kb pss_kb procs
  line=$(python3 "$MEM" "$1")
  eval "$(echo "$line" | tr ' ' '\n' | sed -n 's/^\([a-z_]*\)=\([0-9]*\)$/\1=\2/p')"
  MEM_RSS=$rss_kb MEM_PSS=$pss_kb MEM_PROCS=$procs
}

# cdr_count DB: rows in ferroswitch's cdrs table (read-only), "?" if unknown.
cdr_count() {
  python3 - "$1" <<'PY' 2>/dev/null || echo "?"
import sqlite3, sys
con = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=5)
print(con.execute("select count(*) from cdrs").fetchone()[0])
PY
}

# udp_bound PORT: true once something listens on 127.0.0.1:PORT (UDP).
udp_bound() {
  local hex; hex=$(printf '0100007F:%04X' "$1")
  grep -q " $hex " /proc/net/udp
}

run_step() {
  local name=$1 rate=$2 i
  if [ "$name" = ferroswitch ]; then
    start_ferroswitch --set media.mode=bypass
  elif [ "$name" = stalled ]; then
    start_ferroswitch --set media.mode=bypass --set http.token="$STALL_TOKEN"
  else
    start_kamailio "$KAM_CFG" -A "BENCH_USERS=2"
  fi
  local tag=$name.$rate
  # The callee registers from the port its UAS will then answer on.
  local uport; uport=$(free_port)
  if ! sipp -sf "$SCEN/register_load.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p "$uport" -t u1 -inf "$RUN/callee.csv" \
       -m 1 -recv_timeout 5000 -timeout 10s -nostdin -trace_err -error_file "$LOGS/sipp/$tag.register.errors.log" \
       >"$LOGS/sipp/$tag.register.log" 2>&1; then
    echo "$NAME: the callee could not register to $name; see $LOGS/sipp/$tag.register.*" >&2
    exit 1
  fi
  sipp -sf "$SCEN/call_uas.xml" -i 127.0.0.1 -p "$uport" -t u1 -buff_size 4194304 -nostdin \
    -trace_stat -stf "$LOGS/sipp/$tag.uas.csv" -fd 1 \
    -trace_err -error_file "$LOGS/sipp/$tag.uas.errors.log" -max_log_size 2000000 \
    >/dev/null 2>"$LOGS/sipp/$tag.uas.err" &
  local uas=$!
  PIDS+=("$uas")
  for ((i = 0; i < 50; i++)); do udp_bound "$uport" && break; sleep 0.1; done
  udp_bound "$uport" || { echo "$NAME: the callee sipp did not start; see $LOGS/sipp/$tag.uas.err" >&2; exit 1; }

  local stall=
  if [ "$name" = stalled ]; then
    # Subscribed to everything, reading nothing, for longer than the step.
    rm -f "$RUN/stall.ready"
    WS_READY=$RUN/stall.ready python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$STALL_TOKEN" "" stall $((STEP_SECONDS + 6)) \
      >"$LOGS/$tag.stall.log" 2>&1 &
    stall=$!
    PIDS+=("$stall")
    for ((i = 0; i < 50; i++)); do [ -e "$RUN/stall.ready" ] && break; sleep 0.1; done
    [ -e "$RUN/stall.ready" ] || { echo "$NAME: the stalled event client did not subscribe; see $LOGS/$tag.stall.log" >&2; exit 1; }
  fi
  mem "$SERVER_PID"; R_RSS0=$MEM_RSS R_PSS0=$MEM_PSS
  local u0; u0=$(cpu_of "$uas")
  local calls=$((rate * STEP_SECONDS))
  local csv=$LOGS/sipp/$tag.csv
  python3 "$STEP" run "$SERVER_PID" "$csv" $((STEP_SECONDS + 15)) -- \
    sipp -sf "$SCEN/call_uac.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 \
    -s 1001 -inf "$RUN/caller.csv" -au 1000 -ap benchpass1000 \
    -m "$calls" -r "$rate" -rp 1000 -l $((rate * 3)) -recv_timeout 4000 \
    -timeout $((STEP_SECONDS + 10))s -buff_size 4194304 -nostdin \
    -trace_stat -stf "$csv" -fd 1 -trace_err -error_file "$LOGS/sipp/$tag.errors.log" -max_log_size 2000000 \
    >"$RUN/step" 2>"$LOGS/sipp/$tag.err" &
  local sp=$!
  PIDS+=("$sp")
  wait "$sp" || true
  forget "$sp"
  local u1; u1=$(cpu_of "$uas")
  mem "$SERVER_PID"; R_RSS1=$MEM_RSS R_PSS1=$MEM_PSS R_PROCS=$MEM_PROCS
  # ferroswitch writes each CDR after its call, one SQLite transaction each,
  # off the call path: count how many were durable when the caller ended.
  R_CDRS=
  [ "$name" != kamailio ] && R_CDRS=$(cdr_count "$RUN/ferroswitch/ferroswitch.db")
  R_STALL=
  if [ -n "$stall" ]; then
    # The client reads once its stall ends: an overflow notice or a closed
    # connection means the switch dropped it.
    wait "$stall" || true
    forget "$stall"
    R_STALL=$(sed -n 's/^RESULT=//p' "$LOGS/$tag.stall.log")
    STALL_STEPS=$((STALL_STEPS + 1))
    [ "$R_STALL" != "still-connected" ] && [ -n "$R_STALL" ] && STALL_DROPPED=$((STALL_DROPPED + 1))
  fi
  stop_pid "$uas"
  stop_server
  local line
  line=$(cat "$RUN/step")
  [ -n "$line" ] || { echo "$NAME: step runner failed" >&2; cat "$LOGS/sipp/$tag.err" >&2; exit 1; }
  verdict "$line" "$calls" "$rate"
  # step.py counts everything but the server and the caller's sipp as
  # "other"; the callee's sipp is ours, so take it out of there.
  R_UASCPU=$(awk -v a="$u0" -v b="$u1" 'BEGIN { printf "%.2f", b - a }')
  R_OTHER=$(awk -v o="$R_OTHER" -v u="$R_UASCPU" 'BEGIN { o -= u; printf "%.2f", (o < 0 ? 0 : o) }')
  R_UASFAILED=$(python3 - "$LOGS/sipp/$tag.uas.csv" <<'PY'
import sys
try:
    lines = [l.rstrip("\n").split(";") for l in open(sys.argv[1], encoding="latin-1") if l.strip()]
    print(int(float(dict(zip(lines[0], lines[-1])).get("FailedCall(C)", "0") or 0)))
except Exception:
    print("?")
PY
)
  if [ "$R_WHY" = clean ]; then
    CPUCALL[$name:$rate]=$(awk -v c="$R_SCPU" -v n="$R_OK" 'BEGIN { printf "%.1f", 1e6 * c / n }')
  fi
  printf '  %-11s %5d/s got %5.0f/s ok %6d failed %5d (callee %s) retrans %6d udp-drops %6d %5.2fs | CPU s: server %4.2f caller %4.2f callee %4.2f irq %4.2f other %4.2f | RSS %s->%s MB%s | %s\n' \
    "$name" "$rate" "$R_ACHIEVED" "$R_OK" "$R_FAILED" "$R_UASFAILED" "$R_RETRANS" "$R_DROPS" "$R_WALL" "$R_SCPU" "$R_SIPPCPU" \
    "$R_UASCPU" "$R_IRQ" "$R_OTHER" "$((R_RSS0 / 1024))" "$((R_RSS1 / 1024))" "${R_CDRS:+ | CDRs written $R_CDRS}${R_STALL:+ | stalled client: $R_STALL}" "$R_WHY"
  echo "$name,$rate,$calls,$R_ACHIEVED,$R_OK,$R_FAILED,$R_UASFAILED,$R_RETRANS,$R_DROPS,$R_WALL,$R_SCPU,$R_SIPPCPU,$R_UASCPU,$R_IRQ,$R_OTHER,$R_RSS0,$R_RSS1,$R_PSS0,$R_PSS1,$R_CDRS,$R_RC,$R_WHY" >>"$LOGS/steps.csv"
}


echo "name,rate,calls,achieved,ok,failed,callee_failed,retrans,udp_drops,wall_s,server_cpu_s,caller_sipp_cpu_s,callee_sipp_cpu_s,irq_cpu_s,other_cpu_s,rss_before_kb,rss_after_kb,pss_before_kb,pss_after_kb,cdrs_written,sipp_rc,verdict" >"$LOGS/steps.csv"
echo "authenticated calls over UDP on 127.0.0.1 (INVITE/407/ACK/INVITE/200/ACK/BYE/200, no pause), $STEP_SECONDS s per step, rate from $START_RATE/s x $FACTOR"
echo "steps:"
for v in $STEP_VARS; do eval "F_B_$v= K_B_$v= F_L_$v= K_L_$v="; done
F_B_RATE=0 K_B_RATE=0 S_B_RATE=0 F_LIMIT="not run (TARGETS)" K_LIMIT="not run (TARGETS)" F_KIND=skipped K_KIND=skipped S_KIND=skipped
case " $TARGETS " in *" ferroswitch "*) measure ferroswitch; save F ;; esac
STALL_RUNS=()
case " $TARGETS " in *" stalled "*)
  if [ "${F_B_RATE:-0}" -gt 0 ]; then
    S_KIND=run
    STALL_CLEAN=0 PLAIN_CLEAN=0
    for _ in 1 2; do
      run_step ferroswitch "$F_B_RATE"
      STALL_RUNS+=("without: $R_WHY: $R_OK of $R_CALLS calls completed at $R_ACHIEVED/s, $R_RETRANS retransmissions")
      [ "$R_WHY" = clean ] && PLAIN_CLEAN=$((PLAIN_CLEAN + 1))
      run_step stalled "$F_B_RATE"
      STALL_RUNS+=("with:    $R_WHY: $R_OK of $R_CALLS calls completed at $R_ACHIEVED/s, $R_RETRANS retransmissions, stalled client: ${R_STALL:-?}")
      [ "$R_WHY" = clean ] && STALL_CLEAN=$((STALL_CLEAN + 1)) S_B_RATE=$F_B_RATE
    done
  fi ;;
esac
case " $TARGETS " in *" kamailio "*) measure kamailio; save K ;; esac

report() {
  echo
  echo "== Calls load benchmark (issue 9, scenario 1), $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
  echo "client:  $SIPP_VERSION, two processes over UDP: caller 1000 (benches/scenarios/call_uac.xml, answers the"
  echo "         407 of every INVITE) and callee 1001 (call_uas.xml, registered first with digest); ${STEP_SECONDS}s per"
  echo "         step, each step against a freshly started server; no pause between 200/ACK and BYE"
  echo "servers: $FS_VERSION (release build, B2BUA, media.mode=bypass, log.level=warn${FS_EXTRA_ARGS:+ $FS_EXTRA_ARGS})"
  echo "         | $KAM_VERSION, stateful record-routing proxy: proxy_authenticate (htable), lookup(\"location\"),"
  echo "         t_relay; $KAM_CHILDREN UDP workers, -m $KAM_SHM"
  echo "host:    $(nproc) cores, SHARED by both sipps, the server under test and the kernel's loopback work"
  echo
  echo "NOT THE SAME WORK: ferroswitch is a B2BUA - two dialogs per call, its own transactions on both"
  echo "  legs, and one CDR row per call written to SQLite after the call (one transaction each)."
  echo "  Kamailio relays within transactions only: no dialog state, no CDR. Both check the digest"
  echo "  of every INVITE and look up the callee's registration."
  echo
  printf '%-12s %9s %9s %6s %7s %7s %6s %8s %13s %7s %7s %9s\n' \
    "" "max clean" achieved calls retrans "server" "server" "server" "server RSS MB" "caller" "callee" "irq+other"
  printf '%-12s %9s %9s %6s %7s %7s %6s %8s %13s %7s %7s %9s\n' \
    target "calls/s" "calls/s" "" "" "CPU s" "%core" "us/call" "before->after" "sipp" "sipp" "CPU s"
  row() { # NAME PREFIX
    local p=$2 rate ach ok re scpu sipp uas wall irq other r0 r1
    eval "rate=\$${p}_B_RATE ach=\$${p}_B_ACHIEVED ok=\$${p}_B_OK re=\$${p}_B_RETRANS scpu=\$${p}_B_SCPU"
    eval "sipp=\$${p}_B_SIPPCPU uas=\$${p}_B_UASCPU wall=\$${p}_B_WALL irq=\$${p}_B_IRQ other=\$${p}_B_OTHER"
    eval "r0=\$${p}_B_RSS0 r1=\$${p}_B_RSS1"
    if [ "${rate:-0}" -eq 0 ]; then
      printf '%-12s %9s\n' "$1" "no clean step"; return
    fi
    awk -v n="$1" -v r="$rate" -v a="$ach" -v ok="$ok" -v re="$re" -v c="$scpu" -v s="$sipp" -v u="$uas" \
        -v w="$wall" -v i="$irq" -v o="$other" -v r0="$r0" -v r1="$r1" 'BEGIN {
      printf "%-12s %9d %9.0f %6d %7d %7.2f %5.0f%% %8.0f %6.1f->%-6.1f %6.0f%% %6.0f%% %4.2f+%4.2f\n",
        n, r, a, ok, re, c, 100 * c / w, 1e6 * c / ok, r0 / 1024, r1 / 1024, 100 * s / w, 100 * u / w, i, o }'
  }
  row ferroswitch F
  row kamailio K
  echo "(the best clean step of each; %core = CPU s / wall s of that step, 100% = one core; sipp columns"
  echo " are %core of the caller and callee sipp processes)"
  if [ "${K_B_RATE:-0}" -gt 0 ]; then
    awk -v n="$K_B_PROCS" -v p0="$K_B_PSS0" -v p1="$K_B_PSS1" 'BEGIN {
      printf "(kamailio RSS = VmRSS summed over its %d processes, which counts its shared memory once per\n", n
      printf " process; PSS summed, which does not: %.1f->%.1f MB)\n", p0 / 1024, p1 / 1024 }'
  fi
  if [ "${F_B_RATE:-0}" -gt 0 ] && [ -n "${F_B_CDRS:-}" ] && [ "$F_B_CDRS" != "?" ]; then
    awk -v c="$F_B_CDRS" -v ok="$F_B_OK" -v w="$F_B_WALL" 'BEGIN {
      if (c >= ok) { printf "(ferroswitch had all %d CDRs in SQLite when its best step ended)\n", ok; exit }
      printf "(ferroswitch CDRs: %d of %d were in SQLite when its best step ended, about %.0f/s; the rest, and\n", c, ok, c / w
      printf " the CPU to write them, come after the step and are NOT in the table: CPU per call is a lower bound)\n" }'
  fi
  echo
  echo "why the stepping stopped (first unclean step; CPU during it as % of one core):"
  local t n p lr sc
  for t in ferroswitch:F kamailio:K; do
    n=${t%%:*} p=${t##*:}
    why_stopped "$p" "$n"
    eval "lr=\${${p}_L_RATE:-}"
    if [ -n "$lr" ]; then
      sc=$(status_counts "$LOGS/sipp/$n.$lr.errors.log")
      [ -n "$sc" ] && echo "               unexpected replies that failed calls: $sc"
    fi
  done
  echo
  if [ "${F_B_RATE:-0}" -gt 0 ] && [ "${K_B_RATE:-0}" -gt 0 ]; then
    awk -v fr="$F_B_RATE" -v kr="$K_B_RATE" -v note="$(ratio_note "$F_KIND" "$K_KIND")" \
        -v fc="$F_B_SCPU" -v fo="$F_B_OK" -v kc="$K_B_SCPU" -v ko="$K_B_OK" \
        -v fr1="$F_B_RSS1" -v kp1="$K_B_PSS1" 'BEGIN {
      printf "RATIO ferroswitch/kamailio:  max clean rate   %.2f%s\n", fr / kr, note
      printf "                             (above 1: ferroswitch completes more calls/s)\n"
      if (fc > 0 && kc > 0)
        printf "                             CPU per call     %.2f   (at each one'\''s max; above 1: ferroswitch spends more)\n", (fc / fo) / (kc / ko)
      if (kp1 > 0)
        printf "                             memory after     %.2f   (ferroswitch RSS / kamailio PSS sum, each after its best step)\n", fr1 / kp1
    }'
    local r best=0
    for r in "${!CPUCALL[@]}"; do
      case $r in ferroswitch:*) r=${r#*:}; [ -n "${CPUCALL[kamailio:$r]:-}" ] && [ "$r" -gt "$best" ] && best=$r ;; esac
    done
    if [ "$best" -gt 0 ]; then
      awk -v r="$best" -v f="${CPUCALL[ferroswitch:$best]}" -v k="${CPUCALL[kamailio:$best]}" 'BEGIN {
        if (k > 0) printf "                             CPU per call     %.2f   (both at %d/s: ferroswitch %.0f us, kamailio %.0f us)\n", f / k, r, f, k }'
    fi
  else
    echo "RATIO ferroswitch/kamailio: n/a (a target had no clean step)"
  fi
  if [ "$S_KIND" != skipped ]; then
    echo
    echo "with a stalled event client (subscribed to every event of /v1/events, reading nothing, 4 KiB"
    echo "receive buffer), at ferroswitch's max clean rate ${F_B_RATE}/s, alternating with steps without it;"
    echo "the switch dropped the client in $STALL_DROPPED of $STALL_STEPS steps:"
    local l; for l in "${STALL_RUNS[@]}"; do echo "  $l"; done
    echo "RESULT stalled event client at ${F_B_RATE}/s: clean steps with it $STALL_CLEAN of 2, without it $PLAIN_CLEAN of 2"
  fi
  awk -v a="${F_B_OTHER:-0}" -v aw="${F_B_WALL:-1}" -v b="${K_B_OTHER:-0}" -v bw="${K_B_WALL:-1}" 'BEGIN {
    if (a / aw > 0.1 || b / bw > 0.1)
      print "WARNING: other processes used >10% of a core during a best step; numbers are disturbed." }'
  echo "details: benches/out/$NAME/ (steps.csv, sipp CSVs and error logs of caller, callee and registration, server logs)"
}

report | tee "$LOGS/report.txt"
echo "total time: $((SECONDS - T0)) s"
# Fails when a target that ran had no clean step.
case " $TARGETS " in *" ferroswitch "*) [ "${F_B_RATE:-0}" -gt 0 ] || exit 1 ;; esac
case " $TARGETS " in *" kamailio "*) [ "${K_B_RATE:-0}" -gt 0 ] || exit 1 ;; esac
