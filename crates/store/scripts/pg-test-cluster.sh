#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the store's tests.
#   pg-test-cluster.sh start [DIR] [PORT]   init (once) and start; prints the URL
#   pg-test-cluster.sh stop  [DIR]
# Then: FERROSWITCH_TEST_PG_URL=<printed URL> cargo test -p store
# Needs Debian's `postgresql` package. Run as root (CI) it runs the server as
# the `postgres` user; otherwise as the calling user. Trust auth, loopback
# only, TLS on with a self-signed certificate (so `?sslmode=require` works).
set -euo pipefail
cmd=${1:-start}
dir=${2:-/tmp/ferroswitch-pg}
port=${3:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "postgresql is not installed (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log"
        if command -v openssl >/dev/null; then
            as_pg openssl req -new -x509 -days 3650 -nodes -subj /CN=127.0.0.1 \
                -keyout "$dir/data/server.key" -out "$dir/data/server.crt" 2>/dev/null
            echo "ssl = on" >>"$dir/data/postgresql.conf"
        fi
    fi
    if ! as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
            -o "-h 127.0.0.1 -p $port -k $dir" start >/dev/null
    fi
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
*)
    echo "usage: $0 start|stop [DIR] [PORT]" >&2
    exit 2
    ;;
esac
