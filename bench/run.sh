#!/usr/bin/env bash
# The benchmark harness, one command: builds the release binaries, installs the load generator
# (oha, from crates.io), nginx-light (the plain-proxy floor) and redis-server (the governance
# scenarios' counters) when missing, then runs
# bifrost-bench. Arguments go to bifrost-bench, e.g.:
#   bench/run.sh --duration 60 --scenarios rate-1k,slow-5k --out /tmp/results.md
# Sends traffic only to 127.0.0.1; every process it starts is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v oha >/dev/null || cargo install oha --locked --version 1.16.0
if ! command -v nginx >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    ($sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $sudo apt-get install -y -qq --no-install-recommends nginx-light >/dev/null) \
        || echo "nginx-light could not be installed: the nginx floor is skipped" >&2
fi
# The governance scenarios keep their counters in a throwaway Redis.
if ! command -v redis-server >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    ($sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null) \
        || echo "redis-server could not be installed: the *-vk-redis scenarios will fail" >&2
fi
# ≈5,000 requests in flight need ≈15,000 sockets across the three processes.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release -p bifrost-http -p bifrost-mock -p bifrost-bench -p bifrost-store
# The logs-api scenario measures PostgreSQL too: a throwaway server (scripts/pg.sh).
if [[ " $* " == *logs-api* ]]; then
    source scripts/pg.sh
    pg_start
    export BIFROST_BENCH_POSTGRES_URL="$BIFROST_TEST_POSTGRES_URL"
fi
target/release/bifrost-bench "$@"
