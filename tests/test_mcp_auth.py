"""/mcp behind the same auth as the HTTP routes: the bearer key decides what every tool and
resource reaches, as `requires(Scope.X)` decides for a route. Narrow keys (a project's key, a
workspace's, a peer's, a session's) reach nothing of another tenant through any tool, and
inside their own workspace only what the matching route lets them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from conftest import serve
from mcp_world import World, error, mcp_world, session, structured

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with mcp_world(tmp_path_factory.mktemp("mcp-auth")) as built:
        yield built


def every_tool(world: World, workspace: str, project: str) -> dict[str, dict[str, Any]]:
    """Arguments for each tool that aim at `workspace`'s memory (carol, session s1) or at
    `project`'s data (its one table, `secrets`)."""
    catalog = world.catalogs.get(project, "any-catalog")
    table = {"project_id": project, "catalog_id": catalog, "schema_name": "main"}
    return {
        "add_messages": {
            "workspace_id": workspace,
            "session_id": "s1",
            "messages": [{"peer_id": "carol", "content": "written by an intruder"}],
        },
        "search_messages": {"workspace_id": workspace, "query": "plans"},
        "ask_peer": {"workspace_id": workspace, "peer_id": "carol", "query": "What plans?"},
        "get_session_context": {"workspace_id": workspace, "session_id": "s1"},
        "get_peer_card": {"workspace_id": workspace, "peer_id": "carol"},
        "set_peer_card": {"workspace_id": workspace, "peer_id": "carol", "peer_card": ["x"]},
        "list_observations": {"workspace_id": workspace},
        "query_observations": {
            "workspace_id": workspace,
            "observer_id": "carol",
            "observed_id": "carol",
            "query": "plans",
        },
        "queue_status": {"workspace_id": workspace},
        "list_catalogs": {"project_id": project},
        "list_schemas": {"project_id": project, "catalog_id": catalog},
        "list_tables": table,
        "describe_table": table | {"table_name": "secrets"},
        "run_query": {"project_id": project, "sql": "SELECT * FROM secrets"},
        "ask_data_agent": {"project_id": project, "message": "SELECT * FROM secrets"},
    }


MEMORY = {
    "add_messages",
    "search_messages",
    "ask_peer",
    "get_session_context",
    "get_peer_card",
    "set_peer_card",
    "list_observations",
    "query_observations",
    "queue_status",
}

# key -> how it is described in a refusal
NARROW = {
    "shop": "a key for workspace shop",  # a Peaka project key
    "team": "a key for workspace team",
    "alice": "a key for peer alice of workspace team",
    "session": "a key for session s1 of workspace team",
}


@pytest.mark.parametrize("key", list(NARROW))
async def test_no_narrow_key_reaches_another_tenant_through_any_tool(
    world: World, key: str
) -> None:
    calls = every_tool(world, "rival", "other")
    async with session(world.url, world.keys[key]) as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert set(calls) == listed  # a new tool gets its scoping checked here
        got = {name: error(await client.call_tool(name, args)) for name, args in calls.items()}
        resources = []
        for uri in (
            "parley://workspaces/rival/peers/carol/card",
            f"parley://projects/other/catalogs/{world.catalogs['other']}/schemas/main/tables/secrets",
        ):
            with pytest.raises(MCPError) as refused:
                await client.read_resource(uri)
            resources.append(refused.value.error.message)
    who = NARROW[key]
    assert got == {
        name: f"FORBIDDEN: {who} cannot reach workspace rival"
        if name in MEMORY
        else f"FORBIDDEN: {who} cannot reach project other"
        for name in calls
    }
    assert resources == [
        f"FORBIDDEN: {who} cannot reach workspace rival",
        f"FORBIDDEN: {who} cannot reach project other",
    ]
    # nothing was written there
    admin = {"Authorization": f"Bearer {world.keys['admin']}"}
    card = httpx.get(f"{world.base_url}/v2/workspaces/rival/peers/carol/card", headers=admin)
    assert card.json() == {"peer_card": None}
    listed_messages = httpx.post(
        f"{world.base_url}/v2/workspaces/rival/sessions/s1/messages/list", headers=admin
    ).json()
    assert [m["content"] for m in listed_messages["items"]] == [
        "The rival workspace keeps its own plans."
    ]


