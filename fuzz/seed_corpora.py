#!/usr/bin/env python3
"""Builds the fuzz seed corpora (fuzz/corpus/<target>/) from the golden fixtures: the JSON
bodies of the insta snapshots, the SSE fixtures, the config fixtures, and real answers of the
mock provider (every provider's unary and streamed shapes, Bedrock's binary event stream).

Usage: fuzz/seed_corpora.py [path to bifrost-mock, default target/debug/bifrost-mock]
Run from the repository root. Seeds are named by content hash, so reruns add nothing twice."""
import glob, hashlib, json, os, socket, subprocess, sys, time, urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def snapshot_bodies():
    for path in sorted(glob.glob(os.path.join(ROOT, "crates", "**", "*.snap"), recursive=True)):
        text = open(path).read()
        parts = text.split("\n---\n", 1)
        if len(parts) != 2:
            continue
        try:
            yield json.dumps(json.loads(parts[1]), indent=None).encode()
        except ValueError:
            pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(url, body, headers=None):
    h = {"content-type": "application/json", "authorization": "Bearer sk-fuzz",
         "x-api-key": "sk-fuzz", "x-goog-api-key": "k", "anthropic-version": "2023-06-01"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        # An error body is an upstream answer too; say so, the seed is still kept.
        body = e.read()
        print(f"{url}: {e.code} {body[:200]!r}", file=sys.stderr)
        return body


def mock_answers(mock_bin):
    port = free_port()
    proc = subprocess.Popen([mock_bin, "-port", str(port), "-chunks", "4", "-no-auth"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        msgs = [{"role": "user", "content": "Tell me a joke"}]
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]
        oa = {"model": "gpt-4o-mini", "messages": msgs}
        oa_tools = dict(oa, tools=tools, messages=[{"role": "user", "content": "weather in Paris?"}])
        an = {"model": "claude-3-5-haiku-latest", "max_tokens": 100, "messages": msgs}
        ge = {"contents": [{"role": "user", "parts": [{"text": "Tell me a joke"}]}]}
        co = {"model": "command-r", "messages": msgs}
        br = {"messages": [{"role": "user", "content": [{"text": "Tell me a joke"}]}]}
        rs = {"model": "gpt-4o-mini", "input": "Tell me a joke"}
        out = {
            # (selector byte for upstream_json, body) and (selector for upstream_sse, body)
            "json": [
                (0, post(base + "/v1/chat/completions", oa)),
                (0, post(base + "/v1/chat/completions", oa_tools)),
                (1, post(base + "/v1/messages", an)),
                (2, post(base + "/v1beta/models/gemini-2.0-flash:generateContent", ge)),
                (3, post(base + "/v2/chat", co)),
                (4, post(base + "/model/anthropic.claude-3-haiku/converse", br)),
                (5, post(base + "/v1/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]})),
                (5, post(base + "/v2/embed", {"model": "embed-v4.0", "texts": ["a"], "input_type": "search_document", "embedding_types": ["float"]})),
                (6, post(base + "/v2/rerank", {"model": "rerank-v3.5", "query": "q", "documents": ["a", "b"]})),
                (8, post(base + "/v1/responses", rs)),
            ],
            "sse": [
                (0, post(base + "/v1/chat/completions", dict(oa, stream=True, stream_options={"include_usage": True}))),
                (0, post(base + "/v1/chat/completions", dict(oa_tools, stream=True))),
                (1, post(base + "/v1/messages", dict(an, stream=True))),
                (2, post(base + "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", ge)),
                (3, post(base + "/v2/chat", dict(co, stream=True))),
                (6, post(base + "/v1/responses", dict(rs, stream=True))),
            ],
            "eventstream": [post(base + "/model/anthropic.claude-3-haiku/converse-stream", br)],
        }
        with urllib.request.urlopen(base + "/v1/models", timeout=10) as r:
            out["json"].append((7, r.read()))
        return out
    finally:
        proc.terminate()
        proc.wait()


def main():
    mock_bin = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "bifrost-mock")
    bodies = list(snapshot_bodies())
    for b in bodies:
        for t in ("inbound_openai", "inbound_anthropic", "inbound_genai", "inbound_responses"):
            add(t, b)
        for sel in range(5):
            add("upstream_json", bytes([sel]) + b)
    answers = mock_answers(mock_bin)
    for sel, body in answers["json"]:
        add("upstream_json", bytes([sel]) + body)
    for sel, body in answers["sse"]:
        for step in (7, 63):
            add("upstream_sse", bytes([sel, step]) + body)
            # The same stream through the same-format relay of its API.
            relay = {0: 5, 1: 4, 2: 7, 6: 6}.get(sel)
            if relay is not None:
                add("upstream_sse", bytes([relay, step]) + body)
    for body in answers["eventstream"]:
        for step in (5, 63):
            add("upstream_eventstream", bytes([step]) + body)
    for path in glob.glob(os.path.join(ROOT, "crates", "bifrost-core", "tests", "fixtures", "*", "*.sse")):
        sel = {"anthropic": 1, "cohere": 3}[os.path.basename(os.path.dirname(path))]
        add("upstream_sse", bytes([sel, 63]) + open(path, "rb").read())
    # Client bodies of every inbound format, as the SDKs send them.
    add("inbound_openai", json.dumps({"model": "openai/gpt-4o-mini", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}], "stream": True, "stream_options": {"include_usage": True}, "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object", "properties": {"reasoning": {"type": "string"}, "answer": {"type": "string"}}}}}, "fallbacks": ["anthropic/claude-3-5-haiku-latest"]}))
    add("inbound_openai", json.dumps({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 256}))
    add("inbound_anthropic", json.dumps({"model": "claude-sonnet-4", "max_tokens": 1024, "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}], "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]}, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}, {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]}], "tools": [{"name": "f", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "web_search"}]}))
    add("inbound_genai", json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}], "systemInstruction": {"parts": [{"text": "s"}]}, "generationConfig": {"temperature": 0.5, "responseMimeType": "application/json", "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}, "thinkingConfig": {"thinkingBudget": 128}}, "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}]}))
    add("inbound_genai", json.dumps({"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}}]}))
    add("inbound_responses", json.dumps({"model": "gpt-4o-mini", "instructions": "be brief", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}, {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}, {"type": "function_call_output", "call_id": "c1", "output": "ok"}], "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}], "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}}, "reasoning": {"effort": "low"}, "stream": True}))
    add("inbound_multipart", b"XyZ\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nopenai/whisper-1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF....WAVE\r\n--XyZ\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n--XyZ--\r\n")
    for h in (b"retry-after: 12\nretry-after-ms: 1500.5",
              b"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\nx-bf-session-id: conv-1\nx-bf-session-ttl: 3600",
              b"x-bf-api-key: main\nx-bf-api-key-id: k-1\nretry-after-ms: inf\nretry-after: 1e300"):
        add("headers", h)
    for path in [os.path.join(ROOT, "crates", "bifrost-http", "tests", "fixtures", "seed-config.json")]:
        add("config", open(path, "rb").read())
    add("config", json.dumps({"client": {"drop_excess_requests": False, "initial_pool_size": 300, "allowed_origins": ["*"], "log_queue_size": 1000, "prometheus_labels": ["team-id"]}, "providers": {"openai": {"keys": [{"value": "env.OPENAI_API_KEY", "models": ["gpt-4o-mini"], "weight": 1.0}], "network_config": {"timeout": 30000, "retries": 2, "retry_backoff_initial_ms": 100, "retry_backoff_max_ms": 2000}, "concurrency_and_buffer_size": {"concurrency": 10, "buffer_size": 100}}, "bedrock": {"keys": [{"value": "", "bedrock_key_config": {"access_key": "env.AWS_ACCESS_KEY_ID", "secret_key": "env.AWS_SECRET_ACCESS_KEY", "region": "us-east-1"}}]}, "azure": {"keys": [{"value": "k", "azure_key_config": {"endpoint": "https://x.openai.azure.com", "deployments": {"gpt-4o": "gpt4o"}, "api_version": "2024-08-01-preview"}}]}}}))
    for t in sorted(os.listdir(CORPUS)):
        print(f"{t}: {len(os.listdir(os.path.join(CORPUS, t)))} seeds")


if __name__ == "__main__":
    main()
