#!/usr/bin/env bash
# Queue engine dispatch throughput (criterion, crates/callcenter/benches/dispatch.rs):
# 10,000 waiting members and 1,000 agents in one queue; one decision is an
# agent answering, its bridge ending and the next member being offered.
# longest-idle-agent and ring-all (every decision cancels ~999 offers and
# makes ~999). No peer: FreeSWITCH's mod_callcenter dispatches from SQL and
# has no comparable in-process figure; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p callcenter --bench dispatch -- --warm-up-time 1 --measurement-time 3 2>/dev/null |
  awk '/^[a-z].*\// && !/time:/ { name = $1 } /time:/ { gsub(/\[|\]/, ""); print name, "time/decision:", $4, $5 } /thrpt:/ { gsub(/\[|\]/, ""); printf "%s %s %s decisions per second\n", name, $4, $5 }'
