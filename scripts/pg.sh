#!/usr/bin/env bash
# A throwaway PostgreSQL for tests.
#
#   source scripts/pg.sh; pg_start; cargo test -p bifrost-store; pg_stop
#
# pg_start installs Debian's `postgresql` when initdb is missing, creates a cluster in a temp
# dir (as the `postgres` user when running as root), starts it on a free loopback port with
# trust auth, and exports BIFROST_TEST_POSTGRES_URL. pg_stop stops that server and removes the
# dir; pg_start installs an EXIT trap that calls it. Run directly (`bash scripts/pg.sh start`)
# it starts a server and prints the URL and the commands to stop it.
set -euo pipefail

PG_DIR="${PG_DIR:-}"
PG_BIN="${PG_BIN:-}"
PG_PORT="${PG_PORT:-}"

_pg_sudo() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

_pg_find_bin() {
    local d
    if [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]; then return 0; fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then PG_BIN="$d"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        PG_BIN="$(dirname "$(readlink -f "$(command -v initdb)")")"
        return 0
    fi
    return 1
}

_pg_install() {
    echo "pg.sh: installing postgresql (Debian package)" >&2
    _pg_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive _pg_sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

_pg_free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$(( 20000 + RANDOM % 30000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    echo "pg.sh: no free port found" >&2
    return 1
}

# Runs a command as the cluster owner: `postgres` when we are root (initdb refuses root).
_pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

pg_start() {
    if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
        echo "pg.sh: already running in $PG_DIR" >&2
        return 0
    fi
    _pg_find_bin || { _pg_install; _pg_find_bin; } || { echo "pg.sh: initdb not found after install" >&2; return 1; }
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    PG_DIR="$(mktemp -d /tmp/bifrost-pg.XXXXXX)"
    chmod 755 "$PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_DIR"; fi
    _pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    PG_PORT="$(_pg_free_port)"
    _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off" start >/dev/null \
        || { cat "$PG_DIR/server.log" >&2; return 1; }
    for _ in $(seq 1 60); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then break; fi
        sleep 0.5
    done
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || { cat "$PG_DIR/server.log" >&2; return 1; }
    export PG_DIR PG_BIN PG_PORT
    export BIFROST_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    trap pg_stop EXIT
    echo "BIFROST_TEST_POSTGRES_URL=$BIFROST_TEST_POSTGRES_URL"
}

pg_stop() {
    if [ -z "${PG_DIR:-}" ]; then return 0; fi
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
        _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null || true
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
    unset BIFROST_TEST_POSTGRES_URL
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        start)
            pg_start
            trap - EXIT
            echo "export BIFROST_TEST_POSTGRES_URL=$BIFROST_TEST_POSTGRES_URL"
            echo "stop with: PG_DIR=$PG_DIR PG_BIN=$PG_BIN bash $0 stop"
            ;;
        stop) pg_stop ;;
        *) echo "usage: source $0 (then pg_start / pg_stop), or $0 start|stop" >&2; exit 2 ;;
    esac
fi
