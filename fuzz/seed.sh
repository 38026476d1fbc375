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

# Digest credentials as phones send them.
mkdir -p "$corpus/digest_auth"
printf '%s' 'Digest username="1000", realm="fuzz.test", nonce="abc", uri="sip:fuzz.test", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"' >"$corpus/digest_auth/seed-md5"
printf '%s' 'Digest username="1000",realm="fuzz.test",nonce="x",uri="sip:1@fuzz.test",response="00",algorithm=SHA-256,qop=auth,nc=0000000a,cnonce="zz",opaque="o"' >"$corpus/digest_auth/seed-sha256"

# RTP: a μ-law packet and an A-law packet from each side.
mkdir -p "$corpus/media_rtp"
printf '\x14\x80\x00\x00\x01\x00\x00\x00\xa0\x00\x00\x00\x07\xd5\xd5\xd5\xd5\xff\x15\x80\x08\x00\x01\x00\x00\x00\xa0\x00\x00\x00\x08\x55\x55\x55' >"$corpus/media_rtp/seed-two-sides"

# Recording headers (read back after a crash): 16-bit PCM and μ-law stereo.
printf 'RIFF\x24\x7d\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x40\x1f\x00\x00\x00\x7d\x00\x00\x04\x00\x10\x00data\x00\x7d\x00\x00' >"$corpus/media_rtp/seed-wav-pcm16"
printf 'RIFF\x32\x3e\x00\x00WAVEfmt \x12\x00\x00\x00\x07\x00\x02\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x08\x00\x00\x00fact\x04\x00\x00\x00\x40\x1f\x00\x00data\x80\x3e\x00\x00' >"$corpus/media_rtp/seed-wav-mulaw"
