#!/usr/bin/env bash
# Runs every test of the workspace. Needs only the Rust toolchain: the tests start the gateway
# and our mock provider on loopback ports themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo test --workspace --doc
# The embedding example, end to end against the in-process mock.
env -u OPENAI_API_KEY cargo run --quiet -p bifrost-core --example chat
