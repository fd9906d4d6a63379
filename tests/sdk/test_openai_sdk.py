"""The official OpenAI Python SDK against the gateway, changing only base_url and api_key."""

import json

import openai
import pytest

from conftest import WEATHER_TOOL_OPENAI

HELLO = [{"role": "user", "content": "Hello!"}]


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=gateway + "/openai/v1", api_key="sk-anything",
                         max_retries=0)


def test_unified_v1_route_with_a_provider_prefix(gateway):
    c = openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0)
    r = c.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert r.choices[0].message.content == "Mock reply to: Hello!"


def test_chat(client):
    r = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert r.choices[0].message.content == "Mock reply to: Hello!"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens > r.usage.prompt_tokens


def test_chat_crosses_providers_by_prefix(client):
    r = client.chat.completions.create(model="anthropic/claude-3-5-haiku-latest",
                                       messages=HELLO, max_tokens=50)
    assert r.choices[0].message.content == "Mock reply to: Hello!"
    assert r.usage.completion_tokens > 0


def test_chat_stream_with_usage(client):
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock reply to: Hello!"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_tool_calls(client):
    r = client.chat.completions.create(
        model="gpt-4o-mini", tools=[WEATHER_TOOL_OPENAI],
        messages=[{"role": "user", "content": "What's the weather in Paris?"}])
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris"}


def test_tool_calls_from_gemini_upstream(client):
    r = client.chat.completions.create(
        model="gemini/gemini-2.0-flash", tools=[WEATHER_TOOL_OPENAI],
        messages=[{"role": "user", "content": "What's the weather in Paris?"}])
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris"}


def test_embeddings_base64_default(client):
    r = client.embeddings.create(model="text-embedding-3-small", input=["first", "second"])
    assert [d.index for d in r.data] == [0, 1]
    assert len(r.data[0].embedding) == 8
    assert all(isinstance(x, float) for x in r.data[0].embedding)
    assert r.data[0].embedding != r.data[1].embedding
    assert r.usage.prompt_tokens > 0


def test_embeddings_from_gemini_as_floats(client):
    r = client.embeddings.create(model="gemini/text-embedding-004", input="first",
                                 encoding_format="float")
    assert len(r.data) == 1 and len(r.data[0].embedding) > 0


def test_responses(client):
    r = client.responses.create(model="gpt-4o-mini", input="Hello!",
                                instructions="Be brief.")
    assert r.status == "completed"
    assert r.output_text == "Mock reply to: Hello!"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0


def test_responses_served_by_anthropic(client):
    r = client.responses.create(model="anthropic/claude-3-5-haiku-latest", input="Hello!",
                                max_output_tokens=64)
    assert r.output_text == "Mock reply to: Hello!"


def test_responses_stream(client):
    events = list(client.responses.create(model="gpt-4o-mini", input="Hello!", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Mock reply to: Hello!"
    assert events[-1].response.output_text == "Mock reply to: Hello!"
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_responses_tool_call(client):
    r = client.responses.create(
        model="gpt-4o-mini", input="What's the weather in Paris?",
        tools=[{"type": "function", "name": "get_weather", "description": "Weather",
                "parameters": WEATHER_TOOL_OPENAI["function"]["parameters"]}])
    calls = [o for o in r.output if o.type == "function_call"]
    assert calls and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"location": "Paris"}


def test_text_completion(client):
    r = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Hello!")
    assert r.choices[0].text == "Mock reply to: Hello!"
    stream = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Hello!",
                                       stream=True)
    assert "".join(c.choices[0].text for c in stream) == "Mock reply to: Hello!"


def test_transcription_upload(client):
    audio = b"RIFF" + bytes(2000)
    r = client.audio.transcriptions.create(model="whisper-1", file=("hello.wav", audio))
    assert r.text == "Mock transcription of hello.wav (2004 bytes) by whisper-1"


def test_speech(client):
    r = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello!")
    assert r.content[:4] == b"RIFF"


def test_image_generation(client):
    r = client.images.generate(model="dall-e-3", prompt="a cat", n=2)
    assert len(r.data) == 2 and r.data[0].b64_json


def test_models(client):
    ids = [m.id for m in client.models.list()]
    assert "mistral/mistral-small" in ids


def test_errors_are_typed(client):
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="mistral/mistral-large", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="flaky/any", messages=HELLO)
    assert e.value.response.headers.get("retry-after") is not None
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="anthropic/claude-3-5-haiku-latest",
                                       messages=HELLO, n=2)
    assert "n" in e.value.message
