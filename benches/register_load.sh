#!/usr/bin/env bash
# Issue 9 registrar benchmark: REGISTER with digest authentication per
# second over UDP from sipp, first against ferroswitch, then against
# Kamailio 5.6 as a DB-less registrar doing the same digest authentication,
# in the same command on the same machine, and the ratio between the two.
#
# One sipp "call" = one registration: REGISTER, 401 (MD5, qop=auth),
# REGISTER with Authorization, 200 (benches/scenarios/register_load.xml).
# USERS extensions (1000.., password benchpass<number>) take turns, each with
# its own credentials and its own Contact; every call has a new Call-ID, so
# each 200 replaces that user's binding.
#
# ferroswitch sends the 200 only after the binding is committed to SQLite
# (WAL, synchronous=FULL, group commit): durability is part of what is
# measured. Kamailio (benches/kamailio/register.cfg: htable passwords,
# pv_www_authenticate, save("location") with usrloc db_mode=0) keeps
# registrations in memory only.
#
# Stepping and the "clean" rule are those of options_load.sh: the rate
# starts at START_RATE and grows by FACTOR per STEP_SECONDS step until a
# step is not clean (>= 0.1% failed, unfinished calls, or sipp below 95% of
# the asked pace), then one step in between is tried. The server is
# restarted before every step (ferroswitch from a fresh copy of a data dir
# holding the extensions), so steps do not depend on each other.
#
# Knobs (environment): FERROSWITCH_BIN (skip the build), USERS (100),
# START_RATE (1000), FACTOR (1.5), STEP_SECONDS (5), MAX_RATE (60000),
# TARGET_BUDGET (75 s of stepping per target), KAM_CHILDREN (4 UDP
# workers; ferroswitch runs 2 runtime + 2 SQLite threads), KAM_SHM (512 MB
# of Kamailio shared memory),
# KAM_EXTRA_ARGS (more kamailio flags), TARGETS (which servers; both),
# HARD_LIMIT (180), FS_EXTRA_ARGS (more ferroswitch --set flags).
set -Eeuo pipefail

NAME=register_load
USERS=${USERS:-100}
START_RATE=${START_RATE:-1000}
FACTOR=${FACTOR:-1.5}
STEP_SECONDS=${STEP_SECONDS:-5}
STEP_OVERHEAD=2
MAX_RATE=${MAX_RATE:-60000}
TARGET_BUDGET=${TARGET_BUDGET:-75}
KAM_CHILDREN=${KAM_CHILDREN:-4}
KAM_SHM=${KAM_SHM:-512}
HARD_LIMIT=${HARD_LIMIT:-180}
FS_EXTRA_ARGS=${FS_EXTRA_ARGS:-}
TARGETS=${TARGETS:-ferroswitch kamailio}
STEP_VARS="RATE CALLS OK FAILED RETRANS ACHIEVED WALL SCPU SIPPCPU IRQ OTHER DROPS RC NON200 NOREPLY"

# shellcheck source=lib/sipbench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/sipbench.sh"
SCENARIO=$SCEN/register_load.xml
KAM_CFG=$BENCH/kamailio/register.cfg

# Injection file: user;domain;[authentication ...]. sipp 3.6.1 does not
# expand [field] inside an [authentication ...] keyword, but a whole
# [authentication username=U password=P] keyword in a field is expanded.
{
  echo SEQUENTIAL
  for ((i = 0; i < USERS; i++)); do
    echo "$((1000 + i));127.0.0.1;[authentication username=$((1000 + i)) password=benchpass$((1000 + i))]"
  done
} >"$RUN/users.csv"
make_template "$USERS"

declare -A CPU1K  # "name:rate" -> server CPU seconds per 1000 REGISTERs of a clean step