async def test_a_peer_key_reaches_what_its_peer_may_in_its_own_workspace(world: World) -> None:
    forbidden = "FORBIDDEN: a key for peer alice of workspace team cannot"
    async with session(world.url, world.keys["alice"]) as client:
        own = structured(
            await client.call_tool(
                "search_messages", {"workspace_id": "team", "peer_id": "alice", "query": "tea"}
            )
        )
        assert [m["peer_id"] for m in own] == ["alice"]
        answer = structured(
            await client.call_tool(
                "ask_peer", {"workspace_id": "team", "peer_id": "alice", "query": "Where?"}
            )
        )["content"]
        assert answer.startswith("No language model is configured")
        context = structured(
            await client.call_tool(
                "get_session_context", {"workspace_id": "team", "session_id": "s1"}
            )
        )
        assert len(context["messages"]) >= 2  # alice is a member of s1
        assert structured(
            await client.call_tool(
                "set_peer_card", {"workspace_id": "team", "peer_id": "alice", "peer_card": ["Mine"]}
            )
        ) == {"peer_card": ["Mine"]}

        refused = {
            "someone else's messages": (
                "search_messages",
                {"workspace_id": "team", "peer_id": "bob", "query": "marathon"},
            ),
            "the whole workspace": ("search_messages", {"workspace_id": "team", "query": "x"}),
            "as another sender": (
                "add_messages",
                {
                    "workspace_id": "team",
                    "session_id": "s1",
                    "messages": [{"peer_id": "bob", "content": "I am not bob"}],
                },
            ),
            "another peer's view": (
                "ask_peer",
                {"workspace_id": "team", "peer_id": "bob", "query": "What does alice like?"},
            ),
            "another peer's card": ("get_peer_card", {"workspace_id": "team", "peer_id": "bob"}),
            "the observations": ("list_observations", {"workspace_id": "team"}),
            "the queue": ("queue_status", {"workspace_id": "team"}),
            "a project": ("list_catalogs", {"project_id": "team"}),
        }
        got = {
            what: error(await client.call_tool(tool, args))
            for what, (tool, args) in refused.items()
        }
    assert got == {
        "someone else's messages": f"{forbidden} reach this resource",
        "the whole workspace": f"{forbidden} reach this resource",
        "as another sender": f"{forbidden} send messages as peer bob",
        "another peer's view": f"{forbidden} reach this resource",
        "another peer's card": f"{forbidden} reach this resource",
        "the observations": f"{forbidden} reach this resource",
        "the queue": f"{forbidden} reach this resource",
        "a project": f"{forbidden} reach project team",
    }


async def test_a_session_key_reaches_its_session_only(world: World) -> None:
    async with session(world.url, world.keys["session"]) as client:
        mine = structured(
            await client.call_tool(
                "search_messages", {"workspace_id": "team", "session_id": "s1", "query": "tea"}
            )
        )
        other = await client.call_tool(
            "get_session_context", {"workspace_id": "team", "session_id": "s2"}
        )
    assert {m["session_id"] for m in mine} == {"s1"}
    assert error(other) == (
        "FORBIDDEN: a key for session s1 of workspace team cannot reach this resource"
    )


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "missing API key: send 'Authorization: Bearer <key>'"),
        ("Bearer not-a-key", "API key is invalid"),
        ("Bearer abcdefgh.abcdefghabcdefghabcdefghabcdefgh", "API key is invalid"),
        ("Basic dXNlcjpwYXNz", "missing API key: send 'Authorization: Bearer <key>'"),
    ],
    ids=["none", "bad-jwt", "unknown-project-key", "not-bearer"],
)
def test_a_missing_or_bad_key_is_a_401_before_any_tool(
    world: World, authorization: str | None, detail: str
) -> None:
    headers = ACCEPT | ({} if authorization is None else {"Authorization": authorization})
    response = httpx.post(world.url, json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "error_description": detail}
    quoted = detail.replace('"', "'")
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{quoted}"'
    )


def test_a_page_of_another_site_is_refused(world: World) -> None:
    headers = ACCEPT | {
        "Authorization": f"Bearer {world.keys['admin']}",
        "Origin": "http://evil.example",
    }
    response = httpx.post(world.url, json=INITIALIZE, headers=headers)
    assert (response.status_code, response.text) == (
        403,
        "requests from other sites' pages are refused",
    )
    same_site = headers | {"Origin": world.base_url}
    assert httpx.post(world.url, json=INITIALIZE, headers=same_site).status_code == 200


def test_a_revoked_project_key_stops_at_once(world: World) -> None:
    partner = {"Authorization": f"Bearer {world.keys['admin']}"}
    made = httpx.post(
        f"{world.base_url}/api/v1/projects/shop/apiKeys", json={"name": "brief"}, headers=partner
    ).json()
    bearer = ACCEPT | {"Authorization": f"Bearer {made['apiKey']}"}
    assert httpx.post(world.url, json=INITIALIZE, headers=bearer).status_code == 200
    deleted = httpx.delete(
        f"{world.base_url}/api/v1/projects/shop/apiKeys/{made['apiKeyId']}", headers=partner
    )
    assert deleted.status_code == 200, deleted.text
    refused = httpx.post(world.url, json=INITIALIZE, headers=bearer)
    assert (refused.status_code, refused.json()["error_description"]) == (
        401,
        "API key is invalid",
    )


async def test_with_auth_off_every_tool_reaches_everything_without_a_key(tmp_path: Path) -> None:
    with serve(tmp_path) as base_url:  # the defaults: auth off, on loopback
        async with session(f"{base_url}/mcp", None) as client:
            added = structured(
                await client.call_tool(
                    "add_messages",
                    {
                        "workspace_id": "anywhere",
                        "session_id": "s",
                        "messages": [{"peer_id": "dana", "content": "Hello from nowhere."}],
                    },
                )
            )
            status = structured(
                await client.call_tool("queue_status", {"workspace_id": "anywhere"})
            )
    assert [m["content"] for m in added] == ["Hello from nowhere."]
    assert status["failed_work_units"] == 0
