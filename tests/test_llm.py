"""The model layer against a real HTTP fake server: OpenAI-compatible and Anthropic providers,
streaming, structured output repaired or retried, SDK retries, usage metering."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from fake_openai import FakeOpenAI, fake_openai
from parley.config import Settings, SettingsError
from parley.llm.anthropic_chat import AnthropicChat
from parley.llm.chat import ChatMessage, ChatModel, ModelError, UsageMeter
from parley.llm.openai_chat import OpenAIChat
from parley.llm.roles import build_chat_models, resolve_provider
from parley.llm.structured import complete_structured, parse_reply


class Facts(BaseModel):
    facts: list[str]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as state:
        yield state


def openai_model(server: FakeOpenAI, retries: int = 0) -> ChatModel:
    provider = OpenAIChat(
        base_url=server.base_url,
        api_key=None,
        model="fake-model",
        timeout_s=5,
        max_retries=retries,
    )
    return ChatModel(provider, role="deriver", concurrency=2)


def anthropic_model(server: FakeOpenAI) -> ChatModel:
    provider = AnthropicChat(
        base_url=server.base_url.removesuffix("/v1"),
        api_key="k",
        model="claude-fake",
        timeout_s=5,
        max_retries=0,
    )
    return ChatModel(provider, role="dialectic", concurrency=2)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"facts": ["a"]}', {"facts": ["a"]}),
        ('Sure! ```json\n{"facts": ["a", "b"]}\n```', {"facts": ["a", "b"]}),
        ('<think>hmm {"x"</think>{"facts": ["c"]}', {"facts": ["c"]}),
        ('{"facts": ["a", "b",],}', {"facts": ["a", "b"]}),
        ('{"facts": ["cut off', {"facts": ["cut off"]}),
        ("Here you go: {'facts': ['single quotes']}", {"facts": ["single quotes"]}),
    ],
)
def test_parse_reply_repairs_what_weak_models_send(reply: str, expected: object) -> None:
    assert parse_reply(reply) == expected


@pytest.mark.parametrize("reply", ["", "no json here at all", '<think>{"a": 1}</think>'])
def test_parse_reply_refuses_replies_without_json(reply: str) -> None:
    with pytest.raises(ValueError):
        parse_reply(reply)


async def test_openai_complete_sends_messages_and_meters_usage(server: FakeOpenAI) -> None:
    server.script("capital of France", "Paris")
    model = openai_model(server)
    meter = UsageMeter()
    result = await model.complete(
        [ChatMessage("system", "Be brief."), ChatMessage("user", "capital of France?")],
        meter=meter,
        max_tokens=50,
    )
    assert result.text == "Paris"
    body = server.chat_requests()[0]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "capital of France?"},
    ]
    assert body["max_tokens"] == 50 and body["model"] == "fake-model"
    assert meter.calls == {("deriver", "fake-model"): [1, result.input_tokens, 1]}
    assert result.input_tokens > 0
    await model.close()


async def test_openai_stream_yields_deltas_and_usage(server: FakeOpenAI) -> None:
    server.script("tell", "Once upon a time, a peer remembered.")
    model = openai_model(server)
    meter = UsageMeter()
    pieces = [p async for p in model.stream([ChatMessage("user", "tell me")], meter=meter)]
    assert "".join(pieces) == "Once upon a time, a peer remembered."
    assert len(pieces) > 3
    assert meter.calls[("deriver", "fake-model")][0] == 1
    assert (
        meter.calls[("deriver", "fake-model")][2]
        == len("Once upon a time, a peer remembered.") // 4
    )
    await model.close()


async def test_a_stream_cut_mid_way_raises_model_error(server: FakeOpenAI) -> None:
    server.script("tell", "a long answer that never ends well", break_stream_after=3)
    model = openai_model(server)
    received = []
    with pytest.raises(ModelError):
        async for piece in model.stream([ChatMessage("user", "tell me")], meter=UsageMeter()):
            received.append(piece)
    assert "".join(received) == "a long answer "  # the role chunk, then two pieces of 7
    await model.close()


async def test_structured_output_asks_json_schema_and_validates(server: FakeOpenAI) -> None:
    server.script("facts", '{"facts": ["Ann lives in Oslo"]}')
    model = openai_model(server)
    result = await complete_structured(
        model, [ChatMessage("user", "list facts")], Facts, meter=UsageMeter()
    )
    assert result == Facts(facts=["Ann lives in Oslo"])
    request = server.chat_requests()[0]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"] == Facts.model_json_schema()
    assert request["temperature"] == 0.0
    await model.close()


async def test_invalid_structured_reply_is_sent_back_and_retried(server: FakeOpenAI) -> None:
    server.script("facts", '{"facts": "not a list"}', times=1)
    server.script("facts", '{"facts": ["fixed"]}')
    model = openai_model(server)
    meter = UsageMeter()
    result = await complete_structured(model, [ChatMessage("user", "facts?")], Facts, meter=meter)
    assert result.facts == ["fixed"]
    second = server.chat_requests()[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": '{"facts": "not a list"}'}
    assert "not valid (facts: Input should be a valid list)" in second[-1]["content"]
    assert meter.calls[("deriver", "fake-model")][0] == 2
    await model.close()


async def test_structured_gives_up_with_model_error_after_three_bad_replies(
    server: FakeOpenAI,
) -> None:
    server.script("facts", "I cannot answer that.")
    model = openai_model(server)
    with pytest.raises(ModelError, match="no valid Facts in 3 tries"):
        await complete_structured(model, [ChatMessage("user", "facts?")], Facts, meter=UsageMeter())
    assert len(server.chat_requests()) == 3
    await model.close()


async def test_server_without_json_schema_support_falls_back_to_json_object(
    server: FakeOpenAI,
) -> None:
    def reply(body: dict[str, object]) -> str:
        return '{"facts": ["ok"]}'

    server.script(
        "facts", status=400, times=1, error="response_format json_schema is not supported"
    )
    server.script("facts", reply)
    model = openai_model(server)
    result = await complete_structured(
        model, [ChatMessage("user", "facts?")], Facts, meter=UsageMeter()
    )
    assert result.facts == ["ok"]
    formats = [r.get("response_format", {}).get("type") for r in server.chat_requests()]
    assert formats == ["json_schema", "json_object"]
    await model.close()


async def test_sdk_retries_429_and_500_then_succeeds(server: FakeOpenAI) -> None:
    server.script("hello", status=429, times=1)
    server.script("hello", status=500, times=1)
    server.script("hello", "hi")
    model = openai_model(server, retries=2)
    result = await model.complete([ChatMessage("user", "hello")], meter=UsageMeter())
    assert result.text == "hi"
    assert len(server.chat_requests()) == 3
    await model.close()


async def test_exhausted_retries_raise_model_error(server: FakeOpenAI) -> None:
    server.script("hello", status=500)
    model = openai_model(server, retries=1)
    with pytest.raises(ModelError, match="fake-model"):
        await model.complete([ChatMessage("user", "hello")], meter=UsageMeter())
    assert len(server.chat_requests()) == 2
    await model.close()


async def test_a_slow_model_times_out_as_model_error(server: FakeOpenAI) -> None:
    server.script("hello", "late", delay_s=1.5)
    provider = OpenAIChat(
        base_url=server.base_url, api_key=None, model="m", timeout_s=0.5, max_retries=0
    )
    with pytest.raises(ModelError):
        await provider.complete([ChatMessage("user", "hello")], max_tokens=10, temperature=0.0)
    await provider.close()


async def test_anthropic_complete_stream_and_structured(server: FakeOpenAI) -> None:
    server.script("weather", "Sunny.")
    server.script("story", "A short story about memory.")
    server.script("facts", json.dumps({"facts": ["Bo likes jazz"]}))
    model = anthropic_model(server)
    meter = UsageMeter()
    done = await model.complete(
        [ChatMessage("system", "Be brief."), ChatMessage("user", "weather?")], meter=meter
    )
    assert done.text == "Sunny."
    first = server.chat_requests()[0]
    assert first["system"] == "Be brief."
    assert first["messages"] == [{"role": "user", "content": "weather?"}]
    streamed = [p async for p in model.stream([ChatMessage("user", "story")], meter=meter)]
    assert "".join(streamed) == "A short story about memory."
    facts = await complete_structured(model, [ChatMessage("user", "facts")], Facts, meter=meter)
    assert facts.facts == ["Bo likes jazz"]
    tool_request = server.chat_requests()[2]
    assert tool_request["tool_choice"] == {"type": "tool", "name": "reply"}
    assert tool_request["tools"][0]["input_schema"] == Facts.model_json_schema()
    assert meter.calls[("dialectic", "claude-fake")][0] == 3
    await model.close()


def test_roles_inherit_shared_settings_and_override_per_role(tmp_path: object) -> None:
    settings = Settings(
        llm_model="gpt-4o-mini",
        llm_base_url="http://localhost:1/v1",
        summary_model="claude-3-5-haiku",
        summary_api_key="k",
        dialectic_provider="none",
    )
    assert resolve_provider(settings, "deriver") == "openai"
    assert resolve_provider(settings, "summary") == "anthropic"
    assert resolve_provider(settings, "dialectic") == "none"
    models = build_chat_models(settings)
    assert models.deriver is not None and models.deriver.name == "gpt-4o-mini"
    assert isinstance(models.deriver.provider, OpenAIChat)
    assert models.summary is not None and isinstance(models.summary.provider, AnthropicChat)
    assert models.dialectic is None


def test_no_model_configured_means_no_models() -> None:
    models = build_chat_models(Settings())
    assert (models.deriver, models.summary, models.dialectic) == (None, None, None)


def test_llama_cpp_without_a_gguf_path_is_a_clear_settings_error() -> None:
    with pytest.raises(SettingsError, match="PARLEY_LLM_GGUF_PATH"):
        build_chat_models(Settings(llm_provider="llama_cpp"))


async def test_an_anthropic_stream_cut_mid_way_raises_model_error(server: FakeOpenAI) -> None:
    server.script("story", "a long answer that never ends well", break_stream_after=4)
    model = anthropic_model(server)
    with pytest.raises(ModelError, match="broke off"):
        async for _ in model.stream([ChatMessage("user", "story")], meter=UsageMeter()):
            pass
    await model.close()


def test_summary_intervals_must_grow() -> None:
    with pytest.raises(ValueError, match="summary_long_every must be greater"):
        Settings(summary_short_every=30, summary_long_every=30)


async def test_a_400_about_something_else_does_not_change_the_format(server: FakeOpenAI) -> None:
    server.script("facts", status=400, times=1, error="maximum context length exceeded")
    server.script("facts", '{"facts": ["ok"]}')
    model = openai_model(server)
    with pytest.raises(ModelError, match="context length"):
        await complete_structured(model, [ChatMessage("user", "facts?")], Facts, meter=UsageMeter())
    await complete_structured(model, [ChatMessage("user", "facts?")], Facts, meter=UsageMeter())
    formats = [r["response_format"]["type"] for r in server.chat_requests()]
    assert formats == ["json_schema", "json_schema"]
    await model.close()


async def test_a_reply_cut_off_at_max_tokens_is_asked_again_with_more_room(
    server: FakeOpenAI,
) -> None:
    def reply(body: dict[str, object]) -> str:
        return '{"facts": ["ok"]}' if body["max_tokens"] > 100 else '{"facts": ["cut'

    server.script("facts", reply)
    model = openai_model(server)
    server.truncate_below = 100  # the fake says finish_reason=length under 100 max_tokens
    result = await complete_structured(
        model, [ChatMessage("user", "facts?")], Facts, meter=UsageMeter(), max_tokens=64
    )
    assert result.facts == ["ok"]
    assert [r["max_tokens"] for r in server.chat_requests()] == [64, 128]
    await model.close()


def test_a_card_update_rebased_on_a_card_changed_meanwhile_keeps_both() -> None:
    from parley.memory.peer_cards import bounded, rebase

    read = ["Likes tea", "Lives in Oslo"]
    ours = ["Likes coffee", "Lives in Oslo"]  # replaced tea
    current = ["Likes tea", "Lives in Oslo", "Has a dog"]  # another task added a dog
    assert rebase(read, ours, current, 10) == ["Likes coffee", "Lives in Oslo", "Has a dog"]
    assert rebase(read, ours, read, 10) == ours
    gone = ["Likes tea"]  # someone removed Oslo meanwhile: it stays removed
    assert rebase(read, ours, gone, 10) == ["Likes coffee"]
    assert bounded(["a", "b"], ["a", "b", "c"], 2) == ["a", "c"]