run_step() {
  local name=$1 rate=$2
  if [ "$name" = ferroswitch ]; then
    start_ferroswitch
  else
    start_kamailio "$KAM_CFG" -A "BENCH_USERS=$USERS"
  fi
  local calls=$((rate * STEP_SECONDS))
  local csv=$LOGS/sipp/$name.$rate.csv
  python3 "$STEP" run "$SERVER_PID" "$csv" $((STEP_SECONDS + 15)) -- \
    sipp -sf "$SCENARIO" "127.0.0.1:$PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -inf "$RUN/users.csv" \
    -m "$calls" -r "$rate" -rp 1000 -l $((rate * 3)) -recv_timeout 2000 \
    -timeout $((STEP_SECONDS + 10))s -buff_size 4194304 -nostdin -default_behaviors all,-bye \
    -trace_stat -stf "$csv" -fd 1 -trace_err -error_file "$LOGS/sipp/$name.$rate.errors.log" -max_log_size 2000000 \
    >"$RUN/step" 2>"$LOGS/sipp/$name.$rate.err" &
  local sp=$!
  PIDS+=("$sp")
  wait "$sp" || true
  forget "$sp"
  stop_server
  local line
  line=$(cat "$RUN/step")
  [ -n "$line" ] || { echo "$NAME: step runner failed" >&2; cat "$LOGS/sipp/$name.$rate.err" >&2; exit 1; }
  verdict "$line" "$calls" "$rate"
  if [ "$R_WHY" = clean ]; then
    CPU1K[$name:$rate]=$(awk -v c="$R_SCPU" -v n="$R_OK" 'BEGIN { printf "%.3f", 1000 * c / n }')
  fi
  printf '  %-11s %6d/s got %6.0f/s ok %6d failed %6d retrans %6d udp-drops %6d %5.2fs | CPU s: server %4.2f sipp %4.2f irq %4.2f other %4.2f | %s\n' \
    "$name" "$rate" "$R_ACHIEVED" "$R_OK" "$R_FAILED" "$R_RETRANS" "$R_DROPS" "$R_WALL" "$R_SCPU" "$R_SIPPCPU" "$R_IRQ" "$R_OTHER" "$R_WHY"
  echo "$name,$rate,$calls,$R_ACHIEVED,$R_OK,$R_FAILED,$R_RETRANS,$R_DROPS,$R_WALL,$R_SCPU,$R_SIPPCPU,$R_IRQ,$R_OTHER,$R_RC,$R_WHY" >>"$LOGS/steps.csv"
}


echo "name,rate,calls,achieved,ok,failed,retrans,udp_drops,wall_s,server_cpu_s,sipp_cpu_s,irq_cpu_s,other_cpu_s,sipp_rc,verdict" >"$LOGS/steps.csv"
echo "REGISTER with digest over UDP on 127.0.0.1, $USERS users, $STEP_SECONDS s per step, rate from $START_RATE/s x $FACTOR"
echo "steps:"
for v in $STEP_VARS; do eval "F_B_$v= K_B_$v= F_L_$v= K_L_$v="; done
F_B_RATE=0 K_B_RATE=0 F_LIMIT="not run (TARGETS)" K_LIMIT="not run (TARGETS)" F_KIND=skipped K_KIND=skipped
case " $TARGETS " in *" ferroswitch "*) measure ferroswitch; save F ;; esac
case " $TARGETS " in *" kamailio "*) measure kamailio; save K ;; esac

