#!/usr/bin/env bash
# Run every testbed; print each one's summary and a total line.
set -uo pipefail
cd "$(dirname "$0")"
rm -rf out && mkdir -p out
total_pass=0; total_fail=0; failed_beds=()
for bed in *.sh; do
  case "$bed" in lib.sh|run-all.sh) continue ;; esac
  echo "== testbed ${bed%.sh}"
  bash "$bed" | tee "out/${bed%.sh}.summary"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed' "out/${bed%.sh}.summary" | tail -1)
  p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  total_pass=$((total_pass + ${p:-0})); total_fail=$((total_fail + ${f:-0}))
  if [ "$rc" -ne 0 ] || [ -z "$line" ]; then failed_beds+=("${bed%.sh}"); [ -z "$line" ] && total_fail=$((total_fail + 1)); fi
done
echo "interop: $total_pass passed, $total_fail failed"
[ ${#failed_beds[@]} -eq 0 ] || { echo "failed testbeds: ${failed_beds[*]}"; exit 1; }
