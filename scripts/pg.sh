#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks.
#
#   scripts/pg.sh start DIR   initdb into DIR (new or empty), start the server on
#                             127.0.0.1 and a free port, create role and database
#                             `maildesk`, print postgresql://maildesk@127.0.0.1:PORT/maildesk
#   scripts/pg.sh stop DIR    stop it (pg_ctl stop -m fast) and remove DIR
#   scripts/pg.sh url DIR     print the URL of a server started in DIR
#
# The role `maildesk` is a superuser (tests create a database per test); auth is
# `trust`, on 127.0.0.1 and the unix socket in DIR only. fsync stays on: the
# benchmarks measure durable commits. As root, the server runs as the `postgres`
# system user (PostgreSQL refuses to run as root). Server log: DIR/postgres.log.
# Environment: PG_BIN (directory of initdb/pg_ctl; default: newest
# /usr/lib/postgresql/*/bin), PG_PORT (fixed port instead of a free one).
set -euo pipefail

MARKER=.maildesk-pg

die() { printf 'pg.sh: %s\n' "$*" >&2; exit 1; }
say() { printf 'pg.sh: %s\n' "$*" >&2; }

find_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        [ -x "$PG_BIN/initdb" ] || die "PG_BIN=$PG_BIN has no initdb"
        return
    fi
    local d
    d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then
        PG_BIN=$d
    elif command -v initdb >/dev/null 2>&1; then
        PG_BIN=$(dirname "$(command -v initdb)")
    else
        die "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
    fi
}

# Run a PostgreSQL program as the server's owner, from inside DIR (the caller's
# cwd may not be readable by that user).
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$DIR" && runuser -u postgres -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd_start() {
    find_bin
    if [ -e "$DIR" ]; then
        [ -d "$DIR" ] || die "$DIR is not a directory"
        [ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty"
    else
        mkdir -p "$DIR"
    fi
    DIR=$(cd "$DIR" && pwd)
    touch "$DIR/$MARKER"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' system user (it comes with Debian's postgresql package)"
        chown -R postgres: "$DIR"
        chmod 700 "$DIR"
        runuser -u postgres -- test -w "$DIR" \
            || die "user postgres cannot write $DIR (a parent directory is closed to it); use a directory under /tmp"
    fi

    local locale=C
    if locale -a 2>/dev/null | grep -qix 'c.utf-\?8'; then locale=C.UTF-8; fi
    as_owner "$PG_BIN/initdb" -D "$DIR/data" -U maildesk -A trust -E UTF8 --locale="$locale" \
        --no-sync >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }

    cat >>"$DIR/data/postgresql.conf" <<EOF

# --- maildesk test server (scripts/pg.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
    cat >"$DIR/data/pg_hba.conf" <<'EOF'
# maildesk test server: trust on the unix socket and 127.0.0.1 only
local all all               trust
host  all all 127.0.0.1/32  trust
EOF

    # A free port can be taken by someone else between our check and the
    # server's bind: try a few times.
    local port attempt
    for attempt in 1 2 3 4 5; do
        port=${PG_PORT:-$(free_port)}
        if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -o "-p $port" \
                -w -t 60 start >/dev/null; then
            break
        fi
        if [ -n "${PG_PORT:-}" ] || [ "$attempt" -eq 5 ] \
                || ! grep -q 'could not bind\|could not create any TCP/IP sockets' "$DIR/postgres.log"; then
            tail -n 20 "$DIR/postgres.log" >&2 || true
            die "PostgreSQL did not start (end of its log above)"
        fi
        say "port $port was taken; trying another"
    done
    echo "$port" >"$DIR/port"

    local i
    for i in $(seq 1 60); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        [ "$i" -eq 60 ] && die "PostgreSQL on port $port is not ready (log: $DIR/postgres.log)"
        sleep 0.5
    done
    as_owner "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U maildesk -d postgres \
        -v ON_ERROR_STOP=1 -c 'CREATE DATABASE maildesk' >/dev/null \
        || die "could not create database maildesk"
    echo "postgresql://maildesk@127.0.0.1:$port/maildesk" | tee "$DIR/url"
}

cmd_stop() {
    [ -d "$DIR" ] || return 0
    [ -e "$DIR/$MARKER" ] || die "$DIR was not made by pg.sh start; not touching it"
    DIR=$(cd "$DIR" && pwd)
    if [ -f "$DIR/data/postmaster.pid" ]; then
        find_bin
        if ! as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
            # pg_ctl could not stop it: end the postmaster of this data dir by its pid.
            local pid
            pid=$(head -n 1 "$DIR/data/postmaster.pid" 2>/dev/null || true)
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                say "pg_ctl stop failed; killing postmaster $pid"
                kill -QUIT "$pid" 2>/dev/null || true
                sleep 1
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    rm -rf "$DIR"
}

cmd_url() {
    [ -f "$DIR/url" ] || die "no server started in $DIR"
    cat "$DIR/url"
}

usage() { echo "usage: $0 start|stop|url DIR" >&2; exit 2; }

[ $# -eq 2 ] || usage
DIR=$2
case $1 in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) cmd_url ;;
    *) usage ;;
esac
