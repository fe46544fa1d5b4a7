"""/v3 session context and summaries (Honcho 3.0.12), and configuration resolved message ->
session -> workspace -> server as Honcho 3 resolves it: honcho-ai 2.7.0 over real HTTP, then
exact shapes, budgets and bad input in process on SQLite and PostgreSQL, then the effects of
each configuration level (queue items, summaries, prompts, dreams) through the fake model
server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from conftest import AppClient, make_settings, reasoning_settings, run_honcho_v3, wait_for_reasoning
from fake_openai import FakeOpenAI, fake_openai
from parley.app import create_app
from parley.memory.reasoning import enqueue_dream
from parley.store.models import Message, SessionSummary, WorkItem
from parley.tokens import count_tokens

V3 = "/v3/workspaces/w/sessions"


def _stamp(created_at: str) -> str:
    """An observation's time as Honcho 3's markdown shows it: UTC to the second, no zone."""
    when = datetime.fromisoformat(created_at.replace("Z", "+00:00")).astimezone(UTC)
    return str(when.replace(microsecond=0, tzinfo=None))


def _observe(client: TestClient, workspace_id: str, *items: dict[str, Any]) -> list[Any]:
    """Stores observations one request each (so each level lists them in this order) and
    answers them as stored."""
    stored = []
    for item in items:
        body = {"observer_id": "alice", "observed_id": "alice", "session_id": "s"} | item
        made = client.post(
            f"/v2/workspaces/{workspace_id}/observations", json={"observations": [body]}
        )
        assert made.status_code == 200, made.text
        stored.append(made.json()[0])
    return stored


def _say(client: TestClient, path: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
    sent = client.post(f"{path}/messages", json={"messages": list(messages)})
    assert sent.status_code == 201, sent.text
    return list(sent.json())


def _store_summary(client: TestClient, kind: str, content: str, upto: dict[str, Any]) -> None:
    """A summary as the summarizer writes one (no summary model runs in these tests)."""
    state = client.app.state.parley  # type: ignore[attr-defined]

    async def write() -> None:
        async with state.database.write() as db:
            seq = await db.scalar(select(Message.seq).where(Message.id == upto["id"]))
            await db.execute(
                insert(SessionSummary).values(
                    workspace_id=upto["workspace_id"],
                    session_id=upto["session_id"],
                    kind=kind,
                    content=content,
                    message_id=upto["id"],
                    message_seq=seq,
                    token_count=count_tokens(content),
                    created_at=datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),
                )
            )

    client.portal.call(write)  # type: ignore[union-attr]


# --- honcho-ai 2.7.0 over real HTTP ------------------------------------------------------------

SDK = r"""
import json, sys
from honcho import Honcho

