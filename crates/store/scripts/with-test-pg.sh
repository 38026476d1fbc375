#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster on 127.0.0.1, its URL in
# FERROSWITCH_TEST_PG_URL (so the store's postgres::* tests run, not skip):
#   with-test-pg.sh cargo test --workspace
# The cluster lives in a fresh directory under /tmp on a free port and is
# stopped and removed afterwards, whatever the command's outcome. Without
# PostgreSQL installed (Debian's `postgresql`, which `make test` installs)
# the command runs without the URL and says so.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "with-test-pg: PostgreSQL is not installed; the store's postgres tests will be skipped" >&2
    exec "$@"
fi
dir=$(mktemp -d /tmp/ferroswitch-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    bash "$here/pg-test-cluster.sh" stop "$dir" >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT
if ! url=$(bash "$here/pg-test-cluster.sh" start "$dir" "$port"); then
    echo "with-test-pg: the PostgreSQL cluster did not start:" >&2
    cat "$dir/log" "$dir/initdb.log" >&2 2>/dev/null
    exit 1
fi
echo "with-test-pg: PostgreSQL on 127.0.0.1:$port for the store's postgres tests" >&2
FERROSWITCH_TEST_PG_URL=$url "$@"
