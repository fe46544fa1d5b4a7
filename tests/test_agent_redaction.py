"""Deleted content never comes back through the data agent's stored turns: after deleting an
observation, a memory session, a thread, a golden SQL, a catalog, a connection or a card's
fact, `GET /api/v1/ai-agent/{p}/threads/{id}` (and every stored row) holds no copy of it, and
the answers made from it are gone from the turns and from the threads' memory sessions. Also:
every stored field is classified (so a new copy cannot be stored unnoticed), every DELETE
route is accounted for, and a delete made while a turn is being worked on is not undone by
the turn's save. On both backends, with the fake model server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from conftest import api_routes
from data_sources import make_sqlite
from fake_openai import FakeOpenAI, fake_openai
from helpers import add_catalog, ok
from parley.agent.redaction import REDACTED, STATE_FIELDS, TURN_COLUMNS
from parley.agent.state import AgentState
from parley.store.agent_models import AgentThread, AgentTurn, AgentTurnSource
from parley.store.models import Base, Message

P = "shop"
ALICE_FACT = "alice minds the aurelian region"  # an observation about alice
ALICE_CARD = "Alice prefers the quillfeather report"  # a fact of her card
GOLDEN_Q, GOLDEN_SQL = "Revenue of the zephyrine accounts", "SELECT SUM(amount) AS zeph FROM orders"
CATALOG = "vaultcat"
Q = "How many users are there?"
SQL = "SELECT COUNT(*) AS n FROM users"


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=256) as server:
        yield server


@pytest.fixture
def settings_overrides(model: FakeOpenAI, tmp_path: Path) -> dict[str, Any]:
    return {
        "data_file_roots": {"*": [str(tmp_path)]},
        "embedding_base_url": model.base_url,
        "embedding_model": "bow",
        "embedding_dimensions": 256,
        "agent_base_url": model.base_url,
        "agent_model": "fake-agent",
        "llm_max_retries": 0,
    }


def plan(sql: str) -> str:
    return json.dumps(
        {"intent": "TEXT_TO_SQL", "reasoning": "count", "sql": sql, "follow_up_questions": []}
    )


def echo_memory(body: dict[str, Any]) -> str:
    """The analyze step's answer: what it was told about the user, so the answer is a text
    made from the user's memory (as a real model's often is)."""
    system = body["messages"][0]["content"]
    about = system.split("About this user: ", 1)[1] if "About this user: " in system else ""
    return f"There are 60 users. (You: {about})"


def connect(
    client: TestClient, tmp_path: Path, name: str = CATALOG, source: str = "warehouse"
) -> tuple[str, str]:
    """A connection (named `source`, which stays after its catalog goes) and its catalog;
    returns their ids."""
    db = make_sqlite(tmp_path / f"{source}.sqlite")
    made = add_catalog(
        client, P, {"path": str(db)}, kind="sqlite", connection=source, catalog=name, headers={}
    )
    return made.connection_id, made.id


@pytest.fixture
def shop(client: TestClient, tmp_path: Path, model: FakeOpenAI) -> dict[str, str]:
    """A project with a catalog, a golden SQL, and memory of alice (an observation in session
    `profile`, and her card); the model plans `SQL` and answers with alice's memory."""
    ok(client.post("/api/v1/projects", json={"name": P, "id": P}))
    connection_id, catalog_id = connect(client, tmp_path)
    golden = ok(
        client.post(
            f"/api/v1/metadata/{P}/golden-sqls", json={"prompt": GOLDEN_Q, "sql": GOLDEN_SQL}
        )
    )
    ok(client.post(f"/v2/workspaces/{P}/sessions", json={"id": "profile", "peers": {"alice": {}}}))
    item = {
        "content": ALICE_FACT,
        "observer_id": "alice",
        "observed_id": "alice",
        "session_id": "profile",
    }
    observation = ok(
        client.post(f"/v2/workspaces/{P}/observations", json={"observations": [item]})
    )[0]
    ok(client.put(f"/v2/workspaces/{P}/peers/alice/card", json={"peer_card": [ALICE_CARD]}))
    model.script(f"QUESTION: {Q}", plan(SQL))
    model.script(f"EXPLAIN THE RESULT FOR: {Q}", echo_memory)
    return {
        "connection": connection_id,
        "catalog": catalog_id,
        "golden": golden["id"],
        "observation": observation["id"],
    }


