#!/usr/bin/env bash
# Issue 10 item 6: overload at twice the sustainable call rate, measured.
# Runs testbeds/overload.sh against the release build twice in the same
# command, with load shedding on (the default, sip.overload_after_ms=200)
# and off (0), at RATE calls per second (default 5200: twice the 2,600/s
# that calls_load.sh finds clean on this machine) for DURATION seconds (10), then
# the calm 20 calls/s recovery run. Prints, for each: calls completed and
# the goodput (completed per second of offered load), calls refused with
# 503, calls lost (admitted, then failed or timed out), the setup time of
# completed calls (first INVITE to 200: p50/p90/p99), and RSS after.
# Knobs: FERROSWITCH_BIN, RATE, DURATION. Output in benches/out/overload/.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RATE=${RATE:-5200}
SECONDS_=${DURATION:-10}
if [ -z "${FERROSWITCH_BIN:-}" ]; then
  echo "overload: cargo build --release -p ferroswitch"
  (cd "$ROOT" && cargo build --release -p ferroswitch --quiet) || exit 1
fi
BIN=${FERROSWITCH_BIN:-$ROOT/target/release/ferroswitch}
OUTDIR=${BENCH_OUT:-$ROOT/benches/out}/overload
rm -rf "$OUTDIR" && mkdir -p "$OUTDIR"
echo "== Overload benchmark (issue 10), $(date -u +%FT%TZ): $RATE calls/s offered for ${SECONDS_}s, release build, media bypassed =="
declare -A ROW
for mode in on off; do
  args=""
  [ "$mode" = off ] && args="--set sip.overload_after_ms=0"
  FS_BIN=$BIN TESTBED_OUT="$OUTDIR/$mode" OVERLOAD_RATE=$RATE OVERLOAD_SECONDS=$SECONDS_ OVERLOAD_ARGS="$args" \
    bash "$ROOT/testbeds/overload.sh" >"$OUTDIR/$mode.txt" 2>&1
  off=$(grep '^offered ' "$OUTDIR/$mode.txt")
  setup=$(grep '^setup time ' "$OUTDIR/$mode.txt")
  calm=$(grep -c '^  ok   recovered' "$OUTDIR/$mode.txt")
  ROW[$mode]=$(python3 - "$off" "$setup" "$calm" "$RATE" "$SECONDS_" <<'PY'
import re, sys
off, setup, calm, rate, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
n = lambda pat, s: (re.search(pat, s) or [None, "?"])[1]
done, ref, ref2, lost = n(r": (\d+) completed", off), n(r"(\d+) refused \(503\)", off), n(r"(\d+) refused after", off), n(r"(\d+) lost", off)
rss = n(r"-> (\d+) MB", off)
drops = n(r"UDP drops: (\d+)", off)
admitted = int(done) + int(lost) if done != "?" and lost != "?" else 0
lost_pct = f"{100 * int(lost) / admitted:.2f}%" if admitted else "?"
p50, p90, p99 = (n(f"{q}=(\\d+)", setup) for q in ("p50", "p90", "p99"))
ok = "yes" if calm == "1" else "no"
print(f"{int(done) / secs:8.0f}/s {done:>7} {int(ref) + int(ref2):>8} {lost:>6} ({lost_pct:>6}) {p50:>6} {p90:>6} {p99:>6} {rss:>6} MB {drops:>7}  {ok}")
PY
)
done
printf '%-9s %10s %7s %8s %15s %6s %6s %6s %9s %7s  %s\n' shedding goodput done refused "lost (% adm.)" p50ms p90ms p99ms RSS "drops" "recovered"
for mode in on off; do printf '%-9s %s\n' "$mode" "${ROW[$mode]}"; done
echo "(goodput: completed calls per second of offered load; lost: admitted calls that failed or timed out;"
echo " setup: first INVITE to 200 of completed calls; drops: UDP datagrams the kernel dropped, machine-wide;"
echo " recovered: 100 calls at 20/s afterwards all complete)"
echo "details: $OUTDIR/{on,off}.txt and the sipp logs beside them"
