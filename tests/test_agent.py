"""The data agent over HTTP, on both store backends, with a real SQLite data source and the fake
model server scripted per step: the happy path, self-repair, noExecute, follow-ups, the value
index, a model that writes DML, memory of the user, threads, streaming, project isolation, and
the answers that need no model."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import AppClient, make_settings, reasoning_settings, wait_for_reasoning
from fake_openai import FakeOpenAI, fake_openai
from helpers import PARTNER, ok, project_with_catalog
from parley.app import create_app

REGIONS = [f"Region {i}" for i in range(30)] + ["Bavaria", "Ontario"]


def make_shop(path: Path) -> Path:
    """customers (region has 32 distinct values: too many to be categorical) and orders."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT);
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(id),
            amount REAL NOT NULL,
            ordered_on TEXT NOT NULL,
            channel TEXT NOT NULL
        );
        """
    )
    conn.executemany(
        "INSERT INTO customers VALUES (?, ?, ?)",
        [(i, f"customer {i}", REGIONS[i % len(REGIONS)]) for i in range(1, 129)],
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
        [
            (
                i,
                1 + i % 128,
                float(i % 40),
                f"{2023 + i % 2}-{1 + i % 12:02d}-15",
                ["web", "store"][i % 2],
            )
            for i in range(1, 401)
        ],
    )
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=256) as server:
        yield server


@pytest.fixture
def settings_overrides(model: FakeOpenAI, tmp_path: Path) -> dict[str, Any]:
    return {
        "auth_enabled": True,
        "data_file_roots": {"*": [tmp_path]},
        "embedding_base_url": model.base_url,
        "embedding_model": "bow",
        "embedding_dimensions": 256,
        "agent_base_url": model.base_url,
        "agent_model": "fake-agent",
        "llm_max_retries": 0,
    }


def error(response: Any, status: int, code: str, message: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json() == {"errorCode": code, "message": message}


def make_project(client: TestClient, tmp_path: Path, pid: str = "shop") -> dict[str, str]:
    """A project with the shop database connected; returns a project key's headers."""
    db = make_shop(tmp_path / f"{pid}.sqlite")
    return project_with_catalog(
        client, db, name=pid, project_id=pid, kind="sqlite", key="app"
    ).headers


def plan(sql: str | None, intent: str = "TEXT_TO_SQL", **extra: Any) -> str:
    return json.dumps(
        {"intent": intent, "reasoning": "because", "sql": sql, "follow_up_questions": ["next?"]}
        | extra
    )


def chat(client: TestClient, headers: dict[str, str], pid: str = "shop", **body: Any) -> Any:
    return ok(client.post(f"/api/v1/ai-agent/{pid}/chat", json=body, headers=headers))


@pytest.fixture
def shop(client: TestClient, tmp_path: Path) -> dict[str, str]:
    return make_project(client, tmp_path)


def test_happy_path_returns_peaka_state(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "How much did web orders bring in?"
    model.script(
        f"QUESTION: {q}", plan("SELECT SUM(amount) AS total FROM orders WHERE channel = 'web'")
    )
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "Web orders brought in 3800.")
    reply = chat(client, shop, message=q)
    result = reply["result"]
    assert reply["result"]["messages"][1]["kwargs"]["content"] == "Web orders brought in 3800."
    assert result["messages"][0]["id"] == ["langchain_core", "messages", "HumanMessage"]
    assert result["messages"][0]["kwargs"]["content"] == q
    assert result["messages"][1]["id"] == ["langchain_core", "messages", "AIMessage"]
    assert result["userIntentReasoning"] == "TEXT_TO_SQL"
    assert result["currentGeneratedQuery"] == (
        'SELECT SUM(amount) AS total FROM "main"."orders" WHERE channel = \'web\' LIMIT 10000'
    )
    assert result["currentQueryResult"] == {
        "columns": [{"name": "total", "type": "double"}],
        "rows": [[3800.0]],
        "rowCount": 1,
        "truncated": False,
    }
    assert result["currentQueryError"] is None and result["invalidQuery"] is False
    assert result["noExecute"] is False and result["projectId"] == "shop"
    assert sorted(result["tableNames"]) == ["shop.main.customers", "shop.main.orders"]
    assert result["sampleQuestions"] == ["next?"]
    assert [c["catalogName"] for c in result["catalogs"]] == ["shop"]
    assert reply["threadId"] and result["attempts"] == [
        {"sql": result["currentGeneratedQuery"], "error": None}
    ]
    plan_prompt, analyze_prompt = model.prompts()
    assert "TABLE orders" in plan_prompt and "customer_id references customers.id" in plan_prompt
    assert "| total |" in analyze_prompt and "| 3800.0 |" in analyze_prompt


