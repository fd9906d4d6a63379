#!/usr/bin/env bash
# Fuzzes the management API against its own OpenAPI document with schemathesis: starts the
# debug gateway (target/debug/bifrost-http, built by scripts/test.sh) with the built-in mock
# provider and a fresh app dir on a free loopback port, sends one chat completion so the logs
# have a row, runs schemathesis against /api/openapi.json, and stops the gateway.
#
# Checks: no 5xx; every answer's status, content type, headers and body as documented; and a
# request that breaks the document (a client mistake) is refused with a 4xx.
# Admin auth is off here, so no credentials are generated (any would be ignored, rightly).
# Left out: GET /api/logs/stream (an event stream that never ends). Bounded by --max-examples
# and --max-time. One worker: with two, CPython 3.11's AST parser (which hypothesis calls to
# describe its filters) now and then fails across threads with a runtime error. Usage: tests/api/run_schemathesis.sh [extra schemathesis args…]
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${API_VENV:-target/api-venv}
BIN=${BIFROST_BIN_DIR:-target/debug}/bifrost-http
[ -x "$VENV/bin/schemathesis" ] || {
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/api/requirements.txt
}

work=$(mktemp -d -t bifrost-api-XXXXXX)
gw=""
cleanup() {
    if [ -n "$gw" ]; then
        kill "$gw" 2>/dev/null || true
        wait "$gw" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
echo '{"providers":{"mock":{"keys":[]}}}' > "$work/config.json"
XDG_CONFIG_HOME="$work/app" "$BIN" -config "$work/config.json" -host 127.0.0.1 -port "$port" \
    >"$work/gateway.log" 2>&1 &
gw=$!
"$VENV/bin/python" - "$url" "$gw" <<'PY' || { cat "$work/gateway.log"; exit 1; }
import json, os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 30
while True:
    try:
        urllib.request.urlopen(url + "/health", timeout=1).close()
        break
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit("the gateway exited")
        if time.time() > deadline:
            sys.exit("the gateway did not start")
        time.sleep(0.1)
body = {"model": "mock/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                             headers={"content-type": "application/json"})
urllib.request.urlopen(req, timeout=10).close()
PY

status=0
# Run from the temp dir: schemathesis keeps a cache in its working directory.
st=$(realpath "$VENV/bin/schemathesis")
(cd "$work" && "$st" run "$url/api/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
    --exclude-path /api/logs/stream \
    --max-examples "${MAX_EXAMPLES:-25}" \
    --max-time "${MAX_TIME:-60}" \
    --request-timeout 10 \
    --workers 1 \
    --suppress-health-check=filter_too_much \
    --seed "${SEED:-$RANDOM}" \
    --no-color \
    --generation-database none \
    --generation-with-security-parameters false \
    "$@") || status=$?
if [ "$status" != 0 ]; then
    echo "--- gateway log (last 50 lines)" >&2
    tail -n 50 "$work/gateway.log" >&2
fi
exit "$status"
