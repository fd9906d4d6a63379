#!/usr/bin/env bash
# Runs every test of the workspace. Needs the Rust toolchain; installs the rest itself:
# promtool (Debian package `prometheus`) to validate the /metrics exposition. The tests start
# the gateway and our mock provider on loopback ports themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v promtool >/dev/null || apt_install prometheus

cargo test --workspace --all-targets
cargo test --workspace --doc
# The embedding example, end to end against the in-process mock.
env -u OPENAI_API_KEY cargo run --quiet -p bifrost-core --example chat