def test_failing_sql_is_repaired_with_the_error(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "How many orders are there?"
    model.script(f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM orders WHERE colour = 'red'"))
    model.script(
        f"FIX THE SQL FOR: {q}",
        json.dumps({"reasoning": "no colour", "sql": "SELECT COUNT(*) AS n FROM orders"}),
    )
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "There are 400 orders.")
    result = chat(client, shop, message=q)["result"]
    assert result["currentQueryResult"]["rows"] == [[400]]
    assert result["messages"][1]["kwargs"]["content"] == "There are 400 orders."
    assert [a["error"] is None for a in result["attempts"]] == [False, True]
    assert "no such column: colour" in result["attempts"][0]["error"]
    fix_prompt = model.prompts()[1]
    assert "no such column: colour" in fix_prompt and "WHERE colour = 'red'" in fix_prompt


def test_three_failures_end_with_the_error(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "Show the colours"
    model.script(f"QUESTION: {q}", plan("SELECT colour FROM orders"))
    model.script(
        f"FIX THE SQL FOR: {q}", json.dumps({"reasoning": "?", "sql": "SELECT hue FROM orders"})
    )
    result = chat(client, shop, message=q)["result"]
    assert len(result["attempts"]) == 3
    assert result["invalidQuery"] is True and result["currentQueryResult"] is None
    assert "no such column: hue" in result["currentQueryError"]
    assert result["messages"][1]["kwargs"]["content"].startswith("I could not run a query for this")
    assert len(model.prompts()) == 3  # plan, fix, fix: no analysis of nothing


def test_no_execute_returns_checked_sql(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "Largest order amount?"
    model.script(f"QUESTION: {q}", plan("SELECT MAX(amount) AS biggest FROM orders"))
    result = chat(client, shop, message=q, noExecute=True)["result"]
    sql = 'SELECT MAX(amount) AS biggest FROM "main"."orders" LIMIT 10000'
    assert result["noExecute"] is True and result["currentGeneratedQuery"] == sql
    assert result["currentQueryResult"] is None
    assert result["messages"][1]["kwargs"]["content"].endswith(sql)
    assert len(model.prompts()) == 1


def test_no_execute_still_dry_runs_the_sql(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "Average basket?"
    model.script(f"QUESTION: {q}", plan("SELECT AVG(basket) FROM orders"))
    model.script(
        f"FIX THE SQL FOR: {q}",
        json.dumps({"reasoning": "r", "sql": "SELECT AVG(amount) AS avg FROM orders"}),
    )
    result = chat(client, shop, message=q, noExecute=True)["result"]
    assert "no such column: basket" in result["attempts"][0]["error"]
    assert (
        result["currentGeneratedQuery"]
        == 'SELECT AVG(amount) AS avg FROM "main"."orders" LIMIT 10000'
    )


def test_follow_up_uses_the_thread_history(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q1, q2 = "Orders per channel?", "now only 2024"
    sql1 = "SELECT channel, COUNT(*) AS n FROM orders GROUP BY channel ORDER BY channel"
    sql2 = (
        "SELECT channel, COUNT(*) AS n FROM orders WHERE ordered_on LIKE '2024%' "
        "GROUP BY channel ORDER BY channel"
    )
    model.script(f"QUESTION: {q1}", plan(sql1))
    model.script(f"EXPLAIN THE RESULT FOR: {q1}", "200 each.")
    model.script(f"QUESTION: {q2}", plan(sql2))
    model.script(f"EXPLAIN THE RESULT FOR: {q2}", "In 2024: 200 store orders.")
    first = chat(client, shop, message=q1)
    second = chat(client, shop, message=q2, threadId=first["threadId"])
    assert second["threadId"] == first["threadId"]
    messages = second["result"]["messages"]
    assert [m["kwargs"]["content"] for m in messages] == [
        q1,
        "200 each.",
        q2,
        "In 2024: 200 store orders.",
    ]
    assert second["result"]["currentQueryResult"]["rows"] == [["store", 200]]
    follow_prompt = model.prompts()[2]
    assert f"CONVERSATION SO FAR:\nUser: {q1}\nSQL: " in follow_prompt
    assert "Agent: 200 each." in follow_prompt
    thread = ok(client.get(f"/api/v1/ai-agent/shop/threads/{first['threadId']}", headers=shop))
    assert thread["displayName"] == q1
    assert [t["question"] for t in thread["turns"]] == [q1, q2]
    assert [m["kwargs"]["content"] for m in thread["messages"]] == [
        m["kwargs"]["content"] for m in messages
    ]


def test_value_index_finds_the_column_holding_a_value(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "How many customers are in bavaria?"
    model.script(
        f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM customers WHERE region = 'Bavaria'")
    )
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "4 customers.")
    result = chat(client, shop, message=q)["result"]
    assert result["valueMatches"] == [
        {
            "catalogName": "shop",
            "schemaName": "main",
            "tableName": "customers",
            "columnName": "region",
            "value": "Bavaria",
        }
    ]
    assert (
        "KNOWN VALUES named in the question:\n- 'Bavaria' is a value of customers.region"
        in model.prompts()[0]
    )
    assert result["currentQueryResult"]["rows"] == [[4]]


def test_dml_from_the_model_is_refused_and_nothing_changes(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI, tmp_path: Path
) -> None:
    q = "Clean up old orders"
    model.script(f"QUESTION: {q}", plan("DELETE FROM orders"))
    model.script(
        f"FIX THE SQL FOR: {q}",
        json.dumps(
            {"reasoning": "r", "sql": "WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x"}
        ),
    )
    result = chat(client, shop, message=q)["result"]
    assert result["invalidQuery"] is True and len(result["attempts"]) == 3
    assert [a["error"] for a in result["attempts"]] == [
        "only SELECT queries may run; this statement starts with DELETE",
        "DELETE is not allowed in a query",
        "DELETE is not allowed in a query",
    ]
    conn = sqlite3.connect(tmp_path / "shop.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (400,)
    conn.close()


def observe(client: TestClient, pid: str, content: str, peer: str) -> None:
    item = {"content": content, "observer_id": peer, "observed_id": peer, "session_id": "profile"}
    ok(
        client.post(
            f"/v2/workspaces/{pid}/sessions",
            json={"id": "profile", "peers": {peer: {}}},
            headers=PARTNER,
        )
    )
    ok(
        client.post(
            f"/v2/workspaces/{pid}/observations", json={"observations": [item]}, headers=PARTNER
        )
    )


def indexer_wakes(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records each wake of the app's embedding indexer (and still wakes it)."""
    indexer = client.app.state.parley.indexer  # type: ignore[attr-defined]
    woken: list[int] = []
    wake = indexer.notify
    monkeypatch.setattr(indexer, "notify", lambda: (woken.append(1), wake())[1])
    return woken


def test_the_agent_reads_and_feeds_the_users_memory(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    observe(client, "shop", "alice manages the Bavaria region", "alice")
    ok(
        client.put(
            "/v2/workspaces/shop/peers/alice/card",
            json={"peer_card": ["Alice is a regional sales manager"]},
            headers=PARTNER,
        )
    )
    q = "How many customers are in my region?"
    model.script(
        f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM customers WHERE region = 'Bavaria'")
    )
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "Your region, Bavaria, has 4 customers.")
    woken = indexer_wakes(client, monkeypatch)
    reply = chat(client, shop, message=q, userId="alice")
    assert woken == [1]  # the stored turn is embedded now, not at the indexer's next poll
    prompt = model.prompts()[0]
    assert "WHAT YOU KNOW ABOUT THIS USER" in prompt
    assert "- Alice is a regional sales manager\n- alice manages the Bavaria region" in prompt
    assert reply["result"]["userMemory"] == [
        "Alice is a regional sales manager",
        "alice manages the Bavaria region",
    ]
    # the turn is now in the thread's memory session, where the deriver learns about alice
    session = reply["threadId"]
    messages = ok(
        client.post(
            f"/v2/workspaces/shop/sessions/{session}/messages/list", json={}, headers=PARTNER
        )
    )
    assert [(m["peer_id"], m["content"]) for m in messages["items"]] == [
        ("alice", q),
        ("data-agent", "Your region, Bavaria, has 4 customers."),
    ]
    peers = ok(
        client.get(
            f"/v2/workspaces/shop/sessions/{session}/peers/data-agent/config", headers=PARTNER
        )
    )
    assert peers["observe_me"] is False
    status = ok(
        client.get(f"/v2/workspaces/shop/deriver/status?session_id={session}", headers=PARTNER)
    )
    assert status["total_work_units"] >= 1


def test_memory_join_can_be_turned_off(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    observe(client, "shop", "bob likes churn numbers", "bob")
    ok(
        client.put(
            "/v2/workspaces/shop",
            json={"configuration": {"agent": {"memory": False}}},
            headers=PARTNER,
        )
    )
    q = "Count the orders"
    model.script(f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM orders"))
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "400.")
    woken = indexer_wakes(client, monkeypatch)
    reply = chat(client, shop, message=q, userId="bob")
    assert "WHAT YOU KNOW" not in model.prompts()[0] and reply["result"]["userMemory"] == []
    assert woken == []
    response = client.get(f"/v2/workspaces/shop/sessions/{reply['threadId']}", headers=PARTNER)
    assert response.status_code in (404, 405)
    sessions = ok(client.post("/v2/workspaces/shop/sessions/list", json={}, headers=PARTNER))
    assert [s["id"] for s in sessions["items"]] == ["profile"]


def test_threads_list_rename_delete(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    for q in ("First question?", "Second question?"):
        model.script(
            f"QUESTION: {q}", plan(None, intent="USER_INTENT_NOT_CLEAR", answer="Which table?")
        )
    one = chat(client, shop, message="First question?")
    two = chat(client, shop, message="Second question?")
    assert one["result"]["userIntentReasoning"] == "USER_INTENT_NOT_CLEAR"
    assert one["result"]["messages"][1]["kwargs"]["content"] == "Which table?"
    listed = ok(client.get("/api/v1/ai-agent/shop/threads", headers=shop))["threads"]
    assert [t["displayName"] for t in listed] == ["Second question?", "First question?"]
    assert listed[0]["threadId"] == two["threadId"]
    renamed = ok(
        client.put(
            f"/api/v1/ai-agent/shop/threads/{one['threadId']}",
            json={"displayName": "Mine"},
            headers=shop,
        )
    )
    assert renamed["displayName"] == "Mine"
    ok(client.delete(f"/api/v1/ai-agent/shop/threads/{one['threadId']}", headers=shop))
    error(
        client.get(f"/api/v1/ai-agent/shop/threads/{one['threadId']}", headers=shop),
        404,
        "NOT_FOUND",
        f"Thread {one['threadId']} not found",
    )
    listed = ok(client.get("/api/v1/ai-agent/shop/threads", headers=shop))["threads"]
    assert [t["threadId"] for t in listed] == [two["threadId"]]
    sessions = ok(client.post("/v2/workspaces/shop/sessions/list", json={}, headers=PARTNER))
    assert [s["id"] for s in sessions["items"]] == [two["threadId"]]


def test_projects_are_isolated(
    client: TestClient, tmp_path: Path, shop: dict[str, str], model: FakeOpenAI
) -> None:
    other = make_project(client, tmp_path, "other")
    q = "Count the customers"
    model.script(f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM customers"))
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "128.")
    mine = chat(client, shop, message=q)
    for method, path, body in (
        ("post", "/api/v1/ai-agent/shop/chat", {"message": q}),
        ("post", "/api/v1/ai-agent/shop/chat/stream", {"message": q}),
        ("get", "/api/v1/ai-agent/shop/threads", None),
        ("get", f"/api/v1/ai-agent/shop/threads/{mine['threadId']}", None),
        ("put", f"/api/v1/ai-agent/shop/threads/{mine['threadId']}", {"displayName": "x"}),
        ("delete", f"/api/v1/ai-agent/shop/threads/{mine['threadId']}", None),
    ):
        response = client.request(method, path, json=body, headers=other)
        assert response.status_code == 403, (path, response.text)
    # the same thread id in another project is another thread: no history crosses over
    theirs = chat(client, other, pid="other", message=q, threadId=mine["threadId"])
    assert [m["kwargs"]["content"] for m in theirs["result"]["messages"]] == [q, "128."]
    assert (
        len(
            ok(client.get(f"/api/v1/ai-agent/shop/threads/{mine['threadId']}", headers=shop))[
                "turns"
            ]
        )
        == 1
    )


def test_a_thread_of_another_user_is_not_found(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "Count the orders"
    model.script(f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM orders"))
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "400.")
    mine = chat(client, shop, message=q, userId="alice")
    response = client.post(
        "/api/v1/ai-agent/shop/chat",
        json={"message": q, "threadId": mine["threadId"], "userId": "mallory"},
        headers=shop,
    )
    error(response, 404, "NOT_FOUND", f"Thread {mine['threadId']} not found")
    follow = chat(
        client, shop, message=q, threadId=mine["threadId"]
    )  # no userId: the thread's user
    assert follow["result"]["userId"] == "alice"


def test_peaka_key_is_the_default_user(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "Count the orders"
    model.script(f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM orders"))
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "400.")
    reply = chat(client, shop, message=q)
    keys = ok(client.get("/api/v1/projects/shop/apiKeys", headers=PARTNER))
    assert [reply["result"]["userId"]] == [f"key-{k['apiKeyId']}" for k in keys]


def sse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_stream_modes(client: TestClient, shop: dict[str, str], model: FakeOpenAI) -> None:
    q = "Count the orders"
    model.script(f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM orders"))
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "There are 400 orders in all.")
    response = client.post(
        "/api/v1/ai-agent/shop/chat/stream",
        json={"message": q, "streamModes": ["updates", "messages", "values"]},
        headers=shop,
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/event-stream"
    )
    events = sse_events(response.text)
    kinds = [e for e, _ in events]
    assert kinds[0] == "metadata" and kinds[-1] == "end"
    thread = events[0][1]["threadId"]
    nodes = [next(iter(d)) for e, d in events if e == "updates"]
    assert nodes == ["prepare", "retrieve", "generate", "check", "execute", "analyze", "save"]
    pieces = [d["message"]["kwargs"]["content"] for e, d in events if e == "messages"]
    assert len(pieces) > 1 and "".join(pieces) == "There are 400 orders in all."
    assert all(d["message"]["id"][-1] == "AIMessageChunk" for e, d in events if e == "messages")
    values = [d for e, d in events if e == "values"]
    assert values[-1]["currentQueryResult"]["rows"] == [[400]]
    end = events[-1][1]
    assert end["threadId"] == thread
    assert end["result"]["messages"][1]["kwargs"]["content"] == "There are 400 orders in all."


def test_stream_ends_with_an_error_event_when_the_model_fails(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "Count the orders"
    model.script(f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM orders"))
    model.script(
        f"EXPLAIN THE RESULT FOR: {q}", "There are 400 orders in all.", break_stream_after=2
    )
    response = client.post("/api/v1/ai-agent/shop/chat/stream", json={"message": q}, headers=shop)
    events = sse_events(response.text)
    assert events[-1][0] == "error" and events[-1][1]["errorCode"] == "UPSTREAM_ERROR"
    assert [e for e, _ in events][:1] == ["metadata"]
    assert ok(client.get("/api/v1/ai-agent/shop/threads", headers=shop))["threads"] == []


def test_model_failure_is_a_502_and_stores_nothing(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "Count the orders"
    model.script(f"QUESTION: {q}", status=500, error="boom")
    response = client.post("/api/v1/ai-agent/shop/chat", json={"message": q}, headers=shop)
    assert response.status_code == 502 and response.json()["errorCode"] == "UPSTREAM_ERROR"
    assert ok(client.get("/api/v1/ai-agent/shop/threads", headers=shop))["threads"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"message": ""}, 422),
        ({"message": 5}, 422),
        ({"message": "x" * 10_001}, 422),
        ({"message": "hi", "threadId": "../etc"}, 422),
        ({"message": "hi", "threadId": "x" * 513}, 422),
        ({"message": "hi", "userId": "a b"}, 422),
        ({"message": "hi", "noExecute": "maybe"}, 422),
        ({"message": "hi", "userId": "data-agent"}, 422),
    ],
)
def test_bad_input(
    client: TestClient, shop: dict[str, str], body: dict[str, Any], status: int
) -> None:
    response = client.post("/api/v1/ai-agent/shop/chat", json=body, headers=shop)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"errorCode", "message"}


def test_unknown_project(client: TestClient) -> None:
    response = client.post("/api/v1/ai-agent/nope/chat", json={"message": "hi"}, headers=PARTNER)
    error(response, 404, "NOT_FOUND", "Project nope not found")


def test_what_a_user_asked_before_reaches_the_next_thread(
    database_url: str, tmp_path: Path, model: FakeOpenAI, settings_overrides: dict[str, Any]
) -> None:
    """The memory loop with the real worker: a question is stored in the thread's session, the
    deriver (no deriver model here: each sentence of the user's message becomes a fact) learns
    it, and a new thread's prompt shows it under what the agent knows about the user."""
    overrides = settings_overrides | reasoning_settings(auth_enabled=False)
    settings = make_settings(database_url, tmp_path / "data", **overrides)
    with AppClient(create_app(settings), raise_server_exceptions=False) as client:
        headers = make_project(client, tmp_path)
        first = "I only care about the Ontario region."
        model.script(
            f"QUESTION: {first}", plan(None, intent="USER_INTENT_NOT_CLEAR", answer="Noted.")
        )
        chat(client, headers, message=first, userId="carol")
        wait_for_reasoning(client, "shop")
        q = "How many customers are in my region?"
        model.script(
            f"QUESTION: {q}", plan("SELECT COUNT(*) AS n FROM customers WHERE region = 'Ontario'")
        )
        model.script(f"EXPLAIN THE RESULT FOR: {q}", "4.")
        reply = chat(client, headers, message=q, userId="carol")
        fact = f"carol said on {datetime.now(UTC).date().isoformat()}: I only care about the Ontario region."
        assert reply["result"]["userMemory"] == [fact]
        assert f"- {fact}" in model.prompts()[-2]
        other = chat(client, headers, message=q, userId="dave")  # another user knows nothing
        assert other["result"]["userMemory"] == []


def test_a_thread_keeps_the_first_hundred_rows_of_a_result(
    client: TestClient, shop: dict[str, str], model: FakeOpenAI
) -> None:
    q = "List all orders"
    model.script(f"QUESTION: {q}", plan("SELECT id FROM orders ORDER BY id"))
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "400 orders.")
    reply = chat(client, shop, message=q)
    returned = reply["result"]["currentQueryResult"]
    assert (len(returned["rows"]), returned["rowCount"], returned["truncated"]) == (400, 400, False)
    thread = ok(client.get(f"/api/v1/ai-agent/shop/threads/{reply['threadId']}", headers=shop))
    kept = thread["turns"][0]["result"]["currentQueryResult"]
    assert kept["rows"] == [[i] for i in range(1, 101)] and kept["rowCount"] == 400
    assert "RESULT (400 rows (first 30 shown))" in model.prompts()[1]
    assert "strftime('%Y', d)" in model.prompts()[0]  # the dialect's tips
