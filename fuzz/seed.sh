#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with the repository's own test inputs.
# Idempotent: seeds are copied under stable names, so running it again adds
# nothing new and never removes what a campaign has found.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
corpus="$here/corpus"

sip_files() {
    find "$root/crates/sip-msg/tests/vectors" -type f -name '*.dat' -print0
    find "$root/crates/sip-msg/tests/fixtures" -maxdepth 1 -type f -name '*.sip' -print0
}
sdp_files() {
    find "$root/crates/sdp/tests/fixtures" -maxdepth 1 -type f -name '*.sdp' -print0
}

# copy TARGET < NUL-separated paths: name each seed after its path in the repo.
copy() {
    local dir="$corpus/$1" n=0 f name
    mkdir -p "$dir"
    while IFS= read -r -d '' f; do
        name="seed-$(printf '%s' "${f#"$root"/crates/}" | tr '/' '_')"
        cp -f "$f" "$dir/$name"
        n=$((n + 1))
    done
    echo "seed $1: $n files"
}

sip_files | copy sip_parse
sip_files | copy sip_frame
sdp_files | copy sdp_parse

# Streams for the framer: the fixtures back to back, with a keep-alive ping
# and a pong between them, as a TCP peer would send them.
stream="$corpus/sip_frame/seed-stream-fixtures"
: >"$stream"
for f in "$root"/crates/sip-msg/tests/fixtures/*.sip; do
    [ -f "$f" ] || continue
    cat "$f" >>"$stream"
    printf '\r\n\r\n\r\n' >>"$stream"
done
