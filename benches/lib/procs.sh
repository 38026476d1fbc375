# Sourced by the benches that start servers and generators (media_load.sh,
# recording.sh, and through lib/sipbench.sh the SIP load benches): PIDS,
# the processes killed and reaped on exit; RUN, a temp dir removed on exit
# (set by the sourcing script before); traps that say why the run ended,
# prefixed with $NAME.
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "$NAME: command failed at line $LINENO" >&2' ERR
trap 'echo "$NAME: interrupted" >&2; exit 130' INT
trap 'echo "$NAME: stopped (time limit or SIGTERM)" >&2; exit 143' TERM
