#!/usr/bin/env bash
# Issue 5: what recording adds to a relayed call's CPU (target: <= 10%).
#
# The peer is the switch itself not recording: the same N relayed G.711
# calls (benches/media_load.sh, ferroswitch only) with no recording, with
# every call recorded as 16-bit WAV (the default), and as G.711 WAV
# (recordings.encoding = g711), the three alternated ROUNDS times on fresh
# servers so that each sees the same states of the shared machine; the
# mean % of a core per call of each, and the ratios. One configuration
# moves several percent between rounds on these machines, so read the
# ratios of the means, not of one round. Then the recorder alone
# (criterion, crates/media/benches/recorder.rs: one second of 500 recorded
# calls, packets interleaved as a media thread sees them).
#
# Knobs: ROUNDS (3), CALLS (500), WINDOW (15 s), FERROSWITCH_BIN,
# RTPLOAD_BIN (else media_load.sh builds them), SKIP_CRITERION.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
CALLS=${CALLS:-500}
WINDOW=${WINDOW:-15}
OUT=benches/out/recording; mkdir -p "$OUT"
: > "$OUT/rounds.txt"

one() { # label record extra-args
  RECORD=$2 FS_EXTRA_ARGS="$3" TARGETS=ferroswitch CALLS_LIST=$CALLS WINDOW=$WINDOW \
    bash benches/media_load.sh > "$OUT/$1.log" 2>&1 || true
  local line
  line=$(grep -E "^ferroswitch $CALLS " benches/out/media_load/steps.txt 2>/dev/null | head -1 || true)
  local pct lost other
  pct=$(sed -n 's/.* server_core_pct_per_call=\([0-9.]*\).*/\1/p' <<<"$line")
  lost=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$line")
  other=$(sed -n 's/.* other_cpu_s=\([0-9.]*\).*/\1/p' <<<"$line")
  if [ -z "$pct" ]; then
    echo "recording: no result for $1 (see $OUT/$1.log)" >&2
    return 1
  fi
  echo "$1 $pct $lost $other" | tee -a "$OUT/rounds.txt"
}

for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r of $ROUNDS ($CALLS relayed calls, ${WINDOW}s window; label, % of a core per call, packets lost, other processes' CPU s)"
  one none 0 ""
  one pcm16 1 ""
  one g711 1 "--set recordings.encoding=g711"
done

awk '{ s[$1] += $2; n[$1]++; lost[$1] += $3 }
  END {
    if (!n["none"] || !n["pcm16"] || !n["g711"]) { print "recording: a configuration has no result"; exit 1 }
    b = s["none"] / n["none"]
    printf "\nmeans over %d rounds (%% of a core per call):\n", n["none"]
    printf "  not recording   %.4f%%\n", b
    for (k in s) if (k != "none")
      printf "  %-15s %.4f%%  ratio %.3f (%+.1f%%) -> %s%s\n", (k == "pcm16" ? "16-bit WAV" : "G.711 WAV"), s[k] / n[k], s[k] / n[k] / b, 100 * (s[k] / n[k] / b - 1),
        (s[k] / n[k] / b <= 1.10 ? "within" : "over"), " the issue 5 target (+10%)"
    for (k in lost) if (lost[k] > 0) printf "  WARNING: %s lost %d packets in total: that configuration was past its limit\n", k, lost[k]
  }' "$OUT/rounds.txt"

if [ -z "${SKIP_CRITERION:-}" ]; then
  echo "== the recorder alone (criterion, one core)"
  cargo bench -p media --bench recorder -- --warm-up-time 2 --measurement-time 5 2>/dev/null | tee "$OUT/criterion.txt" |
    awk '/^recorder\// { name = $0 } /time:/ && !seen[name]++ { gsub(/\[|\]/, ""); print "  " name ": " $4, $5 " per second of 500 calls" }'
fi