report() {
  echo
  echo "== REGISTER load benchmark (issue 9), $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
  echo "client:  $SIPP_VERSION, one process, UDP, benches/scenarios/register_load.xml, ${STEP_SECONDS}s per step,"
  echo "         each step against a freshly started server; $USERS users, each with its own digest"
  echo "         credentials and Contact, a new Call-ID per REGISTER (each 200 replaces a binding)"
  echo "servers: $FS_VERSION (release build, log.level=warn${FS_EXTRA_ARGS:+ $FS_EXTRA_ARGS}) | $KAM_VERSION,"
  echo "         htable passwords, pv_www_authenticate, save(\"location\"), usrloc db_mode=0, $KAM_CHILDREN UDP workers, -m $KAM_SHM"
  echo "host:    $(nproc) cores, SHARED by sipp, the server under test and the kernel's loopback work"
  echo
  echo "DURABILITY DIFFERS: ferroswitch answers 200 only after the binding is committed to SQLite"
  echo "  (WAL, synchronous=FULL, group commit) - it survives kill -9 and power loss. Kamailio keeps"
  echo "  the binding in memory only (usrloc db_mode=0) - lost on restart. Same digest work on both."
  echo
  printf '%-12s %9s %9s %7s %7s %8s %6s %9s %8s %6s %9s\n' \
    "" "max clean" achieved "REGs" retrans "server" "server" "server s" "sipp" "sipp" "irq+other"
  printf '%-12s %9s %9s %7s %7s %8s %6s %9s %8s %6s %9s\n' \
    target "REG/s" "REG/s" "" "" "CPU s" "%core" "/1000 REG" "CPU s" "%core" "CPU s"
  row() { # NAME PREFIX
    local p=$2 rate ach ok re scpu sipp wall irq other
    eval "rate=\$${p}_B_RATE ach=\$${p}_B_ACHIEVED ok=\$${p}_B_OK re=\$${p}_B_RETRANS scpu=\$${p}_B_SCPU"
    eval "sipp=\$${p}_B_SIPPCPU wall=\$${p}_B_WALL irq=\$${p}_B_IRQ other=\$${p}_B_OTHER"
    if [ "${rate:-0}" -eq 0 ]; then
      printf '%-12s %9s\n' "$1" "no clean step"; return
    fi
    awk -v n="$1" -v r="$rate" -v a="$ach" -v ok="$ok" -v re="$re" -v c="$scpu" -v s="$sipp" \
        -v w="$wall" -v i="$irq" -v o="$other" 'BEGIN {
      printf "%-12s %9d %9.0f %7d %7d %8.2f %5.0f%% %9.3f %8.2f %5.0f%% %4.2f+%4.2f\n",
        n, r, a, ok, re, c, 100 * c / w, 1000 * c / ok, s, 100 * s / w, i, o }'
  }
  row ferroswitch F
  row kamailio K
  echo "(the best clean step of each; %core = CPU s / wall s of that step, 100% = one core;"
  echo " server s/1000 REG = server CPU seconds per 1000 completed registrations)"
  echo
  echo "why the stepping stopped (first unclean step; CPU during it as % of one core):"
  local t n p lr
  for t in ferroswitch:F kamailio:K; do
    n=${t%%:*} p=${t##*:}
    why_stopped "$p" "$n"
    eval "lr=\${${p}_L_RATE:-}"
    if [ -n "$lr" ]; then
      local sc; sc=$(status_counts "$LOGS/sipp/$n.$lr.errors.log")
      [ -n "$sc" ] && echo "               unexpected replies seen by sipp: $sc"
    fi
  done
  echo
  if [ "${F_B_RATE:-0}" -gt 0 ] && [ "${K_B_RATE:-0}" -gt 0 ]; then
    awk -v fr="$F_B_RATE" -v kr="$K_B_RATE" -v note="$(ratio_note "$F_KIND" "$K_KIND")" \
        -v fc="$F_B_SCPU" -v fo="$F_B_OK" -v kc="$K_B_SCPU" -v ko="$K_B_OK" 'BEGIN {
      printf "RATIO ferroswitch/kamailio:  max clean rate      %.2f%s\n", fr / kr, note
      printf "                             (above 1: ferroswitch sustains more REGISTERs/s)\n"
      if (fc > 0 && kc > 0)
        printf "                             CPU per 1000 REG    %.2f   (at each one'\''s max; above 1: ferroswitch spends more)\n", (fc / fo) / (kc / ko)
    }'
    # The same comparison at the highest rate both passed cleanly: CPU per
    # request falls with the rate (batching, fewer wake-ups), so this one
    # compares like with like.
    local r best=0
    for r in "${!CPU1K[@]}"; do
      case $r in ferroswitch:*) r=${r#*:}; [ -n "${CPU1K[kamailio:$r]:-}" ] && [ "$r" -gt "$best" ] && best=$r ;; esac
    done
    if [ "$best" -gt 0 ]; then
      awk -v r="$best" -v f="${CPU1K[ferroswitch:$best]}" -v k="${CPU1K[kamailio:$best]}" 'BEGIN {
        if (k > 0) printf "                             CPU per 1000 REG    %.2f   (both at %d/s: ferroswitch %.3f s, kamailio %.3f s)\n", f / k, r, f, k }'
    fi
  else
    echo "RATIO ferroswitch/kamailio: n/a (a target had no clean step)"
  fi
  awk -v a="${F_B_OTHER:-0}" -v aw="${F_B_WALL:-1}" -v b="${K_B_OTHER:-0}" -v bw="${K_B_WALL:-1}" 'BEGIN {
    if (a / aw > 0.1 || b / bw > 0.1)
      print "WARNING: other processes used >10% of a core during a best step; numbers are disturbed." }'
  echo "note: ferroswitch answers both the 401 and the committed 200 statelessly (a retransmitted"
  echo "      REGISTER is recognised by the registrar and answered again), so no transaction is kept"
  echo "      per registration. A 503 Service Unavailable from ferroswitch is load shedding: datagrams"
  echo "      waited in its receive queue for sip.overload_after_ms (see docs/benchmarks.md)."
  echo "details: benches/out/$NAME/ (steps.csv, sipp CSVs and error logs, server logs)"
}
report | tee "$LOGS/report.txt"
echo "total time: $((SECONDS - T0)) s"
# Fails when a server that was measured had no clean step.
case " $TARGETS " in *" ferroswitch "*) [ "${F_B_RATE:-0}" -gt 0 ] || exit 1 ;; esac
case " $TARGETS " in *" kamailio "*) [ "${K_B_RATE:-0}" -gt 0 ] || exit 1 ;; esac
exit 0
