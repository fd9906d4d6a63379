#!/usr/bin/env bash
# What a virtual key costs at saturation: the same closed-loop load (wrk, 64 connections, POST
# chat completions to a 0 ms mock) through the gateway with no key, with a key whose counters
# are in memory, and with a key whose counters are in Redis. The gateway runs on CPU 1; the
# mock, Redis and wrk share CPU 0. Compare the ratios within one run.
#
#   bench/governance.sh [seconds]      (default 10; needs release binaries: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
BIN=target/release
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
[ -x "$BIN/bifrost-http" ] && [ -x "$BIN/bifrost-mock" ] || cargo build --release -q -p bifrost-http -p bifrost-mock

DIR="$(mktemp -d /tmp/bifrost-gov-bench.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
MOCK=18999 GW=18998 REDIS=18997

taskset -c 0 "$BIN/bifrost-mock" -port "$MOCK" >/dev/null 2>&1 & PIDS+=($!)
taskset -c 0 redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >/dev/null 2>&1 & PIDS+=($!)
wait_up() { for _ in $(seq 1 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }
wait_up "http://127.0.0.1:$MOCK/health"

cat > "$DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"openai/gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"Hello!"}]}'
wrk.headers["Content-Type"] = "application/json"
LUA

run() { # name, kv_store json, extra wrk args
    local name="$1" kv="$2"; shift 2
    cat > "$DIR/config.json" <<JSON
{"client":{"enable_logging":false},
 "providers":{"openai":{"keys":[{"value":"sk-bench"}],
   "concurrency_and_buffer_size":{"concurrency":10000,"buffer_size":10000},
   "network_config":{"base_url":"http://127.0.0.1:$MOCK","max_conns_per_host":10000}}},
 "governance":{"budgets":[{"id":"b","max_limit":1000000000,"reset_duration":"1h"}],
   "rate_limits":[{"id":"r","request_max_limit":1000000000,"request_reset_duration":"1h",
                   "token_max_limit":1000000000000,"token_reset_duration":"1h"}],
   "virtual_keys":[{"id":"vk","value":"sk-bf-bench","budget_id":"b","rate_limit_id":"r"}]}
 $kv}
JSON
    XDG_CONFIG_HOME="$DIR/app-$name" TOKIO_WORKER_THREADS=1 taskset -c 1 "$BIN/bifrost-http" -config "$DIR/config.json" -port "$GW" -log-level warn >/dev/null 2>&1 &
    local gw=$!
    wait_up "http://127.0.0.1:$GW/health"
    taskset -c 0 wrk -t1 -c64 -d2s -s "$DIR/post.lua" "$@" "http://127.0.0.1:$GW/v1/chat/completions" >/dev/null
    local out; out=$(taskset -c 0 wrk -t1 -c64 -d"${SECS}s" -s "$DIR/post.lua" "$@" "http://127.0.0.1:$GW/v1/chat/completions")
    local rps; rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    local non2xx; non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    printf '%-28s %10s RPS  non-2xx: %s\n' "$name" "$rps" "${non2xx:-0}"
    echo "$rps" > "$DIR/$name.rps"
    kill "$gw"; wait "$gw" 2>/dev/null || true
}

run "no virtual key" ''
run "virtual key, memory" '' -H 'x-bf-vk: sk-bf-bench'
run "virtual key, redis" ",\"kv_store\":{\"type\":\"redis\",\"redis\":{\"addr\":\"127.0.0.1:$REDIS\"}}" -H 'x-bf-vk: sk-bf-bench'
base=$(cat "$DIR/no virtual key.rps")
for n in "virtual key, memory" "virtual key, redis"; do
    awk -v a="$(cat "$DIR/$n.rps")" -v b="$base" -v n="$n" 'BEGIN {printf "%-28s %.0f%% of no key\n", n, 100*a/b}'
done
