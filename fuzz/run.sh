#!/usr/bin/env bash
# Bounded fuzzing on stable Rust: build the targets with libFuzzer's
# coverage instrumentation, seed the corpora, run each target for SECONDS.
#
#   fuzz/run.sh SECONDS [TARGET...]     (default: every target)
#
# Exits non-zero if a target crashes (panic, failed assertion, abort), times
# out on one input (-timeout=5) or runs out of memory (-rss_limit_mb=2048);
# the input that did it is saved under fuzz/artifacts/<target>/ and its path
# printed. Needs cargo (crates come from crates.io) and a C++ compiler for
# libFuzzer itself (Debian: g++, part of build-essential).
#
# Environment: FUZZ_TARGET_DIR (build dir, default fuzz/target),
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=2 -workers=2").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
all_targets=(sip_parse sip_frame sdp_parse media_rtp digest_auth media_transcode)

usage() { echo "usage: $0 SECONDS [TARGET...]   targets: ${all_targets[*]}" >&2; exit 2; }
[ $# -ge 1 ] || usage
seconds="$1"; shift
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t'" >&2; usage; }
done

command -v cargo >/dev/null || { echo "fuzz: cargo not found" >&2; exit 1; }
if ! command -v "${CXX:-c++}" >/dev/null && ! command -v g++ >/dev/null; then
    echo "fuzz: no C++ compiler (libFuzzer is C++): apt-get install g++" >&2
    exit 1
fi

# Coverage instrumentation without nightly: run LLVM's SanitizerCoverage pass
# directly. 8-bit counters + PC table are what libFuzzer reads as coverage
# (cov:/ft:), trace-compares lets it solve comparisons against magic bytes.
# No -Zsanitizer=address (nightly only); Rust code is memory-safe, and
# panics, aborts, timeouts and OOM are all still caught.
rustflags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    --cfg fuzzing
    -Cdebug-assertions
    -Coverflow-checks
)
# RUSTFLAGS would be ignored if these were set.
unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
export RUSTFLAGS="${rustflags[*]}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$here/target}"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros,
# which must not be instrumented (they are not linked with libFuzzer).
host="$(rustc -vV | sed -n 's/^host: //p')"

bin_args=()
for t in "${targets[@]}"; do bin_args+=(--bin "$t"); done
echo "fuzz: building ${targets[*]} (release, $host)"
echo "fuzz: RUSTFLAGS=$RUSTFLAGS"
start=$(date +%s)
(cd "$here" && cargo build --release --target "$host" "${bin_args[@]}")
echo "fuzz: build took $(( $(date +%s) - start ))s"

"$here/seed.sh"

logs="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$logs"
failed=0
for t in "${targets[@]}"; do
    bin="$CARGO_TARGET_DIR/$host/release/$t"
    mkdir -p "$here/corpus/$t" "$here/artifacts/$t"
    log="$logs/$t.log"

    # Inputs that once broke something (fuzz/regressions/<target>/) run first.
    regs=()
    if [ -d "$here/regressions/$t" ]; then
        while IFS= read -r -d '' f; do regs+=("$f"); done \
            < <(find "$here/regressions/$t" -type f ! -name '*.md' -print0 | sort -z)
    fi
    if [ ${#regs[@]} -gt 0 ]; then
        rc=0
        "$bin" -timeout=5 -rss_limit_mb=2048 "${regs[@]}" >"$logs/$t.regressions.log" 2>&1 || rc=$?
        if [ "$rc" -ne 0 ]; then
            failed=1
            bad="$(sed -n 's/^Running: //p' "$logs/$t.regressions.log" | tail -n1)"
            echo "---- last lines of $logs/$t.regressions.log ----" >&2
            tail -n 40 "$logs/$t.regressions.log" >&2
            echo "fuzz $t: regression input fails (exit $rc): ${bad:-see log}"
            echo "fuzz $t: reproduce: $bin $bad"
            continue
        fi
        echo "fuzz $t: ${#regs[@]} regression inputs pass"
    fi

    dict_args=()
    case "$t" in
        sip_*|digest_*) dict_args=(-dict="$here/dict/sip.dict") ;;
        sdp_*) dict_args=(-dict="$here/dict/sdp.dict") ;;
    esac

    echo "fuzz $t: running ${seconds}s (log: $log)"
    rc=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    "$bin" "$here/corpus/$t" \
        -max_total_time="$seconds" -max_len=65536 -timeout=5 -rss_limit_mb=2048 \
        -artifact_prefix="$here/artifacts/$t/" -print_final_stats=1 "${dict_args[@]}" ${FUZZ_ARGS:-} \
        >"$log" 2>&1 || rc=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
    cov="$(grep -oE '^#[0-9]+.*cov: [0-9]+' "$log" | tail -n1 | sed 's/.*cov: //')"
    if [ "$rc" -eq 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
        echo "fuzz $t: ${runs:-?} runs, cov ${cov:-?}, ok"
    else
        failed=1
        artifact="$(sed -n 's/.*Test unit written to //p' "$log" | tail -n1)"
        kind="$(grep -oE 'deadly signal|ALARM: working on the last Unit|out-of-memory|fuzz target exited|leak' "$log" | head -n1)"
        echo "---- last lines of $log ----" >&2
        tail -n 60 "$log" >&2
        echo "fuzz $t: ${runs:-?} runs, cov ${cov:-?}, FAILED (exit $rc${kind:+, $kind})"
        echo "fuzz $t: artifact: ${artifact:-none written}"
        [ -n "$artifact" ] && echo "fuzz $t: reproduce: $bin $artifact"
    fi
done
exit "$failed"
