"""What one peer chat asks the database, statement by statement, on both backends (issue 16:
a chat's PostgreSQL CPU was mostly round trips and a lookup it did not need), and that a
pooled PostgreSQL connection the server closed is replaced without a ping per checkout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from fake_openai import FakeOpenAI, fake_openai
from helpers import chat_model_settings

W = "w"
ANSWER = "Question:"
# the embedding indexer's idle poll, which runs on its own schedule beside the request
BACKGROUND = ("SELECT max(messages.seq)", "SELECT messages.seq, messages.workspace_id")


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


@pytest.fixture
def memory(client: TestClient) -> TestClient:
    """alice, with messages (all embedded), facts derived from many of them, and a card."""
    post(client, "/sessions", {"id": "s1", "peers": {"alice": {}, "bob": {}}})
    sent = post(
        client,
        "/sessions/s1/messages/",
        {
            "messages": [
                {"peer_id": "alice" if i % 2 else "bob", "content": f"I keep bees, hive {i}."}
                for i in range(20)
            ]
        },
    )
    derive(client, ["Alice keeps bees.", "Alice plays chess."], [m["id"] for m in sent])
    assert client.put(f"/v2/workspaces/{W}/peers/alice/card", json={"peer_card": ["Beekeeper"]})
    settle_embeddings(client, 20)
    return client


def derive(client: TestClient, facts: list[str], message_ids: list[str]) -> None:
    """Facts derived from all the messages, as the deriver stores them."""
    from parley.memory.observations import NewObservation, store_observations

    state = client.app.state.parley  # type: ignore[attr-defined]
    items = [
        NewObservation(
            content=fact,
            observer_id="alice",
            observed_id="alice",
            session_id="s1",
            message_ids=message_ids,
        )
        for fact in facts
    ]

    async def store() -> None:
        vectors = await state.embedder.embed(facts)
        async with state.database.write() as db:
            await store_observations(db, W, items, vectors, state.observation_index)

    client.portal.call(store)  # type: ignore[union-attr]


def settle_embeddings(client: TestClient, count: int) -> None:
    state = client.app.state.parley  # type: ignore[attr-defined]

    async def embedded() -> int:
        async with state.database.read() as db:
            return int(await db.scalar(text("SELECT count(*) FROM message_embeddings")))

    deadline = time.monotonic() + 20
    while client.portal.call(embedded) < count:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the messages were not embedded"
        time.sleep(0.02)


def statements_of(client: TestClient, call: Any) -> list[str]:
    """The statements the app's engine sent while `call()` ran, each cut to its start."""
    engine = client.app.state.parley.database.engine.sync_engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        start = " ".join(statement.split())
        if not start.startswith(BACKGROUND):
            seen.append(start[:40])

    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


POSTGRES_CHAT = [
    # the route get-or-creates the path peer
    "SELECT peers.workspace_id, peers.id, peers.metadata, peers.co",
    # while the question is embedded: the card, the most derived and the newest facts
    "SELECT peer_cards.facts FROM peer_cards WHERE peer_cards.work",
    "SELECT observations.id FROM observations WHERE observations.",
    "SELECT observations.id FROM observations WHERE observations.",
    # the nearest facts, and the chosen ones' rows (no message seqs: the prompt shows none)
    "SELECT observations.id, CAST(observations.embedding AS vector",
    "SELECT observations.id, observations.workspace_id, observati",
    # the message search's two sides and its rows
    "SET LOCAL random_page_cost = 1.1",
    "SELECT anon_1.seq, anon_1.score AS ranked FROM (SELECT messa",
    "SELECT message_embeddings.seq, (message_embeddings.embedding",
    "SELECT messages.seq, messages.id, messages.workspace_id, mess",
    # the model's usage
    "INSERT INTO model_usage (workspace_id, role, model, calls, in",
]

SQLITE_CHAT = [
    *["BEGIN DEFERRED"] * 6,  # a read transaction each: the peer, the reads without a vector,
    # the full text, the vector side's index check, the facts, the messages' rows
    "SELECT peers.workspace_id, peers.id, peers.metadata, peers.co",
    "SELECT peer_cards.facts FROM peer_cards WHERE peer_cards.work",
    "SELECT observations.id FROM observations WHERE observations.",
    "SELECT observations.id FROM observations WHERE observations.",
    "SELECT message_embedding_counts.workspace_id, message_embeddi",
    "SELECT anon_1.seq, anon_1.score / (ln(? + (SELECT messages.to",
    "SELECT count(*) AS count_1, count(observations.superseded_by)",
    "SELECT messages.seq, messages.id, messages.workspace_id, mess",
    "SELECT observations.id, observations.session_id, observations",
    "SELECT observations.id, observations.workspace_id, observati",
    "BEGIN IMMEDIATE",
    "INSERT INTO model_usage (workspace_id, role, model, calls, in",
]


def test_one_peer_chat_sends_these_statements(memory: TestClient, model: FakeOpenAI) -> None:
    model.script(ANSWER, "Alice keeps bees.")
    response: list[Any] = []

    def chat() -> None:
        response.append(
            memory.post(f"/v2/workspaces/{W}/peers/alice/chat", json={"query": "bees hive?"})
        )

    seen = statements_of(memory, chat)
    assert response[0].status_code == 200
    assert response[0].json() == {"content": "Alice keeps bees."}
    prompt = [p for p in model.prompts() if ANSWER in p][-1]
    assert "Alice keeps bees." in prompt and "Alice plays chess." in prompt
    assert "- Beekeeper" in prompt
    if memory.app.state.parley.database.dialect == "postgresql":  # type: ignore[attr-defined]
        # the two sides of the search and the facts run at once: compare as multisets
        assert sorted(seen) == sorted(s[:40] for s in POSTGRES_CHAT)
    else:
        assert sorted(seen) == sorted(s[:40] for s in SQLITE_CHAT)


def test_the_representation_still_names_its_messages_by_number(memory: TestClient) -> None:
    rep = post(memory, "/peers/alice/representation", {})["representation"]
    numbers = sorted({n for o in rep["explicit"] for n in o["message_ids"]})
    assert numbers == list(range(1, 21))


def test_a_connection_the_server_closed_is_replaced_at_checkout(memory: TestClient) -> None:
    state = memory.app.state.parley  # type: ignore[attr-defined]
    if state.database.dialect != "postgresql":
        pytest.skip("PostgreSQL's pool")

    async def terminate_the_others() -> int:
        async with state.database.read() as db:
            return len(
                (
                    await db.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    )
                ).all()
            )

    async def pooled_reads() -> list[int]:
        async def one() -> int:
            async with state.database.read() as db:
                value = int(await db.scalar(text("SELECT 1")))
                await asyncio.sleep(0.05)  # hold it, so each read takes its own connection
                return value

        return list(await asyncio.gather(*(one() for _ in range(4))))

    assert memory.portal.call(pooled_reads) == [1, 1, 1, 1]  # type: ignore[union-attr]
    assert memory.portal.call(terminate_the_others) >= 1  # type: ignore[union-attr]
    time.sleep(0.2)  # the event loop reads the end of each closed socket
    assert memory.portal.call(pooled_reads) == [1, 1, 1, 1]  # type: ignore[union-attr]
    response = memory.get(f"/v2/workspaces/{W}/peers/alice/card")
    assert response.status_code == 200, response.text
