#!/usr/bin/env bash
# Issue 9 scenario 6: memory per established signalling-only call.
#
# CALLS authenticated calls (default 5,000) are set up at SETUP_RATE per
# second (500) and held: sipp's caller (benches/scenarios/call_uac_hold.xml:
# INVITE, 407, ACK, INVITE with credentials, 200, ACK, pause, BYE) pauses
# long enough for every call to be up at once, and for the transactions of
# the set-up to be gone (RFC 6026's Timer L keeps an INVITE server
# transaction 32 s after its 2xx). The server's RSS is read before the
# first call and again SETTLE seconds (40) after the last one was set up,
# while all of them are still up; (plateau - idle) / CALLS is its memory per
# held call. Media bypassed (the relayed-media figure is
# benches/media_load.sh's).
#
# Peer, in the same command: Kamailio as the stateful proxy of
# calls_load.sh, holding the same calls. A proxy without the dialog module
# keeps nothing per established call once the transactions are gone, so
# its figure is the floor, not a like-for-like comparison: the switch holds
# two dialogs, the call and its CDR draft per call.
#
# Knobs (environment): FERROSWITCH_BIN (skip the build), CALLS (5000),
# SETUP_RATE (500), SETTLE (40 s), TARGETS ("ferroswitch kamailio"),
# HARD_LIMIT (600 s).
set -Eeuo pipefail

NAME=held_calls
CALLS=${CALLS:-5000}
SETUP_RATE=${SETUP_RATE:-500}
SETTLE=${SETTLE:-40}
TARGETS=${TARGETS:-ferroswitch kamailio}
HARD_LIMIT=${HARD_LIMIT:-600}
KAM_CHILDREN=${KAM_CHILDREN:-4}
KAM_SHM=${KAM_SHM:-1024}
FS_EXTRA_ARGS=${FS_EXTRA_ARGS:-}

# shellcheck source=lib/sipbench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/sipbench.sh"
KAM_CFG=$BENCH/kamailio/calls.cfg

make_call_parties

# rss PID: KiB of the process tree (PSS: Kamailio's worker processes
# share one memory segment, counted once; for ferroswitch PSS ~ RSS).
rss() {
  python3 "$MEM" "$1" | tr ' ' '\n' | sed -n 's/^pss_kb=//p'
}

# up_calls CSV: the caller's sipp "CurrentCall" in its last statistics line.
up_calls() {
  python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
head, last = rows[0], rows[-1]
print(last[head.index("CurrentCall")])
PY
}

declare -A RES
measure() {
  local name=$1
  if [ "$name" = ferroswitch ]; then
    start_ferroswitch --set media.mode=bypass
  else
    start_kamailio "$KAM_CFG" -A "BENCH_USERS=2"
  fi
  local uport; uport=$(free_port)
  sipp -sf "$SCEN/register_load.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p "$uport" -t u1 -inf "$RUN/callee.csv" \
    -m 1 -recv_timeout 5000 -timeout 10s -nostdin >"$LOGS/$name.register.log" 2>&1 \
    || { echo "$NAME: the callee could not register to $name" >&2; exit 1; }
  sipp -sf "$SCEN/call_uas.xml" -i 127.0.0.1 -p "$uport" -t u1 -buff_size 4194304 -nostdin \
    >/dev/null 2>"$LOGS/$name.uas.err" &
  local uas=$!
  PIDS+=("$uas")
  sleep 1
  local idle; idle=$(rss "$SERVER_PID")
  local setup=$(( (CALLS + SETUP_RATE - 1) / SETUP_RATE ))
  local hold_ms=$(( (setup + SETTLE + 30) * 1000 ))
  local csv=$LOGS/$name.caller.csv
  sipp -sf "$SCEN/call_uac_hold.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 \
    -s 1001 -inf "$RUN/caller.csv" -au 1000 -ap benchpass1000 -d "$hold_ms" \
    -m "$CALLS" -r "$SETUP_RATE" -rp 1000 -l "$CALLS" -recv_timeout 8000 -buff_size 4194304 -nostdin \
    -trace_stat -stf "$csv" -fd 1 -trace_err -error_file "$LOGS/$name.errors.log" \
    >/dev/null 2>"$LOGS/$name.caller.err" &
  local uac=$!
  PIDS+=("$uac")
  sleep $((setup + SETTLE))
  local plateau; plateau=$(rss "$SERVER_PID")
  local up; up=$(up_calls "$csv")
  local failed; failed=$(grep -c . "$LOGS/$name.errors.log" 2>/dev/null || true)
  kill "$uac" 2>/dev/null || true; wait "$uac" 2>/dev/null || true; forget "$uac"
  stop_pid "$uas"
  stop_server
  RES[$name]="$idle $plateau $up ${failed:-0}"
  local per; per=$(awk -v a="$idle" -v b="$plateau" -v n="$up" 'BEGIN { printf "%.1f", (n > 0) ? (b - a) / n : 0 }')
  printf '%-12s idle %7d KiB  with %5d calls up %7d KiB  -> %6s KiB per held call  (sipp error lines: %s)\n' \
    "$name" "$idle" "$up" "$plateau" "$per" "${failed:-0}"
}

echo "== Memory per held signalling-only call (issue 9), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "   $CALLS calls at $SETUP_RATE/s, read ${SETTLE}s after the last set-up (transactions gone), media bypassed"
for t in $TARGETS; do
  measure "$t"
done
if [ -n "${RES[ferroswitch]:-}" ]; then
  read -r idle plateau up _ <<<"${RES[ferroswitch]}"
  per=$(awk -v a="$idle" -v b="$plateau" -v n="$up" 'BEGIN { printf "%.1f", (n > 0) ? (b - a) / n : 0 }')
  verdict=$(awk -v p="$per" -v n="$up" -v c="$CALLS" 'BEGIN { print (n == c && p <= 16) ? "met" : "NOT met" }')
  echo "issue 9 target <= 16 KiB per signalling-only call: ferroswitch $per KiB with $up of $CALLS calls up -> $verdict"
  if [ -n "${RES[kamailio]:-}" ]; then
    read -r kidle kplateau kup _ <<<"${RES[kamailio]}"
    awk -v a="$idle" -v b="$plateau" -v n="$up" -v c="$kidle" -v d="$kplateau" -v m="$kup" \
      'BEGIN { if (n > 0 && m > 0 && d > c) printf "RATIO ferroswitch/kamailio memory per held call: %.2f (the proxy keeps no dialog: a floor, not a peer doing the same)\n", ((b - a) / n) / ((d - c) / m) }'
  fi
fi
