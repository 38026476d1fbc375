#!/usr/bin/env bash
# Run every benchmark in benches/ (each *.sh here except this one), one after
# the other, and fail if any failed. `make bench` calls this.
set -uo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$DIR/.." && pwd)

# Build the release binary once for all benchmarks.
if [ -z "${FERROSWITCH_BIN:-}" ]; then
  echo "bench: cargo build --release -p ferroswitch"
  (cd "$ROOT" && cargo build --release -p ferroswitch --quiet) || exit 1
  export FERROSWITCH_BIN=$ROOT/target/release/ferroswitch
fi

failed=()
for b in "$DIR"/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  echo "== bench: $(basename "$b")"
  bash "$b" || failed+=("$(basename "$b")")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}"
  exit 1
fi
echo "bench: all done"
