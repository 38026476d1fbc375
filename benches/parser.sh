#!/usr/bin/env bash
# SIP parser throughput (criterion): a typical INVITE with SDP and its 200 OK,
# parse, print, parse+print, and parse plus the typed core headers a
# transaction needs. One core; prints messages per second.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p sip-msg --bench parse -- --warm-up-time 1 --measurement-time 3 2>/dev/null |
  awk '/^sip-msg\// { name = $0 } /thrpt:/ { gsub(/\[|\]/, ""); printf "%-40s %s %s per second\n", name, $4, $5 }'