client = Honcho(base_url=sys.argv[1], workspace_id="ctx", max_retries=0)
session = client.session("s")
full = session.context(peer_target="alice")
focused = session.context(
    tokens=500, peer_target="alice", search_query="Lisbon", max_conclusions=1, search_top_k=1
)
theirs = session.context(peer_target="alice", peer_perspective="bob", summary=False)
bare = session.context()
summaries = session.summaries()
print(json.dumps({
    "full": [[m.content for m in full.messages], full.peer_representation, full.peer_card],
    "focused": [focused.peer_representation, focused.summary],
    "theirs": [theirs.peer_representation, theirs.peer_card],
    "bare": [len(bare.messages), bare.peer_representation, bare.peer_card],
    "openai": bare.to_openai(assistant="bob"),
    "summaries": [summaries.id, summaries.short_summary, summaries.long_summary],
}))
"""


def test_honcho_ai_2_7_reads_session_context_and_summaries(served_each_backend: str) -> None:
    with httpx.Client(base_url=served_each_backend) as http:
        # no background reasoning: what is known is only what this test stores
        off = {"configuration": {"reasoning": {"enabled": False}}}
        assert http.post("/v3/workspaces", json={"id": "ctx"} | off).status_code == 201
        sent = http.post(
            "/v3/workspaces/ctx/sessions/s/messages",
            json={
                "messages": [
                    {"content": "I moved to Lisbon.", "peer_id": "alice"},
                    {"content": "Nice!", "peer_id": "bob"},
                ]
            },
        )
        assert sent.status_code == 201, sent.text
        stored = []
        for content in ("Alice lives in Lisbon.", "Alice plays chess."):
            made = http.post(
                "/v2/workspaces/ctx/observations",
                json={
                    "observations": [
                        {
                            "content": content,
                            "observer_id": "alice",
                            "observed_id": "alice",
                            "session_id": "s",
                        }
                    ]
                },
            )
            assert made.status_code == 200, made.text
            stored.append(made.json()[0])
        card = http.put("/v2/workspaces/ctx/peers/alice/card", json={"peer_card": ["Lisboner"]})
        assert card.status_code == 200, card.text

        lisbon, chess = (f"[{_stamp(o['created_at'])}] {o['content']}" for o in stored)
        assert run_honcho_v3(SDK, served_each_backend) == {
            "full": [
                ["I moved to Lisbon.", "Nice!"],
                f"## Explicit Observations\n\n{lisbon}\n{chess}\n",
                ["Lisboner"],
            ],
            "focused": [f"## Explicit Observations\n\n{lisbon}\n", None],
            # bob knows nothing of alice: the SDK reads the empty text as None
            "theirs": [None, None],
            "bare": [2, None, None],
            "openai": [
                {"role": "user", "name": "alice", "content": "I moved to Lisbon."},
                {"role": "assistant", "name": "bob", "content": "Nice!"},
            ],
            "summaries": ["s", None, None],
        }


# --- in process, on both backends --------------------------------------------------------------


def test_context_answers_v3s_shape_with_a_markdown_representation(client: TestClient) -> None:
    sent = _say(
        client,
        f"{V3}/s",
        {"content": "I moved to Lisbon.", "peer_id": "alice"},
        {"content": "Nice!", "peer_id": "bob"},
    )
    lives, plays, speaks = _observe(
        client,
        "w",
        {"content": "Alice lives in Lisbon."},
        {"content": "Alice plays chess."},
        {
            "content": "Alice speaks some Portuguese.",
            "level": "deductive",
            "premises": ["Alice lives in Lisbon.", "Lisbon is in Portugal."],
        },
    )
    client.put("/v2/workspaces/w/peers/alice/card", json={"peer_card": ["Lives in Lisbon"]})
    markdown = (
        "## Explicit Observations\n\n"
        f"[{_stamp(lives['created_at'])}] Alice lives in Lisbon.\n"
        f"[{_stamp(plays['created_at'])}] Alice plays chess.\n"
        "\n"
        "## Deductive Observations\n\n"
        f"[{_stamp(speaks['created_at'])}] Alice speaks some Portuguese.\n"
        "   Premises:\n"
        "   - Alice lives in Lisbon.\n"
        "   - Lisbon is in Portugal.\n"
        "\n"
    )
    messages_tokens = sum(m["token_count"] for m in sent)

    context = client.get(f"{V3}/s/context", params={"peer_target": "alice"})
    assert context.status_code == 200, context.text
    assert context.json() == {
        "id": "s",
        "messages": sent,
        "summary": None,
        "peer_representation": markdown,
        "peer_card": ["Lives in Lisbon"],
        "tokens": count_tokens(markdown) + count_tokens("Lives in Lisbon") + messages_tokens,
    }
    # from bob's perspective: nothing known, so no text and no card
    theirs = client.get(
        f"{V3}/s/context", params={"peer_target": "alice", "peer_perspective": "bob"}
    )
    assert theirs.json() | {"messages": None} == {
        "id": "s",
        "messages": None,
        "summary": None,
        "peer_representation": "",
        "peer_card": None,
        "tokens": messages_tokens,
    }
    # no target (or an empty one, as Honcho reads it): no representation at all
    for params in ({}, {"peer_target": "", "peer_perspective": ""}):
        bare = client.get(f"{V3}/s/context", params=params).json()
        assert (bare["peer_representation"], bare["peer_card"], bare["tokens"]) == (
            None,
            None,
            messages_tokens,
        )
    # the same context through /v2, in /v2's shape
    v2 = client.get("/v2/workspaces/w/sessions/s/context", params={"peer_target": "alice"}).json()
    assert [o["content"] for o in v2["peer_representation"]["explicit"]] == [
        "Alice lives in Lisbon.",
        "Alice plays chess.",
    ]
    assert v2["messages"] == sent


def test_search_query_and_limit_to_session_pick_the_conclusions(client: TestClient) -> None:
    _say(client, f"{V3}/s", {"content": "hello", "peer_id": "alice"})
    _say(client, f"{V3}/other", {"content": "hello again", "peer_id": "alice"})
    lives, _, elsewhere = _observe(
        client,
        "w",
        {"content": "Alice lives in Lisbon."},
        {"content": "Alice plays chess on Sundays."},
        {"content": "Alice owns a red bicycle.", "session_id": "other"},
    )
    focused = client.get(
        f"{V3}/s/context",
        params={
            "peer_target": "alice",
            "search_query": "where does alice live, which city, Lisbon",
            "search_top_k": 1,
            "max_conclusions": 1,
        },
    ).json()
    assert focused["peer_representation"] == (
        f"## Explicit Observations\n\n[{_stamp(lives['created_at'])}] Alice lives in Lisbon.\n"
    )
    everywhere = client.get(f"{V3}/s/context", params={"peer_target": "alice"}).json()
    assert "Alice owns a red bicycle." in everywhere["peer_representation"]
    here = client.get(
        f"{V3}/s/context", params={"peer_target": "alice", "limit_to_session": "true"}
    ).json()
    assert "Alice owns a red bicycle." not in here["peer_representation"]
    assert elsewhere["session_id"] == "other"


def test_the_budget_counts_the_markdown_and_never_runs_over(client: TestClient) -> None:
    sent = _say(
        client,
        f"{V3}/s",
        *({"content": f"message number {i}", "peer_id": "alice"} for i in range(6)),
    )
    stored = _observe(
        client, "w", *({"content": f"Alice knows fact number {i} by heart."} for i in range(12))
    )
    client.put("/v2/workspaces/w/peers/alice/card", json={"peer_card": ["Memorizes facts"]})
    card_tokens = count_tokens("Memorizes facts")
    for budget in (40, 90, 200):
        body = client.get(
            f"{V3}/s/context", params={"peer_target": "alice", "tokens": budget}
        ).json()
        shown = body["peer_representation"]
        represented = count_tokens(shown) if shown else 0
        # the representation and the card take at most half; the messages the rest
        assert card_tokens + represented <= budget // 2, (budget, shown)
        messages_tokens = sum(m["token_count"] for m in body["messages"])
        assert body["tokens"] == card_tokens + represented + messages_tokens <= budget
        # the newest messages that fit, oldest first
        assert body["messages"] == sent[len(sent) - len(body["messages"]) :]
        assert body["peer_card"] == ["Memorizes facts"]
    # without a query the newest conclusions win the room, as many as fit
    facts = [f"[{_stamp(o['created_at'])}] {o['content']}" for o in stored]

    def newest(k: int) -> str:
        return "## Explicit Observations\n\n" + "".join(f"{fact}\n" for fact in facts[-k:])

    roomy = client.get(f"{V3}/s/context", params={"peer_target": "alice", "tokens": 200}).json()
    kept = roomy["peer_representation"].count("Alice knows fact number")
    assert 0 < kept < len(facts)
    assert roomy["peer_representation"] == newest(kept)
    assert card_tokens + count_tokens(newest(kept + 1)) > 100
    # nothing fits in no budget (Honcho: 0 or less is an empty context)
    for budget in (0, -5):
        empty = client.get(f"{V3}/s/context", params={"peer_target": "alice", "tokens": budget})
        assert empty.json() == {
            "id": "s",
            "messages": [],
            "summary": None,
            "peer_representation": "",
            "peer_card": [],
            "tokens": 0,
        }


def test_context_starts_at_the_summary_and_summaries_answer_both(client: TestClient) -> None:
    sent = _say(
        client, f"{V3}/s", *({"content": f"message {i}", "peer_id": "alice"} for i in range(8))
    )
    _store_summary(client, "short", "alice counted to five", sent[5])
    short = {
        "content": "alice counted to five",
        "message_id": sent[5]["id"],
        "summary_type": "honcho_chat_summary_short",
        "created_at": "2025-01-02T03:04:05Z",
        "token_count": count_tokens("alice counted to five"),
    }
    context = client.get(f"{V3}/s/context").json()
    assert [m["content"] for m in context["messages"]] == ["message 5", "message 6", "message 7"]
    assert context["summary"] == short
    summaries = client.get(f"{V3}/s/summaries")
    assert summaries.status_code == 200
    assert summaries.json() == {"id": "s", "short_summary": short, "long_summary": None}
    assert client.get(f"{V3}/s/context", params={"summary": "false"}).json()["summary"] is None

    _store_summary(client, "long", "alice counted from zero up to six, slowly", sent[6])
    context = client.get(f"{V3}/s/context").json()
    assert context["summary"]["summary_type"] == "honcho_chat_summary_long"
    assert [m["content"] for m in context["messages"]] == ["message 6", "message 7"]
    # 40% of the budget is too small for the long one: the short one
    small = client.get(f"{V3}/s/context", params={"tokens": 15}).json()
    assert small["summary"] == short
    both = client.get(f"{V3}/s/summaries").json()
    assert [both["short_summary"]["content"], both["long_summary"]["content"]] == [
        "alice counted to five",
        "alice counted from zero up to six, slowly",
    ]
    assert client.get("/v2/workspaces/w/sessions/s/summaries").json() == both


def test_unknown_sessions_read_empty(client: TestClient) -> None:
    assert client.get(f"{V3}/nope/context", params={"peer_target": "ghost"}).json() == {
        "id": "nope",
        "messages": [],
        "summary": None,
        "peer_representation": "",
        "peer_card": None,
        "tokens": 0,
    }
    assert client.get(f"{V3}/nope/summaries").json() == {
        "id": "nope",
        "short_summary": None,
        "long_summary": None,
    }


@pytest.mark.parametrize(
    ("params", "error", "loc"),
    [
        ({"tokens": 100_001}, "less_than_equal", "tokens"),
        ({"tokens": "many"}, "int_parsing", "tokens"),
        ({"search_top_k": 0}, "greater_than_equal", "search_top_k"),
        ({"max_conclusions": 101}, "less_than_equal", "max_conclusions"),
        ({"search_max_distance": 1.5}, "less_than_equal", "search_max_distance"),
        ({"include_most_frequent": "maybe"}, "bool_parsing", "include_most_frequent"),
        ({"peer_target": "no spaces"}, "string_pattern_mismatch", "peer_target"),
        ({"search_query": "x" * 25_001}, "string_too_long", "search_query"),
    ],
)
def test_bad_context_input_is_a_422_in_v3s_shape(
    client: TestClient, params: dict[str, Any], error: str, loc: str
) -> None:
    response = client.get(f"{V3}/s/context", params=params)
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert (issue["type"], issue["loc"]) == (error, ["query", loc])


def test_a_perspective_needs_a_target(client: TestClient) -> None:
    response = client.get(f"{V3}/s/context", params={"peer_perspective": "bob"})
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "peer_target must be provided if peer_perspective is provided"},
    )


# --- configuration, resolved message -> session -> workspace -> server --------------------------

EXTRACT = "extract what they reveal"
SUMMARY = "running summary"
DEDUCE = "list new conclusions"
CARD = "You keep the peer card"
NOTHING = json.dumps({"explicit": [], "deductive": []})


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=256) as server:
        server.script(EXTRACT, NOTHING)
        server.script(SUMMARY, "They talked.")
        yield server


@pytest.fixture
def reasoning(database_url: str, tmp_path: Path, model: FakeOpenAI) -> Iterator[TestClient]:
    """An app with a model and an embedded worker (its own: `client` is not made)."""
    settings = make_settings(
        database_url,
        tmp_path / "reasoning",
        **reasoning_settings(
            embedding_base_url=model.base_url,
            embedding_model="bow",
            embedding_dimensions=256,
            llm_base_url=model.base_url,
            llm_model="fake-model",
            llm_max_retries=0,
            worker_max_attempts=1,
        ),
    )
    with AppClient(create_app(settings), raise_server_exceptions=False) as app:
        yield app


def _items(client: TestClient, task_type: str) -> list[Any]:
    async def read() -> list[Any]:
        async with client.app.state.parley.database.read() as db:  # type: ignore[attr-defined]
            rows = await db.execute(
                select(WorkItem.workspace_id, WorkItem.session_id, WorkItem.sender_id)
                .where(WorkItem.task_type == task_type)
                .order_by(WorkItem.id)
            )
            return list(rows.all())

    return list(client.portal.call(read))  # type: ignore[union-attr]


def _configure(client: TestClient, path: str, configuration: dict[str, Any]) -> None:
    response = client.put(path, json={"configuration": configuration})
    assert response.status_code == 200, response.text


def test_reasoning_resolves_message_then_session_then_workspace_then_server(
    reasoning: TestClient,
) -> None:
    off, on = {"reasoning": {"enabled": False}}, {"reasoning": {"enabled": True}}
    _configure(reasoning, "/v3/workspaces/quiet", off)
    _configure(reasoning, "/v3/workspaces/quiet/sessions/loud", on)
    _configure(reasoning, "/v3/workspaces/legacy", {"skip_deriver": True})
    _configure(reasoning, "/v3/workspaces/legacy/sessions/loud", on)
    for workspace_id, session_id in (("quiet", "inherits"), ("quiet", "loud"), ("plain", "s")):
        _say(
            reasoning,
            f"/v3/workspaces/{workspace_id}/sessions/{session_id}",
            {"content": "plain", "peer_id": "alice"},
            {"content": "turned on", "peer_id": "bob", "configuration": on},
            {"content": "turned off", "peer_id": "carol", "configuration": off},
        )
    for session_id in ("inherits", "loud"):
        _say(
            reasoning,
            f"/v3/workspaces/legacy/sessions/{session_id}",
            {"content": "plain", "peer_id": "alice"},
        )
    for workspace_id in ("quiet", "plain", "legacy"):
        wait_for_reasoning(reasoning, workspace_id)
    assert sorted(_items(reasoning, "derive")) == [
        ("legacy", "loud", "alice"),  # the session's reasoning.enabled over skip_deriver
        ("plain", "s", "alice"),  # the server's default: on
        ("plain", "s", "bob"),
        ("quiet", "inherits", "bob"),  # the message's over the workspace's
        ("quiet", "loud", "alice"),  # the session's over the workspace's
        ("quiet", "loud", "bob"),
    ]


def test_summaries_resolve_session_then_workspace(reasoning: TestClient, model: FakeOpenAI) -> None:
    every_ten = {"messages_per_short_summary": 10, "messages_per_long_summary": 40}
    # reasoning off everywhere: summaries do not depend on it, as in Honcho 3
    quiet = {"reasoning": {"enabled": False}}
    _configure(reasoning, "/v3/workspaces/on", quiet | {"summary": {"enabled": True} | every_ten})
    _configure(reasoning, "/v3/workspaces/on/sessions/off", {"summary": {"enabled": False}})
    _configure(reasoning, "/v3/workspaces/off", quiet | {"summary": {"enabled": False}})
    _configure(
        reasoning, "/v3/workspaces/off/sessions/on", {"summary": {"enabled": True} | every_ten}
    )
    places = (("on", "inherits"), ("on", "off"), ("off", "inherits"), ("off", "on"))
    for workspace_id, session_id in places:
        _say(
            reasoning,
            f"/v3/workspaces/{workspace_id}/sessions/{session_id}",
            *({"content": f"line {i}", "peer_id": "alice"} for i in range(10)),
        )
    for workspace_id in ("on", "off"):
        wait_for_reasoning(reasoning, workspace_id)
    assert sorted(_items(reasoning, "summary")) == [
        ("off", "on", None),
        ("on", "inherits", None),
    ]
    assert _items(reasoning, "derive") == []
    for workspace_id, session_id in places:
        made = reasoning.get(f"/v3/workspaces/{workspace_id}/sessions/{session_id}/summaries")
        short = made.json()["short_summary"]
        expected = (workspace_id, session_id) in {("off", "on"), ("on", "inherits")}
        assert (short["content"] if short else None) == ("They talked." if expected else None)
    assert len([p for p in model.prompts() if SUMMARY in p]) == 2


def test_custom_instructions_reach_the_deriver_message_over_session_over_workspace(
    reasoning: TestClient, model: FakeOpenAI
) -> None:
    _configure(
        reasoning,
        "/v3/workspaces/w",
        {"reasoning": {"custom_instructions": "RULE-OF-THE-WORKSPACE"}},
    )
    _configure(
        reasoning,
        "/v3/workspaces/w/sessions/s",
        {"reasoning": {"custom_instructions": "RULE-OF-THE-SESSION"}},
    )
    _say(reasoning, "/v3/workspaces/w/sessions/s", {"content": "hi", "peer_id": "alice"})
    _say(
        reasoning,
        "/v3/workspaces/w/sessions/s",
        {
            "content": "hello",
            "peer_id": "bob",
            "configuration": {"reasoning": {"custom_instructions": "RULE-OF-THE-MESSAGE"}},
        },
    )
    _say(reasoning, "/v3/workspaces/w/sessions/other", {"content": "hey", "peer_id": "carol"})
    wait_for_reasoning(reasoning, "w")
    rules = {}
    for prompt in model.prompts():
        for peer in ("alice", "bob", "carol"):
            if f"about the peer `{peer}`" in prompt and EXTRACT in prompt:
                rules[peer] = [
                    r
                    for r in ("RULE-OF-THE-WORKSPACE", "RULE-OF-THE-SESSION", "RULE-OF-THE-MESSAGE")
                    if r in prompt
                ]
    assert rules == {
        "alice": ["RULE-OF-THE-SESSION"],
        "bob": ["RULE-OF-THE-MESSAGE"],
        "carol": ["RULE-OF-THE-WORKSPACE"],
    }

    # bounded as Honcho 3 bounds them
    long = {"reasoning": {"custom_instructions": "word " * 2001}}
    refused = reasoning.put("/v3/workspaces/w", json={"configuration": long})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == (
        "Value error, custom_instructions exceeds DERIVER.MAX_CUSTOM_INSTRUCTIONS_TOKENS "
        "(2000 tokens)"
    )


def test_dreams_resolve_session_then_workspace(reasoning: TestClient, model: FakeOpenAI) -> None:
    model.script(DEDUCE, json.dumps({"deductive": []}))
    model.script(CARD, json.dumps({"card": ["Cyclist"]}))
    state = reasoning.app.state.parley  # type: ignore[attr-defined]
    _configure(reasoning, "/v3/workspaces/w", {"dream": {"enabled": False}})
    _configure(reasoning, "/v3/workspaces/w/sessions/s", {"dream": {"enabled": True}})
    assert reasoning.post("/v3/workspaces/w/peers", json={"id": "alice"}).status_code == 201
    _observe(reasoning, "w", {"content": "Alice rides a bicycle."})

    def dream(session_id: str | None = None) -> list[str]:
        """The prompts the dream asked the model."""
        before = len(model.prompts())

        async def enqueue() -> None:
            async with state.database.write() as db:
                await enqueue_dream(
                    db,
                    workspace_id="w",
                    observer_id="alice",
                    observed_id="alice",
                    session_id=session_id,
                )

        reasoning.portal.call(enqueue)  # type: ignore[union-attr]
        wait_for_reasoning(reasoning, "w")
        return [p for p in model.prompts()[before:] if DEDUCE in p or CARD in p]

    assert dream() == []  # the workspace's dream config is off
    # the session's is on, over the workspace's
    asked = dream("s")
    assert [DEDUCE in asked[0], CARD in asked[1]] == [True, True]
    card = reasoning.get("/v2/workspaces/w/peers/alice/card").json()
    assert card == {"peer_card": ["Cyclist"]}
    # through /v2's trigger (no session): the workspace's, off, again
    triggered = reasoning.post(
        "/v2/workspaces/w/trigger_dream",
        json={"observer": "alice", "observed": "alice", "dream_type": "agent"},
    )
    assert triggered.status_code == 204
    wait_for_reasoning(reasoning, "w")
    assert [p for p in model.prompts() if DEDUCE in p] == asked[:1]
    # peer_card.create off: the dream deduces, and leaves the card alone
    _configure(
        reasoning, "/v3/workspaces/w", {"dream": {"enabled": True}, "peer_card": {"create": False}}
    )
    asked = dream()
    assert [DEDUCE in p for p in asked] == [True]
