#!/usr/bin/env bash
# Instructions the gateway spends on N keep-alive chat requests, under callgrind (repeatable on a
# noisy machine). Usage: bench/callgrind_chat.sh BIN_DIR N OUT; compare two N to cancel startup.
# VK=1: the requests carry a virtual key with a budget, a request and a token limit (memory
# counters), as in the harness's saturation-vk scenario; VK=redis: the same with the counters in
# a throwaway redis-server (saturation-vk-redis). NOLOG=1: request logging off (as in the
# harness's saturation-nolog and saturation-vk; the log writer's thread adds noise).
# LOG_LEVEL=warn: no per-request log line, as the harness runs the gateway.
# ROUTE=anthropic: the requests go to /anthropic/v1/messages instead (an Anthropic client served
# by the OpenAI-format mock: the Messages request and answer are translated both ways).
# CLIENTS=64: the chat requests come from oha with 64 connections at once (installed by
# bench/run.sh) instead of one keep-alive connection, as at saturation: what a request costs
# when the runtime, Redis's connection and the log writer serve many at a time.
set -u
B=$1; N=$2; OUT=$3
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MP=$(port); GP=$(port)
work=$(mktemp -d -t bifrost-cg-XXXXXX)
${MOCK_BIN:-target/release/bifrost-mock} -port $MP -no-auth >/dev/null 2>&1 & M=$!
GOV=""; VKH=""; CLIENT=""
[ "${NOLOG:-0}" = 1 ] && CLIENT='"client":{"enable_logging":false},'
R=""
if [ "${VK:-0}" = redis ]; then
    RP=$(port)
    redis-server --port $RP --bind 127.0.0.1 --save '' --appendonly no --dir $work >/dev/null 2>&1 & R=$!
    GOV='"kv_store":{"type":"redis","redis":{"addr":"127.0.0.1:'$RP'"}},'
fi
if [ "${VK:-0}" != 0 ]; then
    GOV=$GOV'"governance":{"budgets":[{"id":"b","max_limit":1000000000,"reset_duration":"1h"}],
      "rate_limits":[{"id":"r","request_max_limit":1000000000,"request_reset_duration":"1h",
                      "token_max_limit":1000000000000,"token_reset_duration":"1h"}],
      "virtual_keys":[{"id":"vk","value":"sk-bf-bench","budget_id":"b","rate_limit_id":"r"}]},'
    VKH=sk-bf-bench
fi
cat > $work/config.json <<CFG
{$GOV$CLIENT"providers":{"openai":{"keys":[{"value":"sk-x"}],"network_config":{"base_url":"http://127.0.0.1:$MP"}}}}
CFG
XDG_CONFIG_HOME=$work/app valgrind --tool=callgrind --callgrind-out-file=$OUT $B/bifrost-http -config $work/config.json -port $GP -host 127.0.0.1 ${LOG_LEVEL:+-log-level $LOG_LEVEL} >$work/gw.log 2>&1 & G=$!
if [ -n "${CLIENTS:-}" ]; then
    for _ in $(seq 600); do curl -sf http://127.0.0.1:$GP/health >/dev/null && break; sleep 0.2; done
    oha --no-tui -n $N -c $CLIENTS -m POST -H 'content-type: application/json' ${VKH:+-H "x-bf-vk: $VKH"} \
        -d '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello, how are you today?"}]}' \
        http://127.0.0.1:$GP/v1/chat/completions | grep -E "\[[0-9]{3}\] [0-9]+ responses"
else
python3 - $GP $N "$VKH" "${ROUTE:-chat}" <<'PY'
import http.client, json, sys, time
port, n, vk, route = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
headers = {"content-type": "application/json"}
if vk:
    headers["x-bf-vk"] = vk
for _ in range(600):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30); c.request("GET", "/health"); c.getresponse().read(); break
    except OSError:
        time.sleep(0.2)
msgs = [{"role":"user","content":"Hello, how are you today?"}]
if route == "anthropic":
    path, body = "/anthropic/v1/messages", json.dumps({"model":"openai/gpt-4o-mini","max_tokens":64,"messages":msgs})
else:
    path, body = "/v1/chat/completions", json.dumps({"model":"openai/gpt-4o-mini","messages":msgs})
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i in range(n):
    c.request("POST", path, body, headers)
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
PY
fi
sleep 1; kill -TERM $G; wait $G; kill $M; wait $M 2>/dev/null
[ -n "$R" ] && { kill $R; wait $R 2>/dev/null; }
grep -E "^summary|^totals" $OUT | head -2
rm -rf "$work"
