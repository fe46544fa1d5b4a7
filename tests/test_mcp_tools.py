"""The MCP server at /mcp of a real `parley serve`, driven by the official SDK's client over
streamable HTTP: the tools it lists, each tool called with its exact outcome (the same as the
HTTP route it stands for), resources, bad arguments, a refused statement and a timeout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import BACKENDS, migrated_database
from mcp_world import (
    SLOW_SQL,
    World,
    error,
    mcp_world,
    resource_text,
    session,
    settle,
    structured,
    text,
)

MEMORY_TOOLS = [
    "add_messages",
    "search_messages",
    "ask_peer",
    "get_session_context",
    "get_peer_card",
    "set_peer_card",
    "list_observations",
    "query_observations",
    "queue_status",
]
DATA_TOOLS = [
    "list_catalogs",
    "list_schemas",
    "list_tables",
    "describe_table",
    "run_query",
    "ask_data_agent",
]
ALICE_SAID = "I live in Lisbon and I drink green tea every morning."
BOB_SAID = "I am training for a marathon in Porto."


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[World]:
    """The served app on SQLite, then on PostgreSQL."""
    root = tmp_path_factory.mktemp(f"mcp-tools-{request.param}")
    with (
        migrated_database(request.param, root, request) as url,
        mcp_world(root, PARLEY_DATABASE_URL=url) as built,
    ):
        yield built


def _shaped(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(m["peer_id"], m["session_id"], m["content"]) for m in messages]


async def test_lists_every_tool_with_its_schema_and_the_resources(world: World) -> None:
    async with session(world.url, world.keys["admin"]) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        templates = (await client.list_resource_templates()).resource_templates
    assert list(tools) == MEMORY_TOOLS + DATA_TOOLS
    assert tools["run_query"].input_schema["required"] == ["project_id", "sql"]
    assert tools["add_messages"].input_schema["required"] == [
        "workspace_id",
        "session_id",
        "messages",
    ]
    assert tools["search_messages"].input_schema["properties"]["limit"] == {
        "default": 10,
        "maximum": 100,
        "minimum": 1,
        "title": "Limit",
        "type": "integer",
    }
    assert tools["run_query"].annotations is not None
    assert tools["run_query"].annotations.read_only_hint is True
    assert tools["add_messages"].annotations is not None
    assert tools["add_messages"].annotations.read_only_hint is False
    assert all(tool.description for tool in tools.values())
    assert [(t.name, t.uri_template, t.mime_type) for t in templates] == [
        (
            "peer-card",
            "parley://workspaces/{workspace_id}/peers/{peer_id}/card",
            "application/json",
        ),
        (
            "table-schema",
            "parley://projects/{project_id}/catalogs/{catalog_id}/schemas/{schema_name}"
            "/tables/{table_name}",
            "application/json",
        ),
    ]


async def test_memory_tools(world: World) -> None:
    async with session(world.url, world.keys["team"]) as client:
        added = structured(
            await client.call_tool(
                "add_messages",
                {
                    "workspace_id": "team",
                    "session_id": "s2",
                    "messages": [
                        {"peer_id": "alice", "content": "My cat is called Miso."},
                        {"peer_id": "bob", "content": "Miso is a fine name.", "metadata": {"k": 1}},
                    ],
                },
            )
        )
        assert _shaped(added) == [
            ("alice", "s2", "My cat is called Miso."),
            ("bob", "s2", "Miso is a fine name."),
        ]
        assert [m["metadata"] for m in added] == [{}, {"k": 1}]
        assert [m["workspace_id"] for m in added] == ["team", "team"]
        settle(world, "team")  # embedded and reasoned over, as a stored message is

        found = structured(
            await client.call_tool(
                "search_messages",
                {"workspace_id": "team", "session_id": "s2", "query": "cat", "limit": 1},
            )
        )
        assert _shaped(found) == [("alice", "s2", "My cat is called Miso.")]
        by_peer = structured(
            await client.call_tool(
                "search_messages", {"workspace_id": "team", "peer_id": "bob", "query": "marathon"}
            )
        )
        assert _shaped(by_peer) == [("bob", "s1", BOB_SAID), ("bob", "s2", "Miso is a fine name.")]
        everywhere = structured(
            await client.call_tool(
                "search_messages", {"workspace_id": "team", "query": "tea Lisbon", "limit": 1}
            )
        )
        assert _shaped(everywhere) == [("alice", "s1", ALICE_SAID)]

        context = structured(
            await client.call_tool(
                "get_session_context", {"workspace_id": "team", "session_id": "s1"}
            )
        )
        assert _shaped(context["messages"]) == [
            ("alice", "s1", ALICE_SAID),
            ("bob", "s1", BOB_SAID),
        ]
        assert (context["id"], context["summary"], context["tokens"]) == ("s1", None, 21)
        budget = structured(
            await client.call_tool(
                "get_session_context", {"workspace_id": "team", "session_id": "s1", "tokens": 10}
            )
        )
        assert (_shaped(budget["messages"]), budget["tokens"]) == ([("bob", "s1", BOB_SAID)], 9)

        assert structured(
            await client.call_tool("get_peer_card", {"workspace_id": "team", "peer_id": "alice"})
        ) == {"peer_card": None}
        card = ["Lives in Lisbon", "Drinks green tea"]
        assert structured(
            await client.call_tool(
                "set_peer_card", {"workspace_id": "team", "peer_id": "alice", "peer_card": card}
            )
        ) == {"peer_card": card}
        assert structured(
            await client.call_tool("get_peer_card", {"workspace_id": "team", "peer_id": "alice"})
        ) == {"peer_card": card}
        read = await client.read_resource("parley://workspaces/team/peers/alice/card")
        (content,) = read.contents
        assert (content.mime_type, json.loads(resource_text(content))) == (
            "application/json",
            card,
        )

        listed = structured(
            await client.call_tool(
                "list_observations",
                {"workspace_id": "team", "filters": {"observer_id": "alice"}, "size": 10},
            )
        )
        assert (listed["total"], listed["page"], listed["size"], listed["pages"]) == (2, 1, 10, 1)
        assert sorted(o["content"].split(": ", 1)[1] for o in listed["items"]) == [
            ALICE_SAID,
            "My cat is called Miso.",
        ]
        assert {(o["observer_id"], o["observed_id"], o["level"]) for o in listed["items"]} == {
            ("alice", "alice", "explicit")
        }
        nearest = structured(
            await client.call_tool(
                "query_observations",
                {
                    "workspace_id": "team",
                    "observer_id": "alice",
                    "observed_id": "alice",
                    "query": "a pet cat",
                    "top_k": 1,
                },
            )
        )
        assert [o["content"].split(": ", 1)[1] for o in nearest] == ["My cat is called Miso."]

        status = structured(await client.call_tool("queue_status", {"workspace_id": "team"}))
        assert {k: status[k] for k in ("pending_work_units", "failed_work_units")} == {
            "pending_work_units": 0,
            "failed_work_units": 0,
        }
        assert status["total_work_units"] == status["completed_work_units"] == 4
        assert sorted(status["sessions"]) == ["s1", "s2"]
        assert status["reasoning_mode"] == "retrieval_only"


async def test_ask_peer_answers_as_the_chat_route_and_streams_progress(world: World) -> None:
    query = "Where does alice live?"
    over_http = httpx.post(
        f"{world.base_url}/v2/workspaces/team/peers/alice/chat",
        json={"query": query, "session_id": "s1"},
        headers={"Authorization": f"Bearer {world.keys['team']}"},
    )
    assert over_http.status_code == 200, over_http.text
    pieces: list[str] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        assert total is None
        pieces.append(message or "")

    async with session(world.url, world.keys["team"]) as client:
        result = await client.call_tool(
            "ask_peer",
            {"workspace_id": "team", "peer_id": "alice", "query": query, "session_id": "s1"},
            progress_callback=progress,
        )
    answer = structured(result)["content"]
    assert answer == over_http.json()["content"]
    assert answer.startswith("No language model is configured")
    assert ALICE_SAID in answer
    assert len(pieces) >= 1 and "".join(pieces) == answer


async def test_data_tools(world: World) -> None:
    catalog = world.catalogs["shop"]
    async with session(world.url, world.keys["shop"]) as client:
        catalogs = structured(await client.call_tool("list_catalogs", {"project_id": "shop"}))
        assert [(c["id"], c["name"], c["catalogType"]) for c in catalogs] == [
            (catalog, "shop", "sqlite")
        ]
        schemas = structured(
            await client.call_tool("list_schemas", {"project_id": "shop", "catalog_id": catalog})
        )
        assert schemas == [{"catalogId": catalog, "catalogName": "shop", "schemaName": "main"}]
        tables = structured(
            await client.call_tool(
                "list_tables", {"project_id": "shop", "catalog_id": catalog, "schema_name": "main"}
            )
        )
        assert [t["tableName"] for t in tables] == ["orders", "users"]

        table = {
            "project_id": "shop",
            "catalog_id": catalog,
            "schema_name": "main",
            "table_name": "orders",
        }
        described = structured(await client.call_tool("describe_table", table))
        assert (described["tableName"], described["rowCount"]) == ("orders", 200)
        columns = {c["columnName"]: c for c in described["columns"]}
        assert list(columns) == ["id", "user_id", "amount", "status"]
        assert (columns["id"]["dataType"], columns["id"]["isPrimary"]) == ("integer", True)
        assert columns["status"]["categoricalValues"] == ["open", "paid"]
        assert columns["user_id"]["sampleValues"] == [2, 3, 4]
        assert described["sampleRows"][0] == {
            "id": 1,
            "user_id": 2,
            "amount": 1.0,
            "status": "open",
        }
        assert [
            (r["columnName"], r["targetTableName"], r["targetColumnName"], r["type"])
            for r in described["relations"]
        ] == [("user_id", "users", "id", "MANY_TO_ONE")]
        read = await client.read_resource(
            f"parley://projects/shop/catalogs/{catalog}/schemas/main/tables/orders"
        )
        (content,) = read.contents
        assert json.loads(resource_text(content)) == described

        rows = structured(
            await client.call_tool(
                "run_query",
                {"project_id": "shop", "sql": "SELECT id, name FROM users ORDER BY id", "limit": 2},
            )
        )
        assert rows == {
            "sql": 'SELECT id, name FROM "main"."users" ORDER BY id LIMIT 2',
            "columns": [
                {
                    "catalogName": "shop",
                    "schemaName": "main",
                    "tableName": "users",
                    "columnName": "id",
                    "dataType": "bigint",
                },
                {
                    "catalogName": "shop",
                    "schemaName": "main",
                    "tableName": "users",
                    "columnName": "name",
                    "dataType": "varchar",
                },
            ],
            "rows": [[1, "user1"], [2, "user2"]],
            "truncated": False,
        }
        counted = structured(
            await client.call_tool(
                "run_query",
                {"project_id": "shop", "sql": "SELECT count(*) AS n FROM shop.main.orders"},
            )
        )
        assert counted["rows"] == [[200]]


async def test_the_data_agent_in_a_thread_with_no_execute(world: World) -> None:
    steps: list[str] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        steps.append(message or "")

    async with session(world.url, world.keys["shop"]) as client:
        checked = structured(
            await client.call_tool(
                "ask_data_agent",
                {
                    "project_id": "shop",
                    "message": "SELECT count(*) AS n FROM users",
                    "no_execute": True,
                },
                progress_callback=progress,
            )
        )
        result = checked["result"]
        assert result["noExecute"] is True
        assert (
            result["currentGeneratedQuery"]
            == 'SELECT COUNT(*) AS n FROM "main"."users" LIMIT 10000'
        )
        assert result["currentQueryResult"] is None
        assert result["messages"][-1]["kwargs"]["content"] == (
            "Here is the query (checked, not run):\n\n"
            'SELECT COUNT(*) AS n FROM "main"."users" LIMIT 10000'
        )
        assert steps[0] == "prepare" and steps[-1] == "save" and "execute" not in steps

        ran = structured(
            await client.call_tool(
                "ask_data_agent",
                {
                    "project_id": "shop",
                    "message": "SELECT count(*) AS n FROM users",
                    "thread_id": checked["threadId"],
                },
            )
        )
    assert ran["threadId"] == checked["threadId"]
    assert ran["result"]["currentQueryResult"]["rows"] == [[60]]
    assert ran["result"]["messages"][-1]["kwargs"]["content"] == (
        "The query returned 1 row.\n\n| n |\n|---|\n| 60 |"
    )
    thread = httpx.get(
        f"{world.base_url}/api/v1/ai-agent/shop/threads/{checked['threadId']}",
        headers={"Authorization": f"Bearer {world.keys['shop']}"},
    ).json()
    assert [t["question"] for t in thread["turns"]] == ["SELECT count(*) AS n FROM users"] * 2


# (statement, the tool error) - the guard's own messages, as /api/v1 answers them
REFUSED = [
    (
        "DROP TABLE users",
        "QUERY_NOT_ALLOWED: only SELECT queries may run; this statement starts with DROP",
    ),
    (
        "SELECT 1; DELETE FROM users",
        "QUERY_NOT_ALLOWED: send exactly one statement; this text holds 2 statements",
    ),
    (
        "SELECT * FROM other.main.secrets",
        "QUERY_NOT_ALLOWED: catalog other is not in this project",
    ),
]


@pytest.mark.parametrize(("sql", "message"), REFUSED, ids=["drop", "stacked", "other-catalog"])
async def test_a_refused_statement_is_a_tool_error(world: World, sql: str, message: str) -> None:
    over_http = httpx.post(
        f"{world.base_url}/api/v1/data/projects/shop/queries/execute",
        json={"statement": sql},
        headers={"Authorization": f"Bearer {world.keys['shop']}"},
    )
    assert over_http.status_code == 400
    assert f"{over_http.json()['errorCode']}: {over_http.json()['message']}" == message
    async with session(world.url, world.keys["shop"]) as client:
        result = await client.call_tool("run_query", {"project_id": "shop", "sql": sql})
        assert error(result) == message
        # the session goes on: a refusal is an answer, not a crash
        assert structured(
            await client.call_tool("run_query", {"project_id": "shop", "sql": "SELECT 1 AS one"})
        )["rows"] == [[1]]


async def test_a_slow_query_stops_at_its_timeout(world: World) -> None:
    async with session(world.url, world.keys["shop"]) as client:
        result = await client.call_tool(
            "run_query", {"project_id": "shop", "sql": SLOW_SQL, "timeout": 1}
        )
    assert error(result) == (
        "QUERY_TIMEOUT: the query ran longer than its 1 s timeout and was cancelled"
    )


# (tool, arguments, the error)
BAD = [
    ("run_query", {"project_id": "shop"}, "VALIDATION_ERROR: sql: Field required"),
    (
        "run_query",
        {"project_id": "shop", "sql": "SELECT 1", "limit": 0},
        "VALIDATION_ERROR: limit: Input should be greater than or equal to 1",
    ),
    (
        "run_query",
        {"project_id": "shop", "sql": "SELECT 1", "timeout": "soon"},
        "VALIDATION_ERROR: timeout: Input should be a valid number, unable to parse string as a "
        "number",
    ),
    (
        "search_messages",
        {"workspace_id": "no spaces", "query": "x"},
        "VALIDATION_ERROR: workspace_id: String should match pattern '^[a-zA-Z0-9_-]+$'",
    ),
    (
        "search_messages",
        {"workspace_id": "team", "query": "x", "peer_id": "alice", "session_id": "s1"},
        "VALIDATION_ERROR: give peer_id or session_id, not both",
    ),
    (
        "add_messages",
        {"workspace_id": "team", "session_id": "s1", "messages": []},
        "VALIDATION_ERROR: messages: List should have at least 1 item after validation, not 0",
    ),
    (
        "add_messages",
        {"workspace_id": "team", "session_id": "s1", "messages": [{"content": "hi"}]},
        "VALIDATION_ERROR: messages.0.peer_id: Field required",
    ),
    (
        "get_session_context",
        {"workspace_id": "team", "session_id": "s1", "peer_perspective": "bob"},
        "VALIDATION_ERROR: peer_perspective needs peer_target",
    ),
    (
        "describe_table",
        {"project_id": "shop", "catalog_id": "nope", "schema_name": "main", "table_name": "x"},
        "NOT_FOUND: Catalog nope not found",
    ),
    (
        "ask_data_agent",
        {"project_id": "nope", "message": "hello"},
        "NOT_FOUND: Project nope not found",
    ),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
async def test_bad_arguments_are_tool_errors_that_say_what_to_fix(
    world: World, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async with session(world.url, world.keys["admin"]) as client:
        result = await client.call_tool(tool, arguments)
    assert error(result) == message


async def test_an_unknown_tool_is_an_error(world: World) -> None:
    async with session(world.url, world.keys["admin"]) as client:
        result = await client.call_tool("drop_everything", {})
    assert result.is_error
    assert text(result) == "Unknown tool: drop_everything"
