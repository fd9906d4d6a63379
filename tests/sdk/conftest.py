"""Starts the mock provider and the gateway (the debug binaries `scripts/test.sh` builds) on
free loopback ports for the SDK tests, and stops them afterwards."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("BIFROST_BIN_DIR", os.path.join(ROOT, "target", "debug"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, what):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready at {url}")


def start(args, ready_url, what):
    # A fresh app dir: the gateway's config and logs databases start empty.
    env = dict(os.environ, XDG_CONFIG_HOME=tempfile.mkdtemp(prefix="bifrost-sdk-"))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wait_ready(ready_url, proc, what)
    return proc


@pytest.fixture(scope="session")
def gateway():
    procs = []
    try:
        mock_port, flaky_port, gw_port = free_port(), free_port(), free_port()
        mock = f"http://127.0.0.1:{mock_port}"
        flaky = f"http://127.0.0.1:{flaky_port}"
        procs.append(start([f"{BIN}/bifrost-mock", "-port", str(mock_port)],
                           f"{mock}/health", "mock"))
        procs.append(start([f"{BIN}/bifrost-mock", "-port", str(flaky_port), "-fail-rate", "1",
                            "-fail-status", "429", "-retry-after-ms", "1000"],
                           f"{flaky}/health", "flaky mock"))
        config = {
            "providers": {
                "openai": {"keys": [{"value": "sk-mock-openai"}],
                           "network_config": {"base_url": mock}},
                "anthropic": {"keys": [{"value": "sk-ant-mock"}],
                              "network_config": {"base_url": mock}},
                "gemini": {"keys": [{"value": "gm-mock"}],
                           "network_config": {"base_url": mock}},
                # A Bedrock API key (bearer); the mock speaks Converse and event-stream.
                "bedrock": {"keys": [{"value": "bedrock-api-key-mock"}],
                            "network_config": {"base_url": mock}},
                # Serves only `mistral-small`: any other mistral model has no key (401).
                "mistral": {"keys": [{"value": "mi-mock", "models": ["mistral-small"]}],
                            "network_config": {"base_url": mock}},
                "flaky": {"keys": [{"value": "fl-mock"}],
                          "network_config": {"base_url": flaky, "max_retries": 0},
                          "custom_provider_config": {"base_provider_type": "openai"}},
            }
        }
        path = os.path.join(tempfile.mkdtemp(prefix="bifrost-sdk-"), "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        url = f"http://127.0.0.1:{gw_port}"
        procs.append(start([f"{BIN}/bifrost-http", "-config", path, "-port", str(gw_port),
                            "-host", "127.0.0.1"], f"{url}/health", "gateway"))
        yield url
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=35)
            except subprocess.TimeoutExpired:
                p.kill()


WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                       "required": ["location"]},
    },
}
