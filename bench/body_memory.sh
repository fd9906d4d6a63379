#!/usr/bin/env bash
# Peak memory of the gateway while it holds large request bodies (issue 16 #8): one 90 MB
# chat body to /v1/chat/completions, one to /anthropic/v1/messages, then four at once.
# Prints the gateway's resident set at start and its peak (VmHWM) after each step. The mock
# refuses bodies over its own 2 MB limit with 413, after the gateway has read, parsed and sent
# the whole body, which is the part measured.
# Usage: bench/body_memory.sh [BIN_DIR, default target/release] (EXTRA='"…":…' adds client
# settings, e.g. EXTRA='"max_request_bytes_in_flight_mb":200').
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-target/release}
work=$(mktemp -d -t bifrost-bodies-XXXXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MP=$(port); GP=$(port)
M=""; G=""
cleanup() { kill $G $M 2>/dev/null || true; wait $G $M 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
python3 - "$work" <<'PY'
import json, sys
big = "a" * (90 * 1024 * 1024)
json.dump({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": big}]}, open(sys.argv[1] + "/chat.json", "w"))
json.dump({"model": "anthropic/claude-3-5-haiku-latest", "max_tokens": 10, "messages": [{"role": "user", "content": big}]}, open(sys.argv[1] + "/anthropic.json", "w"))
PY
"$B/bifrost-mock" -port "$MP" -no-auth >/dev/null 2>&1 & M=$!
cat > "$work/config.json" <<CFG
{"client":{"max_request_body_size_mb":200${EXTRA:+,$EXTRA}},
 "providers":{"openai":{"keys":[{"value":"sk-x"}],"network_config":{"base_url":"http://127.0.0.1:$MP"}},
              "anthropic":{"keys":[{"value":"sk-y"}],"network_config":{"base_url":"http://127.0.0.1:$MP"}}}}
CFG
XDG_CONFIG_HOME="$work/app" "$B/bifrost-http" -config "$work/config.json" -port "$GP" -host 127.0.0.1 >"$work/gw.log" 2>&1 & G=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$GP/health" && break; sleep 0.1; done
mb() { echo $(( $(awk -v k="$1:" '$1==k {print $2}' /proc/$G/status) / 1024 )); }
echo "rss at start: $(mb VmRSS) MB"
send() { curl -s -o /dev/null -w "%{http_code} " -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' --data-binary "@$work/$1.json" "http://127.0.0.1:$GP/$2"; }
send chat v1/chat/completions; echo "one chat body: peak $(mb VmHWM) MB"
send anthropic anthropic/v1/messages; echo "one Anthropic body: peak $(mb VmHWM) MB"
pids=""
for _ in 1 2 3 4; do send chat v1/chat/completions & pids="$pids $!"; done
wait $pids
echo; echo "four at once: peak $(mb VmHWM) MB"
