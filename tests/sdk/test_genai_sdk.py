"""The official Google GenAI Python SDK against `/genai`, served by a Gemini upstream and, by
translation, by an OpenAI-format one."""

import pytest
from google import genai
from google.genai import errors, types

MODELS = ["gemini-2.0-flash", "openai/gpt-4o-mini"]


@pytest.fixture
def client(gateway):
    return genai.Client(api_key="gm-anything",
                        http_options=types.HttpOptions(base_url=gateway + "/genai"))


@pytest.mark.parametrize("model", MODELS)
def test_generate_content(client, model):
    r = client.models.generate_content(
        model=model, contents="Hello!",
        config=types.GenerateContentConfig(system_instruction="Be brief.",
                                           max_output_tokens=64))
    assert r.text == "Mock reply to: Hello!"
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.usage_metadata.prompt_token_count > 0
    assert r.usage_metadata.candidates_token_count > 0


@pytest.mark.parametrize("model", MODELS)
def test_generate_content_stream(client, model):
    chunks = list(client.models.generate_content_stream(model=model, contents="Hello!"))
    assert "".join(c.text or "" for c in chunks) == "Mock reply to: Hello!"
    assert len(chunks) > 1
    assert chunks[-1].usage_metadata.candidates_token_count > 0


@pytest.mark.parametrize("model", MODELS)
def test_function_calling(client, model):
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="Weather for a city",
        parameters=types.Schema(type="OBJECT", properties={
            "location": types.Schema(type="STRING")}, required=["location"]))])
    r = client.models.generate_content(
        model=model, contents="What's the weather in Paris?",
        config=types.GenerateContentConfig(
            tools=[tool],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)))
    call = r.function_calls[0]
    assert call.name == "get_weather" and call.args == {"location": "Paris"}


def test_count_tokens(client):
    r = client.models.count_tokens(model="gemini-2.0-flash", contents="Hello there!")
    assert r.total_tokens > 0


def test_errors_are_typed(client):
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model="mistral/mistral-large", contents="Hello!")
    assert e.value.code == 401
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model="flaky/any", contents="Hello!")
    assert e.value.code == 429
    # A Gemini upstream would take Google Search as it is (the body passes through); a
    # translation to another API cannot express it, and says so.
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(
            model="openai/gpt-4o-mini", contents="Hello!",
            config=types.GenerateContentConfig(tools=[types.Tool(
                google_search=types.GoogleSearch())]))
    assert e.value.code == 400 and e.value.status == "INVALID_ARGUMENT"