def ask(client: TestClient, user: str = "alice", thread: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": Q, "userId": user}
    if thread is not None:
        body["threadId"] = thread
    return dict(ok(client.post(f"/api/v1/ai-agent/{P}/chat", json=body)))


def thread(client: TestClient, thread_id: str) -> dict[str, Any]:
    return dict(ok(client.get(f"/api/v1/ai-agent/{P}/threads/{thread_id}")))


def stored(client: TestClient) -> str:
    """Every row of every table the models define, as text: what a delete must have left no
    copy in (messages, observations, summaries, cards, turns, sources, queue payloads...)."""

    async def read() -> str:
        async with client.app.state.parley.database.read() as db:
            rows = []
            for table in Base.metadata.sorted_tables:
                for row in (await db.execute(select(table))).mappings():
                    rows.append({k: v for k, v in row.items() if k != "embedding"})
            return json.dumps(rows, default=str)

    return str(client.portal.call(read))


def everything(client: TestClient) -> str:
    """What the agent's routes show, every thread in full, plus every stored row."""
    listed = ok(client.get(f"/api/v1/ai-agent/{P}/threads"))["threads"]
    shown = [thread(client, t["threadId"]) for t in listed]
    return json.dumps([listed, shown]) + stored(client)


def session_messages(client: TestClient, session_id: str) -> list[tuple[str, str]]:
    page = ok(client.post(f"/v2/workspaces/{P}/sessions/{session_id}/messages/list", json={}))
    return [(m["peer_id"], m["content"]) for m in page["items"]]


def test_every_stored_field_and_column_says_how_a_delete_takes_it() -> None:
    """A key added to the agent's state, or a column to its turns, fails here until
    `agent/redaction.py` says what it copies."""
    state = AgentState(project_id="p", thread_id="t", question="q").to_result(with_history=False)
    assert set(state) == set(STATE_FIELDS) - {"redacted"}
    assert {c.key for c in inspect(AgentTurn).columns} == set(TURN_COLUMNS)


def test_an_observation_delete_takes_its_lines_and_the_answers_made_from_them(
    client: TestClient, shop: dict[str, str]
) -> None:
    first = ask(client)
    result = first["result"]
    assert result["userMemory"] == [ALICE_CARD, ALICE_FACT]
    answer = f"There are 60 users. (You: {ALICE_CARD}; {ALICE_FACT})"
    assert result["messages"][1]["kwargs"]["content"] == answer
    tid = first["threadId"]
    assert session_messages(client, tid) == [("alice", Q), ("data-agent", answer)]
    before = everything(client)
    assert ALICE_FACT in before and "aurelian" in before  # the test can fail
    response = client.delete(f"/v2/workspaces/{P}/observations/{shop['observation']}")
    assert response.status_code == 200
    after = everything(client)
    assert "aurelian" not in after
    turn = thread(client, tid)["turns"][0]
    assert turn["question"] == Q and turn["answer"] == REDACTED
    kept = turn["result"]
    assert kept["userMemory"] == [ALICE_CARD]  # the card's fact is still known
    assert kept["messages"][1]["kwargs"]["content"] == REDACTED
    assert kept["currentGeneratedQuery"] is None and kept["currentQueryResult"] is None
    assert kept["attempts"] == [] and kept["redacted"] is True
    assert kept["goldSQLs"] == result["goldSQLs"] and kept["tableNames"] == result["tableNames"]
    # the answer's copy in the thread's memory session went too; the question stays
    assert session_messages(client, tid) == [("alice", Q)]
    assert thread(client, tid)["displayName"] == Q


def test_a_turn_that_did_not_recall_it_is_untouched(
    client: TestClient, shop: dict[str, str]
) -> None:
    """Only the turns that copied what went change: bob's turn knew nothing of alice."""
    bobs = ask(client, user="bob")
    before = thread(client, bobs["threadId"])
    ask(client)
    ok(client.delete(f"/v2/workspaces/{P}/observations/{shop['observation']}"))
    assert thread(client, bobs["threadId"]) == before


def test_a_session_delete_takes_what_was_learned_in_it(
    client: TestClient, shop: dict[str, str]
) -> None:
    tid = ask(client)["threadId"]
    response = client.delete(f"/v2/workspaces/{P}/sessions/profile")
    assert response.status_code == 202
    after = everything(client)
    assert "aurelian" not in after
    turn = thread(client, tid)["turns"][0]
    assert turn["answer"] == REDACTED and turn["result"]["userMemory"] == [ALICE_CARD]


def test_deleting_a_thread_session_deletes_its_thread(
    client: TestClient, shop: dict[str, str]
) -> None:
    """A thread's turns are copies of its memory session's messages."""
    tid = ask(client)["threadId"]
    assert client.delete(f"/v2/workspaces/{P}/sessions/{tid}").status_code == 202
    assert client.get(f"/api/v1/ai-agent/{P}/threads/{tid}").status_code == 404
    assert ok(client.get(f"/api/v1/ai-agent/{P}/threads"))["threads"] == []
    assert Q not in stored(client)


def test_a_thread_delete_takes_what_other_threads_recalled_from_it(
    client: TestClient, shop: dict[str, str]
) -> None:
    """What memory learned in thread one (here: an observation made in its session) and
    thread two recalled goes with thread one."""
    one = ask(client)["threadId"]
    learned = "alice said she audits the obsidianne ledger"
    item = {"content": learned, "observer_id": "alice", "observed_id": "alice", "session_id": one}
    ok(client.post(f"/v2/workspaces/{P}/observations", json={"observations": [item]}))
    two = ask(client)
    assert learned in two["result"]["userMemory"]
    assert ok(client.delete(f"/api/v1/ai-agent/{P}/threads/{one}"))["threadId"] == one
    after = everything(client)
    assert "obsidianne" not in after
    turn = thread(client, two["threadId"])["turns"][0]
    assert turn["answer"] == REDACTED
    assert turn["result"]["userMemory"] == [ALICE_CARD, ALICE_FACT]
    assert session_messages(client, two["threadId"]) == [("alice", Q)]


def test_a_card_fact_taken_off_the_card_leaves_the_turns(
    client: TestClient, shop: dict[str, str]
) -> None:
    tid = ask(client)["threadId"]
    ok(client.put(f"/v2/workspaces/{P}/peers/alice/card", json={"peer_card": ["Alice is kind"]}))
    assert "quillfeather" not in everything(client)
    turn = thread(client, tid)["turns"][0]
    assert turn["answer"] == REDACTED and turn["result"]["userMemory"] == [ALICE_FACT]


def test_a_golden_sql_delete_takes_its_entries_and_what_was_made_after_seeing_it(
    client: TestClient, shop: dict[str, str]
) -> None:
    first = ask(client)
    entry = {"question": GOLDEN_Q, "sql": GOLDEN_SQL}
    assert first["result"]["goldSQLs"] == [entry]
    assert "zephyrine" in everything(client)
    response = client.delete(f"/api/v1/metadata/{P}/golden-sqls/{shop['golden']}")
    assert response.status_code == 200
    assert "zephyrine" not in everything(client)
    turn = thread(client, first["threadId"])["turns"][0]
    assert turn["result"]["goldSQLs"] == [] and turn["answer"] == REDACTED
    assert turn["result"]["userMemory"] == [ALICE_CARD, ALICE_FACT]


def test_a_catalog_delete_takes_its_schema_values_and_results(
    client: TestClient, shop: dict[str, str], tmp_path: Path, model: FakeOpenAI
) -> None:
    _, other = connect(client, tmp_path, name="keptcat", source="archive")
    model.rules.clear()  # two catalogs: the table is named with its catalog
    model.script(f"QUESTION: {Q}", plan(f"SELECT COUNT(*) AS n FROM {CATALOG}.main.users"))
    model.script(f"EXPLAIN THE RESULT FOR: {Q}", echo_memory)
    first = ask(client)
    result = first["result"]
    assert sorted(c["catalogName"] for c in result["catalogs"]) == ["keptcat", CATALOG]
    assert result["currentQueryResult"]["rows"] == [[60]]
    assert CATALOG in everything(client)
    response = client.delete(f"/api/v1/data/projects/{P}/catalogs/{shop['catalog']}")
    assert response.status_code == 200
    assert CATALOG not in everything(client)
    kept = thread(client, first["threadId"])["turns"][0]["result"]
    assert [c["catalogId"] for c in kept["catalogs"]] == [other]
    assert {t.split(".")[0] for t in kept["tableNames"]} == {"keptcat"}
    assert {m["catalogName"] for m in kept["metadata"]} == {"keptcat"}
    assert kept["currentQueryResult"] is None and kept["currentGeneratedQuery"] is None


def test_a_connection_delete_takes_its_catalogs_out_of_the_turns(
    client: TestClient, shop: dict[str, str]
) -> None:
    first = ask(client)
    response = client.delete(f"/api/v1/connections/{P}/{shop['connection']}")
    assert response.status_code == 200
    assert CATALOG not in everything(client)
    kept = thread(client, first["threadId"])["turns"][0]
    assert kept["answer"] == REDACTED and kept["result"]["tableNames"] == []


def test_a_delete_while_the_agent_works_is_not_undone_by_its_save(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    """The observation goes while the model is writing the answer: the turn stored after it
    copies nothing of it (the save checks its sources, and locks those still there)."""
    model.rules.clear()
    model.script(f"QUESTION: {Q}", plan(SQL))
    model.script(f"EXPLAIN THE RESULT FOR: {Q}", echo_memory, delay_s=1.5)
    done: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: done.update(ask(client)))
    worker.start()
    deadline = time.monotonic() + 20
    while not any("EXPLAIN THE RESULT" in p for p in model.prompts()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    ok(client.delete(f"/v2/workspaces/{P}/observations/{shop['observation']}"))
    worker.join(timeout=30)
    assert "aurelian" in done["result"]["messages"][1]["kwargs"]["content"]  # as it answered
    assert "aurelian" not in everything(client)  # but not as it was kept
    turn = thread(client, done["threadId"])["turns"][0]
    assert turn["answer"] == REDACTED and turn["result"]["userMemory"] == [ALICE_CARD]
    assert session_messages(client, done["threadId"]) == [("alice", Q)]


def test_sources_go_with_their_turns(client: TestClient, shop: dict[str, str]) -> None:
    tid = ask(client)["threadId"]

    async def count(model: Any) -> int:
        async with client.app.state.parley.database.read() as db:
            return len((await db.scalars(select(model))).all())

    kinds = client.portal.call(_kinds, client)
    assert kinds == {"answer", "card", "catalog", "golden", "observation", "question"}
    ok(client.delete(f"/api/v1/ai-agent/{P}/threads/{tid}"))
    for table in (AgentThread, AgentTurn, AgentTurnSource):
        assert client.portal.call(count, table) == 0, table.__name__
    assert client.portal.call(count, Message) == 0


async def _kinds(client: TestClient) -> set[str]:
    async with client.app.state.parley.database.read() as db:
        return set(await db.scalars(select(AgentTurnSource.kind)))


# Every DELETE route, and how it keeps its content from coming back through stored copies.
# A new DELETE route fails the test below until it is added here (with a test above, if it
# takes content).
DELETE_ROUTES = {
    "/v2/workspaces/{workspace_id}": "cascade: the workspace's turns go with it",
    "/v2/workspaces/{workspace_id}/peers/{peer_id}": "erasure.delete_peer",
    "/v2/workspaces/{workspace_id}/sessions/{session_id}": "erasure.delete_session",
    "/v2/workspaces/{workspace_id}/sessions/{session_id}/messages/{message_id}": (
        "erasure.delete_message"
    ),
    "/v2/workspaces/{workspace_id}/sessions/{session_id}/peers": "leaving keeps the content",
    "/v2/workspaces/{workspace_id}/observations/{observation_id}": "erasure.delete_observation",
    "/v2/workspaces/{workspace_id}/conclusions/{observation_id}": "erasure.delete_observation",
    "/v2/workspaces/{workspace_id}/webhooks/{endpoint_id}": "no content",
    "/v3/workspaces/{workspace_id}": "cascade: the workspace's turns go with it",
    "/v3/workspaces/{workspace_id}/sessions/{session_id}": "erasure.delete_session",
    "/v3/workspaces/{workspace_id}/sessions/{session_id}/peers": "leaving keeps the content",
    "/v3/workspaces/{workspace_id}/webhooks/{endpoint_id}": "no content",
    "/v3/workspaces/{workspace_id}/conclusions/{conclusion_id}": "erasure.delete_observation",
    "/api/v1/projects/{project_id}": "cascade: the project's turns go with it",
    "/api/v1/projects/{project_id}/apiKeys/{api_key_id}": "no content",
    "/api/v1/connections/{project_id}/{connection_id}": "erasure.delete_connection",
    "/api/v1/data/projects/{project_id}/catalogs/{catalog_id}": "erasure.delete_catalog",
    "/api/v1/metadata/{project_id}/golden-sqls/{golden_id}": "erasure.delete_golden_sql",
    "/api/v1/metadata/{project_id}/relations/{catalog_id}/{schema_name}/{table_name}"
    "/{relation_id}": "turns copy no relations",
    "/api/v1/metadata/{project_id}/categorical/{catalog_id}/{schema_name}/{table_name}"
    "/{column_name}": "turning a column's values off deletes no data",
    "/api/v1/data/projects/{project_id}/queries/{query_id}": "turns copy no saved queries",
    "/api/v1/data/projects/{project_id}/queries/folders/{folder_id}": (
        "turns copy no saved queries or folders (force=true deletes the folder's queries)"
    ),
    "/api/v1/ai-agent/{project_id}/threads/{thread_id}": "erasure.delete_thread",
    "/api/v1/organizations/{organization_id}/workspaces/{workspace_id}": (
        "refused while it holds projects: no content goes"
    ),
    "/api/v1/organizations/{organization_id}/workspaces/{workspace_id}/projects/{project_id}": (
        "cascade: the project's turns go with it"
    ),
    "/api/v1/metadata/{project_id}/refresh/callback": "a setting, not content turns copy",
    # internal tables: the rows go from the project's DuckDB file and the table (or column)
    # from its catalog on the refresh that follows, as when a source drops a table
    "/api/v1/data/projects/{project_id}/table/{table_name}": "the table's rows and catalog entry",
    "/api/v1/data/projects/{project_id}/table/{table_name}/columns/{column_name}": (
        "the column's values and catalog entry"
    ),
    "/api/v1/data/projects/{project_id}/bitable/{table_name}": "the table's rows and catalog entry",
    "/api/v1/data/projects/{project_id}/bitable/{table_name}/columns/{column_name}": (
        "the column's values and catalog entry"
    ),
    "/api/v1/data/projects/{project_id}/exports/{export_id}": (
        "cancels a running export and removes its partial file; turns copy no exports"
    ),
    "/api/v1/data/projects/{project_id}/cache/{cache_id}": (
        "a copy of a source table: deleting it deletes no source data turns copied"
    ),
    "/api/v1/data/projects/{project_id}/semantic-catalogs/{catalog_id}/table/{table_id}": (
        "a name for a saved query: the query and its rows stay"
    ),
    "/api/v1/data/projects/{project_id}/catalogs/{catalog_id}/parametricTables": (
        "a name for a filtered table: the source table stays"
    ),
    # the SQL endpoint's cancels free a result held in memory; nothing stored changes
    "/v1/statement/{phase}/{query_id}/{slug}/{token}": "a held result, not stored content",
    "/v1/statement/executing/partialCancel/{query_id}/{stage}/{slug}/{token}": (
        "a held result, not stored content"
    ),
}


def test_every_delete_route_is_accounted_for(client: TestClient) -> None:
    found = {
        route.path
        for route in api_routes(client.app)
        if "DELETE" in getattr(route, "methods", set())
    }
    assert found == set(DELETE_ROUTES)


def test_turns_stored_before_sources_existed_get_them_on_upgrade(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Migration 0016 links the turns already stored to what their state copied, so deletes
    after the upgrade redact them too."""
    import asyncio

    from parley import erasure
    from parley.memory.configuration import ReasoningDefaults
    from parley.store import migrate
    from parley.store.engine import create_database

    if backend == "postgres":
        server = request.getfixturevalue("postgres")
        url = str(server.new_database(migrated=False))
        request.addfinalizer(lambda: server.drop_database(url))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0014")
    tables = Base.metadata.tables
    state = AgentState(project_id=P, thread_id="t", question=Q, user_id="alice")
    state.user_memory = [ALICE_CARD, ALICE_FACT]
    state.catalogs = [{"catalogId": "c1", "catalogName": CATALOG, "dialect": "sqlite"}]
    state.answer = f"Yes. ({ALICE_FACT})"

    async def run(step: Any) -> Any:
        database = create_database(url)
        try:
            async with database.write() as db:
                return await step(db)
        finally:
            await database.dispose()

    async def seed(db: Any) -> None:
        await db.execute(tables["workspaces"].insert().values(id=P, metadata={}, configuration={}))
        for peer in ("alice", "data-agent"):
            await db.execute(
                tables["peers"]
                .insert()
                .values(workspace_id=P, id=peer, metadata={}, configuration={})
            )
        for session in ("t", "profile"):
            await db.execute(
                tables["sessions"]
                .insert()
                .values(workspace_id=P, id=session, is_active=True, metadata={}, configuration={})
            )
        said = [("m1", "alice", Q), ("m2", "data-agent", state.answer)]
        for message_id, peer, content in said:
            await db.execute(
                tables["messages"]
                .insert()
                .values(
                    id=message_id,
                    workspace_id=P,
                    session_id="t",
                    peer_id=peer,
                    content=content,
                    metadata={},
                    internal_metadata={},
                    token_count=1,
                )
            )
        await db.execute(
            tables["observations"]
            .insert()
            .values(
                id="o1",
                workspace_id=P,
                observer_id="alice",
                observed_id="alice",
                session_id="profile",
                content=ALICE_FACT,
                level="explicit",
                premises=[],
                message_ids=[],
                times_derived=1,
                embedding=[1.0, 0.0, 0.0],
            )
        )
        await db.execute(
            tables["peer_cards"]
            .insert()
            .values(workspace_id=P, observer_id="alice", observed_id="alice", facts=[ALICE_CARD])
        )
        await db.execute(
            tables["agent_threads"]
            .insert()
            .values(project_id=P, id="t", user_peer_id="alice", display_name=Q)
        )
        await db.execute(
            tables["agent_turns"]
            .insert()
            .values(
                project_id=P,
                thread_id="t",
                seq=1,
                question=Q,
                answer=state.answer,
                state=state.to_result(with_history=False),
            )
        )

    async def sources(db: Any) -> list[tuple[str, str, str | None]]:
        rows = await db.execute(
            select(AgentTurnSource.kind, AgentTurnSource.ref, AgentTurnSource.entry)
        )
        return sorted(tuple(r) for r in rows.all())

    async def delete(db: Any) -> None:
        await erasure.delete_observation(
            db, reasoning=ReasoningDefaults(), workspace_id=P, observation_id="o1"
        )

    async def after(db: Any) -> tuple[str, list[str], list[str]]:
        turn = await db.scalar(select(AgentTurn))
        left = await db.scalars(select(Message.peer_id).order_by(Message.seq))
        return turn.answer, turn.state["userMemory"], list(left)

    asyncio.run(run(seed))
    migrate.upgrade(url)
    assert asyncio.run(run(sources)) == [
        ("answer", "m2", None),
        ("card", "alice/alice", ALICE_CARD),
        ("catalog", "c1", CATALOG),
        ("observation", "o1", ALICE_FACT),
        ("question", "m1", None),
    ]
    asyncio.run(run(delete))
    assert asyncio.run(run(after)) == (REDACTED, [ALICE_CARD], ["alice"])
