#!/usr/bin/env bash
# Instructions the gateway spends on N keep-alive chat requests, under callgrind (repeatable on a
# noisy machine). Usage: bench/callgrind_chat.sh BIN_DIR N OUT; compare two N to cancel startup.
set -u
B=$1; N=$2; OUT=$3
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MP=$(port); GP=$(port)
work=$(mktemp -d -t bifrost-cg-XXXXXX)
${MOCK_BIN:-target/release/bifrost-mock} -port $MP -no-auth >/dev/null 2>&1 & M=$!
cat > $work/config.json <<CFG
{"providers":{"openai":{"keys":[{"value":"sk-x"}],"network_config":{"base_url":"http://127.0.0.1:$MP"}}}}
CFG
XDG_CONFIG_HOME=$work/app valgrind --tool=callgrind --callgrind-out-file=$OUT $B/bifrost-http -config $work/config.json -port $GP -host 127.0.0.1 >$work/gw.log 2>&1 & G=$!
python3 - $GP $N <<'PY'
import http.client, json, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(600):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30); c.request("GET", "/health"); c.getresponse().read(); break
    except OSError:
        time.sleep(0.2)
body = json.dumps({"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello, how are you today?"}]})
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i in range(n):
    c.request("POST", "/v1/chat/completions", body, {"content-type":"application/json"})
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
PY
sleep 1; kill -TERM $G; wait $G; kill $M; wait $M 2>/dev/null
grep -E "^summary|^totals" $OUT | head -2
rm -rf "$work"
