#!/bin/sh
# pg.sh: a throwaway PostgreSQL server for the tests (make test), from Debian's `postgresql`
# package, in a directory of its own.
#   scripts/pg.sh start DIR   initdb into DIR/data (trust authentication, loopback only), start
#                             it on 127.0.0.1 and a free port with its unix socket in DIR,
#                             create the database `cloudhands`, print its URL:
#                             postgres://cloudhands@127.0.0.1:PORT/cloudhands
#   scripts/pg.sh stop DIR    stop it and delete DIR (only a DIR that `start` made)
#   scripts/pg.sh pause DIR   stop the server (fast shutdown: clients are disconnected), keep DIR
#   scripts/pg.sh resume DIR  start a paused server again, on the same port, with the same data
#                             (for tests of a database outage: tests/api/test_postgres.py)
# As root (PostgreSQL refuses to run as root) the server runs as the `postgres` user the Debian
# package creates, and DIR is handed to it: DIR's parents must be searchable by that user (a
# directory under /tmp is). Settings for speed, not durability: fsync is off. PG_BIN overrides
# where the server's binaries are (default: the newest /usr/lib/postgresql/*/bin).
set -eu

usage() {
    echo "usage: $0 start DIR | stop DIR | pause DIR | resume DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
    echo "pg.sh: no PostgreSQL server binaries (install Debian's postgresql package)" >&2
    exit 1
fi

# The server's options: loopback on port $1, its unix socket in $2.
server_opts() {
    echo "-c listen_addresses=127.0.0.1 -p $1 -k $2 -c max_connections=300 \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB"
}

# A DIR that `start` made, as an absolute path (exits otherwise).
made_dir() {
    if [ ! -e "$1/.cloudhands-pg" ]; then
        echo "pg.sh: $1 was not made by pg.sh start; not touching it" >&2
        exit 1
    fi
    (cd "$1" && pwd)
}

# Runs a command as the user that owns the server.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$cmd" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -e "$dir/data" ]; then
        echo "pg.sh: $dir/data exists already" >&2
        exit 1
    fi
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    touch "$dir/.cloudhands-pg" 2>/dev/null || as_owner touch "$dir/.cloudhands-pg"
    as_owner "$PG_BIN/initdb" -D "$dir/data" -U cloudhands --auth=trust --encoding=UTF8 \
        --locale=C >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    # A free port: the kernel's choice for a socket bound to port 0 (taken again a moment later
    # by the server; on a clash pg_ctl fails and we try another).
    tries=0
    while :; do
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        if as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "$(server_opts "$port" "$dir")" start >"$dir/pg_ctl.log" 2>&1; then
            break
        fi
        tries=$((tries + 1))
        if [ $tries -ge 5 ]; then
            cat "$dir/pg_ctl.log" "$dir/server.log" >&2 2>/dev/null || true
            exit 1
        fi
    done
    echo "$port" >"$dir/port"
    as_owner "$PG_BIN/psql" -X -q -h "$dir" -p "$port" -U cloudhands -d postgres \
        -c "CREATE DATABASE cloudhands" >/dev/null
    echo "postgres://cloudhands@127.0.0.1:$port/cloudhands"
    ;;
stop)
    [ -d "$dir" ] || exit 0
    dir=$(cd "$dir" && pwd)
    if [ ! -e "$dir/.cloudhands-pg" ]; then
        echo "pg.sh: $dir was not made by pg.sh start; not touching it" >&2
        exit 1
    fi
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
pause)
    dir=$(made_dir "$dir")
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >"$dir/pg_ctl.log" 2>&1 || {
        cat "$dir/pg_ctl.log" >&2
        exit 1
    }
    ;;
resume)
    dir=$(made_dir "$dir")
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "$(server_opts "$(cat "$dir/port")" "$dir")" start >"$dir/pg_ctl.log" 2>&1 || {
        cat "$dir/pg_ctl.log" >&2
        exit 1
    }
    ;;
*)
    usage
    ;;
esac
