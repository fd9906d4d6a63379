#!/usr/bin/env bash
# Runs every test of the workspace. Needs the Rust toolchain; installs the rest itself:
# promtool (Debian package `prometheus`) to validate the /metrics exposition, PostgreSQL
# (Debian package `postgresql`; a throwaway cluster in a temp dir on a free loopback port, see
# scripts/pg.sh) for the store tests on both backends, Redis (Debian package `redis-server`;
# the governance tests start and stop their own servers) for limits shared by replicas, and Python 3 with the official OpenAI,
# Anthropic and Google GenAI SDKs (pinned, in a virtual environment under target/) for the
# drop-in SDK tests, and schemathesis (pinned, in its own virtual environment) to fuzz the
# management API against its OpenAPI document. The tests start the gateway and our mock
# provider on loopback ports themselves. The web UI is tested in Debian's headless Chromium
# (package `chromium`) driven by playwright-core (pinned in tests/ui/package-lock.json). The fuzz
# targets (fuzz/) need cargo-fuzz, which fuzz/run.sh installs from crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_UPDATED=""
apt_install() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    [ -n "$APT_UPDATED" ] || { $sudo apt-get update -qq; APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v promtool >/dev/null || apt_install prometheus
# Redis for the governance tests (each starts its own throwaway server on a free port).
command -v redis-server >/dev/null || apt_install redis-server
export BIFROST_REQUIRE_REDIS=1
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3 python3-venv
# The web UI's end-to-end tests: Debian's Chromium driven by playwright-core (npm), and curl.
command -v chromium >/dev/null || apt_install chromium
command -v npm >/dev/null || apt_install nodejs npm
command -v curl >/dev/null || apt_install curl

# PostgreSQL for the store tests: they fail, rather than skip, without it.
source scripts/pg.sh
pg_start
export BIFROST_REQUIRE_POSTGRES=1

cargo test --workspace --all-targets
cargo test --workspace --doc
# The embedding example, end to end against the in-process mock.
env -u OPENAI_API_KEY cargo run --quiet -p bifrost-core --example chat
# Two custom plugins on the engine's pipeline (they check their own output).
cargo run --quiet -p bifrost-core --example plugins

# The official SDKs as real clients of the gateway (tests/sdk).
VENV=target/sdk-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r tests/sdk/requirements.txt
cargo build -q -p bifrost-http -p bifrost-mock
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/sdk

# The management API against its own OpenAPI document (tests/api): no 5xx, every answer as
# documented.
API_VENV=target/api-venv
[ -x "$API_VENV/bin/python" ] || python3 -m venv "$API_VENV"
"$API_VENV/bin/pip" install -q --disable-pip-version-check -r tests/api/requirements.txt
# A fixed seed keeps CI reproducible; run tests/api/run_schemathesis.sh by hand for new seeds.
SEED="${SEED:-6035}" API_VENV="$API_VENV" tests/api/run_schemathesis.sh

# The web UI end to end in a real headless Chromium (tests/ui): log in, add a provider, create a
# virtual key, send requests, find them in the logs, deactivate the key; every page at 1280 and
# 390 px. Screenshots go to target/ui-shots.
(cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)
node --test --test-concurrency=1 tests/ui/e2e.test.mjs

# Every parser an untrusted party feeds (client bodies and headers, upstream answers and
# streams, the config file), fuzzed from its committed corpus for a short budget each
# (fuzz/README.md says how to run them longer).
fuzz/run.sh "${FUZZ_SECONDS:-15}"
