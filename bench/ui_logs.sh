#!/usr/bin/env bash
# The logs page of the web UI with a large table (issue: "renders its first page in ≤ 300 ms
# with 1,000,000 rows, never counts the whole table"): seeds a SQLite logs store in a throwaway
# app dir (bifrost-store-seed, rows 50 ms apart ending now), starts the release gateway on it,
# and times the page in Debian's headless Chromium (tests/ui/logs-bench.mjs).
#   bench/ui_logs.sh [rows] [runs]      (defaults: 1000000 rows, 15 runs per view)
# Everything runs on 127.0.0.1; the gateway it starts is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
RUNS="${2:-15}"

command -v chromium >/dev/null || { echo "needs Debian's chromium (apt-get install chromium)" >&2; exit 1; }
cargo build --release -q -p bifrost-http -p bifrost-store
(cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)

DIR="$(mktemp -d)"
GW_PID=""
cleanup() {
    [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR/bifrost"
START_MS=$(( $(date +%s) * 1000 - ROWS * 50 ))
target/release/bifrost-store-seed "$DIR/bifrost/logs.db" "$ROWS" "$START_MS"
ls -la "$DIR/bifrost/logs.db"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
XDG_CONFIG_HOME="$DIR" target/release/bifrost-http -host 127.0.0.1 -port "$PORT" >"$DIR/gw.log" 2>&1 &
GW_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
echo "API alone, first page (limit 50):"
for _ in 1 2 3; do curl -s -o /dev/null -w "  %{time_total}s\n" "http://127.0.0.1:$PORT/api/logs?limit=50"; done
node tests/ui/logs-bench.mjs "http://127.0.0.1:$PORT" "$RUNS"
