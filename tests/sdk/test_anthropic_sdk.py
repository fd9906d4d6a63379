"""The official Anthropic Python SDK against `/anthropic`, served by an Anthropic upstream and,
by translation, by an OpenAI-format one."""

import anthropic
import pytest

HELLO = [{"role": "user", "content": "Hello!"}]
WEATHER = [{"role": "user", "content": "What's the weather in Paris?"}]
TOOL = {"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                         "required": ["location"]}}
MODELS = ["claude-3-5-haiku-latest", "openai/gpt-4o-mini", "gemini/gemini-2.0-flash",
          "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"]


@pytest.fixture
def client(gateway):
    return anthropic.Anthropic(base_url=gateway + "/anthropic", api_key="sk-ant-anything",
                               max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_messages(client, model):
    m = client.messages.create(model=model, max_tokens=64, messages=HELLO,
                               system="Be brief.")
    assert m.type == "message" and m.role == "assistant"
    assert m.content[0].type == "text" and m.content[0].text == "Mock reply to: Hello!"
    assert m.stop_reason == "end_turn"
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_messages_stream(client, model):
    with client.messages.stream(model=model, max_tokens=64, messages=HELLO) as s:
        pieces = list(s.text_stream)
        final = s.get_final_message()
    assert "".join(pieces) == "Mock reply to: Hello!" and len(pieces) > 1
    assert final.content[0].text == "Mock reply to: Hello!"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_tool_use(client, model):
    m = client.messages.create(model=model, max_tokens=64, messages=WEATHER, tools=[TOOL])
    uses = [b for b in m.content if b.type == "tool_use"]
    assert m.stop_reason == "tool_use"
    assert uses[0].name == "get_weather" and uses[0].input == {"location": "Paris"}
    # The tool result goes back as the next turn.
    m2 = client.messages.create(
        model=model, max_tokens=64, tools=[TOOL],
        messages=WEATHER + [
            {"role": "assistant", "content": m.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id,
                                          "content": "18°C and sunny"}]}])
    assert m2.stop_reason in ("end_turn", "tool_use")


@pytest.mark.parametrize("model", MODELS)
def test_tool_use_stream(client, model):
    with client.messages.stream(model=model, max_tokens=64, messages=WEATHER,
                                tools=[TOOL]) as s:
        final = s.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert uses[0].name == "get_weather" and uses[0].input == {"location": "Paris"}
    assert final.stop_reason == "tool_use"


def test_image_input_reaches_an_openai_upstream(client):
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAA"
           "SUVORK5CYII=")
    m = client.messages.create(model="openai/gpt-4o-mini", max_tokens=64, messages=[
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": png}},
            {"type": "text", "text": "Hello!"}]}])
    assert m.content[0].text == "Mock reply to: Hello!"


def test_count_tokens(client):
    r = client.messages.count_tokens(model="claude-3-5-haiku-latest", messages=HELLO)
    assert r.input_tokens > 0


def test_errors_are_typed(client):
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model="mistral/mistral-large", max_tokens=8, messages=HELLO)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="flaky/any", max_tokens=8, messages=HELLO)
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="claude-3-5-haiku-latest", max_tokens=8,
                               messages=[{"role": "robot", "content": "Hello!"}])
    assert e.value.body["type"] == "error"
