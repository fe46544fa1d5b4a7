"""Peer chat, representations and contexts, on both backends, through the real SDK and raw
HTTP, with the fake model server: what the model is shown (and not shown), Honcho's SSE
framing, failures mid-stream, retrieval-only answers, and hard token budgets."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from conftest import AppClient, make_settings
from fake_openai import FakeOpenAI, fake_openai
from helpers import chat_model_settings, embeddings_only
from parley.api.honcho_v2.dialectic import sse
from parley.app import create_app
from parley.memory.dialectic import NO_MODEL
from parley.tokens import count_tokens

W = "w"
ANSWER = "Question:"  # every chat prompt ends with the question


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=256) as server:
        yield server


@pytest.fixture
def settings_overrides(model: FakeOpenAI) -> dict[str, Any]:
    return chat_model_settings(model)


def post(client: TestClient, path: str, body: Any) -> Any:
    response = client.post(f"/v2/workspaces/{W}{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def observe(
    client: TestClient, content: str, observer: str, observed: str, session: str, **extra: Any
) -> None:
    item = {
        "content": content,
        "observer_id": observer,
        "observed_id": observed,
        "session_id": session,
    } | extra
    post(client, "/observations", {"observations": [item]})


@pytest.fixture
def memory(client: TestClient) -> TestClient:
    """alice and bob, two sessions, facts from several observers and about several peers."""
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    post(client, "/sessions", {"id": "s1", "peers": {"alice": {}, "bob": {}}})
    post(client, "/sessions", {"id": "s2", "peers": {"alice": {}}})
    post(
        client,
        "/sessions/s1/messages/",
        {
            "messages": [
                {
                    "peer_id": "alice",
                    "content": "I keep bees on my roof.",
                    "created_at": "2024-05-01T09:00:00Z",
                },
                {
                    "peer_id": "bob",
                    "content": "Bees? Do they sting?",
                    "created_at": "2024-05-01T09:01:00Z",
                },
            ]
        },
    )
    post(
        client,
        "/sessions/s2/messages/",
        {"messages": [{"peer_id": "alice", "content": "I play chess on Sundays."}]},
    )
    observe(client, "Alice keeps bees on her roof.", "alice", "alice", "s1")
    observe(client, "Alice plays chess on Sundays.", "alice", "alice", "s2")
    observe(client, "Alice seems shy to Bob.", "bob", "alice", "s1")
    observe(client, "Bob likes trains.", "alice", "bob", "s1")
    observe(client, "Bob asked whether bees sting.", "bob", "bob", "s1")
    response = client.put(f"/v2/workspaces/{W}/peers/alice/card", json={"peer_card": ["Beekeeper"]})
    assert response.status_code == 200
    return client


def last_prompt(model: FakeOpenAI) -> str:
    return [p for p in model.prompts() if ANSWER in p][-1]


def test_chat_answers_from_the_peers_own_memory(
    memory: TestClient, model: FakeOpenAI, honcho_for: Any
) -> None:
    model.script(ANSWER, "Alice keeps bees and plays chess.")
    alice = honcho_for(W).peer("alice")
    assert alice.chat("What are Alice's hobbies?") == "Alice keeps bees and plays chess."
    prompt = last_prompt(model)
    assert "Alice keeps bees on her roof." in prompt
    assert "Alice plays chess on Sundays." in prompt
    assert "- Beekeeper" in prompt
    assert "Question: What are Alice's hobbies?" in prompt
    # what another observer thinks, and facts about another peer, are not alice's own view
    assert "Alice seems shy to Bob." not in prompt
    assert "Bob likes trains." not in prompt
    usage = memory.get(f"/v2/workspaces/{W}/usage").json()["items"]
    assert [(u["role"], u["calls"]) for u in usage] == [("dialectic", 1)]


def test_a_session_scopes_facts_and_adds_its_history(
    memory: TestClient, model: FakeOpenAI, honcho_for: Any
) -> None:
    model.script(ANSWER, "Bees.")
    alice = honcho_for(W).peer("alice")
    assert alice.chat("What does Alice do?", session="s1") == "Bees."
    prompt = last_prompt(model)
    assert "Alice keeps bees on her roof." in prompt
    assert "Alice plays chess on Sundays." not in prompt  # a fact from another session
    assert (
        "The conversation so far in this session:\nalice: I keep bees on my roof.\nbob: Bees? Do they sting?"
        in prompt
    )


def test_target_asks_what_the_observer_knows_about_another_peer(
    memory: TestClient, model: FakeOpenAI, honcho_for: Any
) -> None:
    model.script(ANSWER, "He likes trains.")
    alice = honcho_for(W).peer("alice")
    assert alice.chat("What does Bob like?", target="bob") == "He likes trains."
    prompt = last_prompt(model)
    assert "Bob likes trains." in prompt
    assert "Bob asked whether bees sting." not in prompt  # bob's own view, not alice's
    assert "Alice keeps bees on her roof." not in prompt
    assert "`bob`, as `alice` knows them" in prompt
    bobs_view = memory.post(
        f"/v2/workspaces/{W}/peers/bob/chat", json={"query": "Is Alice shy?", "target": "alice"}
    )
    assert bobs_view.status_code == 200
    prompt = last_prompt(model)
    assert "Alice seems shy to Bob." in prompt and "Alice keeps bees on her roof." not in prompt


def test_chat_leaves_out_the_sessions_the_asker_left(memory: TestClient, model: FakeOpenAI) -> None:
    """The target's messages come from the sessions the asking peer is in now: after leaving,
    it did not see what the session says."""
    model.script(ANSWER, "Yes.")
    body = {"query": "Does Alice keep bees?", "target": "alice"}
    post(memory, "/peers/bob/chat", body)
    assert "I keep bees on my roof." in last_prompt(model)
    response = memory.request("DELETE", f"/v2/workspaces/{W}/sessions/s1/peers", json=["bob"])
    assert response.status_code == 200
    post(memory, "/peers/bob/chat", body)
    prompt = last_prompt(model)
    assert "I keep bees on my roof." not in prompt
    assert "Alice seems shy to Bob." in prompt  # its own observations stay


def test_streaming_through_the_sdk(memory: TestClient, model: FakeOpenAI, honcho_for: Any) -> None:
    model.script(ANSWER, "Alice keeps bees on her roof, and she plays chess.")
    alice = honcho_for(W).peer("alice")
    pieces = list(alice.chat("Hobbies?", stream=True))
    assert "".join(pieces) == "Alice keeps bees on her roof, and she plays chess."
    assert len(pieces) > 3


def frames(response: Any) -> list[dict[str, Any]]:
    body = response.text
    assert body.endswith("\n\n")
    chunks = body.split("\n\n")[:-1]
    assert all(chunk.startswith("data: ") and "\n" not in chunk for chunk in chunks)
    return [json.loads(chunk[len("data: ") :]) for chunk in chunks]


def test_the_sse_framing_is_honchos(memory: TestClient, model: FakeOpenAI) -> None:
    model.script(ANSWER, "Bees and chess.")
    response = memory.post(
        f"/v2/workspaces/{W}/peers/alice/chat", json={"query": "Hobbies?", "stream": True}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    parsed = frames(response)
    assert parsed[-1] == {"delta": {"content": None}, "done": True}
    assert all(set(f) == {"delta", "done"} and f["done"] is False for f in parsed[:-1])
    assert "".join(f["delta"]["content"] for f in parsed[:-1]) == "Bees and chess."
    # byte for byte as Honcho's pydantic JSON: no spaces, non-ASCII as UTF-8
    assert response.text.endswith('data: {"delta":{"content":null},"done":true}\n\n')


def test_a_frame_is_compact_utf8_json() -> None:
    assert sse({"delta": {"content": "naïve — ok"}, "done": False}) == (
        'data: {"delta":{"content":"naïve — ok"},"done":false}\n\n'.encode()
    )


def test_a_model_failing_mid_stream_ends_with_an_error_frame(
    memory: TestClient, model: FakeOpenAI
) -> None:
    model.script(ANSWER, "Alice keeps bees on her roof.", break_stream_after=3)
    response = memory.post(
        f"/v2/workspaces/{W}/peers/alice/chat", json={"query": "Hobbies?", "stream": True}
    )
    assert response.status_code == 200
    parsed = frames(response)
    assert parsed[-1]["done"] is True and "the model failed" in parsed[-1]["error"]["message"]
    assert "".join(f["delta"]["content"] for f in parsed[:-1]) == "Alice keeps be"  # 2 pieces


def test_a_model_failing_before_streaming_is_a_clear_error(
    memory: TestClient, model: FakeOpenAI
) -> None:
    model.script(ANSWER, status=500)
    response = memory.post(f"/v2/workspaces/{W}/peers/alice/chat", json={"query": "Hobbies?"})
    assert response.status_code == 502
    assert "fake-model" in response.json()["detail"]


@pytest.fixture
def no_model(model: FakeOpenAI, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(database_url, tmp_path / "data", **embeddings_only(model))
    with AppClient(create_app(settings)) as client:
        yield client


def test_without_a_model_chat_answers_from_retrieval(
    no_model: TestClient, model: FakeOpenAI
) -> None:
    client = no_model
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    post(client, "/sessions", {"id": "s1", "peers": {"alice": {}}})
    observe(client, "Alice keeps bees on her roof.", "alice", "alice", "s1")
    answer = post(client, "/peers/alice/chat", {"query": "Does Alice keep bees?"})["content"]
    assert answer.startswith(f"{NO_MODEL} about alice for this question.")
    day = client.post(f"/v2/workspaces/{W}/observations/list", json={}).json()["items"][0][
        "created_at"
    ][:10]
    assert f"- ({day}) Alice keeps bees on her roof." in answer
    streamed = client.post(
        f"/v2/workspaces/{W}/peers/alice/chat",
        json={"query": "Does Alice keep bees?", "stream": True},
    )
    assert "".join((f.get("delta") or {}).get("content") or "" for f in frames(streamed)) == answer
    assert model.chat_requests() == []
    empty = post(client, "/peers/nobody-yet/chat", {"query": "Anything?"})["content"]
    assert empty == f"{NO_MODEL} about nobody-yet for this question: nothing yet."


def test_chat_get_or_creates_the_path_peer_and_checks_the_rest(
    memory: TestClient, model: FakeOpenAI
) -> None:
    model.script(ANSWER, "Nothing known.")
    assert post(memory, "/peers/carol/chat", {"query": "Who is Carol?"}) == {
        "content": "Nothing known."
    }
    assert memory.get(f"/v2/workspaces/{W}/peers/carol/card").status_code == 200
    base = f"/v2/workspaces/{W}/peers/alice/chat"
    # unknown targets, sessions and workspaces have no memory to draw on: Honcho answers
    # from nothing (200) and get-or-creates the path peer (and its workspace)
    for path, body in (
        (base, {"query": "x", "target": "ghost"}),
        (base, {"query": "x", "session_id": "nope"}),
        ("/v2/workspaces/nope/peers/alice/chat", {"query": "x"}),
    ):
        response = memory.post(path, json=body)
        assert (response.status_code, response.json()) == (200, {"content": "Nothing known."})
    assert memory.get("/v2/workspaces/nope/peers/alice/card").json() == {"peer_card": None}
    assert memory.post("/v2/workspaces/nope/peers/list").json()["total"] == 1
    for bad in (
        {"query": ""},
        {"query": "x" * 10_001},
        {"query": 5},
        {},
        {"query": "x", "target": "a b"},
    ):
        assert memory.post(base, json=bad).status_code == 422, bad


def test_representation_v2_shape_session_and_search(memory: TestClient) -> None:
    observe(
        memory,
        "Alice concludes bees need water.",
        "alice",
        "alice",
        "s1",
        level="deductive",
        premises=["Alice keeps bees on her roof."],
    )
    rep = post(memory, "/peers/alice/representation", {})["representation"]  # Honcho's wrapper
    assert [o["content"] for o in rep["explicit"]] == [
        "Alice keeps bees on her roof.",
        "Alice plays chess on Sundays.",
    ]
    assert rep["deductive"] == [
        {
            "created_at": rep["deductive"][0]["created_at"],
            "message_ids": [],
            "session_name": "s1",
            "premises": ["Alice keeps bees on her roof."],
            "conclusion": "Alice concludes bees need water.",
        }
    ]
    scoped = post(memory, "/peers/alice/representation", {"session_id": "s2"})["representation"]
    assert [o["content"] for o in scoped["explicit"]] == ["Alice plays chess on Sundays."]
    one = post(
        memory,
        "/peers/alice/representation",
        {"search_query": "chess on Sundays", "max_observations": 1},
    )["representation"]
    assert [o["content"] for o in one["explicit"]] == ["Alice plays chess on Sundays."]
    bobs = post(memory, "/peers/bob/representation", {"target": "alice"})["representation"]
    assert [o["content"] for o in bobs["explicit"]] == ["Alice seems shy to Bob."]


def test_representation_message_ids_are_the_messages_numbers(memory: TestClient) -> None:
    sent = memory.post(f"/v2/workspaces/{W}/sessions/s1/messages/list", json={}).json()["items"]
    state = memory.app.state.parley

    async def derive() -> None:
        from parley.memory.observations import NewObservation, store_observations

        item = NewObservation(
            content="Alice has a roof garden.",
            observer_id="alice",
            observed_id="alice",
            session_id="s1",
            message_ids=[sent[0]["id"]],
        )
        vectors = await state.embedder.embed([item.content])
        async with state.database.write() as db:
            await store_observations(db, W, [item], vectors, state.observation_index)

    memory.portal.call(derive)

    async def seq() -> int:
        from sqlalchemy import select

        from parley.store.models import Message

        async with state.database.read() as db:
            return int(await db.scalar(select(Message.seq).where(Message.id == sent[0]["id"])))

    rep = post(memory, "/peers/alice/representation", {})["representation"]
    cited = [o for o in rep["explicit"] if o["content"] == "Alice has a roof garden."]
    assert cited[0]["message_ids"] == [memory.portal.call(seq)]


def test_peer_context_has_the_representation_and_the_card(memory: TestClient) -> None:
    context = memory.get(f"/v2/workspaces/{W}/peers/alice/context").json()
    assert context["peer_id"] == context["target_id"] == "alice"
    assert context["peer_card"] == ["Beekeeper"]
    assert [o["content"] for o in context["representation"]["explicit"]] == [
        "Alice keeps bees on her roof.",
        "Alice plays chess on Sundays.",
    ]
    other = memory.get(f"/v2/workspaces/{W}/peers/alice/context", params={"target": "bob"}).json()
    assert (other["target_id"], other["peer_card"]) == ("bob", None)
    assert [o["content"] for o in other["representation"]["explicit"]] == ["Bob likes trains."]


def _long_session(client: TestClient, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    words = [
        "bees",
        "honey",
        "roof",
        "chess",
        "sunday",
        "river",
        "garden",
        "train",
        "coffee",
        "tea",
        "market",
    ]
    messages = [
        {
            "peer_id": rng.choice(["alice", "bob"]),
            "content": " ".join(rng.choices(words, k=rng.randint(1, 60))),
        }
        for _ in range(60)
    ]
    return list(post(client, "/sessions/s1/messages/", {"messages": messages}))


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(budget=st.integers(min_value=0, max_value=3000), perspective=st.booleans())
def test_session_context_never_exceeds_its_token_budget(
    memory: TestClient, budget: int, perspective: bool
) -> None:
    if not getattr(memory, "_long", False):
        _long_session(memory, seed=7)
        memory._long = True  # type: ignore[attr-defined]
    params: dict[str, Any] = {"tokens": budget}
    if perspective:
        params |= {"peer_target": "alice", "last_message": "bees"}
    response = memory.get(f"/v2/workspaces/{W}/sessions/s1/context", params=params)
    assert response.status_code == 200, response.text
    context = response.json()
    counted = sum(m["token_count"] for m in context["messages"])
    if context["summary"]:
        counted += context["summary"]["token_count"]
    for fact in context["peer_card"] or []:
        counted += count_tokens(fact)
    rep = context["peer_representation"] or {"explicit": [], "deductive": []}
    counted += sum(count_tokens(o["content"]) for o in rep["explicit"])
    counted += sum(
        count_tokens(
            f"{o['conclusion']} (premises: {'; '.join(o['premises'])})"
            if o["premises"]
            else o["conclusion"]
        )
        for o in rep["deductive"]
    )
    assert counted == context["tokens"] <= budget
    # the messages are the newest ones, in order, with nothing skipped
    everything = memory.post(
        f"/v2/workspaces/{W}/sessions/s1/messages/list",
        json={},
        params={"size": 100, "reverse": "true"},
    ).json()["items"]
    ids = [m["id"] for m in context["messages"]]
    assert ids == [m["id"] for m in everything[: len(ids)]][::-1]


def test_session_context_without_a_budget_and_its_errors(memory: TestClient) -> None:
    context = memory.get(f"/v2/workspaces/{W}/sessions/s1/context").json()
    assert [m["content"] for m in context["messages"]] == [
        "I keep bees on my roof.",
        "Bees? Do they sting?",
    ]
    assert context["summary"] is None and context["peer_representation"] is None
    assert context["tokens"] == sum(m["token_count"] for m in context["messages"])
    base = f"/v2/workspaces/{W}/sessions/s1/context"
    assert memory.get(base, params={"peer_perspective": "bob"}).status_code == 422
    # as in Honcho: a budget of nothing (or less) is an empty context; empty ids are absent
    for tokens in (0, -1):
        nothing = memory.get(base, params={"tokens": tokens}).json()
        assert (nothing["messages"], nothing["summary"], nothing["tokens"]) == ([], None, 0)
    unset = memory.get(base, params={"peer_target": "", "peer_perspective": ""}).json()
    assert unset["peer_representation"] is None and len(unset["messages"]) == 2
    assert memory.get(base, params={"tokens": 100_001}).status_code == 422
    # as in Honcho, an unknown target or session has an empty context
    ghost = memory.get(base, params={"peer_target": "ghost"}).json()
    assert ghost["peer_representation"] == {"explicit": [], "deductive": []}
    assert ghost["peer_card"] is None and len(ghost["messages"]) == 2
    assert memory.get(f"/v2/workspaces/{W}/sessions/nope/context").json() == {
        "id": "nope",
        "messages": [],
        "summary": None,
        "peer_representation": None,
        "peer_card": None,
        "tokens": 0,
    }
    perspective = memory.get(
        base, params={"peer_target": "alice", "peer_perspective": "bob"}
    ).json()
    assert [o["content"] for o in perspective["peer_representation"]["explicit"]] == [
        "Alice seems shy to Bob."
    ]
    assert perspective["peer_card"] is None
