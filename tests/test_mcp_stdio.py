"""`parley mcp --stdio`: the same tools for a client that launches a local process, driven by
the SDK's own stdio client. It runs on the database a `parley serve` is using (as a desktop
client's process would next to a server), acts with the key it is given, and refuses to start
without one when auth is on."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import PARLEY, parley_env
from mcp_world import World, error, mcp_world, structured
from test_mcp_tools import DATA_TOOLS, MEMORY_TOOLS


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with mcp_world(tmp_path_factory.mktemp("mcp-stdio")) as built:
        yield built


def _env(world: World, **extra: str) -> dict[str, str]:
    # the serving process's settings and database; this one needs no worker of its own
    return parley_env(world.data_dir, **(world.env | {"PARLEY_WORKER_EMBEDDED": "false"} | extra))


@asynccontextmanager
async def stdio(world: World, tmp_path: Path, **env: str) -> AsyncIterator[ClientSession]:
    command, *args = PARLEY
    params = StdioServerParameters(
        command=command, args=[*args, "mcp", "--stdio"], env=_env(world, **env)
    )
    with (tmp_path / "stdio.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            yield client


async def test_a_project_key_over_stdio(world: World, tmp_path: Path) -> None:
    async with stdio(world, tmp_path, PARLEY_MCP_KEY=world.keys["shop"]) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
        counted = structured(
            await client.call_tool(
                "run_query", {"project_id": "shop", "sql": "SELECT count(*) AS n FROM users"}
            )
        )
        refused = await client.call_tool(
            "run_query", {"project_id": "shop", "sql": "DELETE FROM users"}
        )
        elsewhere = await client.call_tool(
            "run_query", {"project_id": "other", "sql": "SELECT * FROM secrets"}
        )
        added = structured(
            await client.call_tool(
                "add_messages",
                {
                    "workspace_id": "shop",
                    "session_id": "desk",
                    "messages": [{"peer_id": "analyst", "content": "Revenue is up in apac."}],
                },
            )
        )
    assert listed == MEMORY_TOOLS + DATA_TOOLS
    assert counted["rows"] == [[60]]
    assert error(refused) == (
        "QUERY_NOT_ALLOWED: only SELECT queries may run; this statement starts with DELETE"
    )
    assert error(elsewhere) == "FORBIDDEN: a key for workspace shop cannot reach project other"
    # written to the database the server reads
    over_http = httpx.post(
        f"{world.base_url}/v2/workspaces/shop/sessions/desk/messages/list",
        headers={"Authorization": f"Bearer {world.keys['shop']}"},
    ).json()
    assert [(m["id"], m["content"]) for m in over_http["items"]] == [
        (added[0]["id"], "Revenue is up in apac.")
    ]


async def test_a_peer_key_over_stdio(world: World, tmp_path: Path) -> None:
    async with stdio(world, tmp_path, PARLEY_MCP_KEY=world.keys["alice"]) as client:
        card = structured(
            await client.call_tool("get_peer_card", {"workspace_id": "team", "peer_id": "alice"})
        )
        other = await client.call_tool("get_peer_card", {"workspace_id": "team", "peer_id": "bob"})
    assert set(card) == {"peer_card"}
    assert error(other) == (
        "FORBIDDEN: a key for peer alice of workspace team cannot reach this resource"
    )


async def test_with_auth_off_stdio_needs_no_key(world: World, tmp_path: Path) -> None:
    async with stdio(world, tmp_path, PARLEY_AUTH_ENABLED="false") as client:
        secret = structured(
            await client.call_tool(
                "run_query", {"project_id": "other", "sql": "SELECT secret FROM secrets"}
            )
        )
    assert secret["rows"] == [["the other tenant's secret"]]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            None,
            "parley mcp: authentication is on (PARLEY_AUTH_ENABLED): give the key this process "
            "acts with, --key KEY or PARLEY_MCP_KEY",
        ),
        ("not-a-key", "parley mcp: API key is invalid"),
    ],
    ids=["no-key", "bad-key"],
)
def test_with_auth_on_stdio_will_not_start_without_a_valid_key(
    world: World, key: str | None, message: str
) -> None:
    args = [*PARLEY, "mcp", "--stdio", *([] if key is None else ["--key", key])]
    done = subprocess.run(
        args, env=_env(world), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.strip().splitlines()[-1] == message


def test_mcp_without_stdio_points_at_serve(world: World) -> None:
    done = subprocess.run(
        [*PARLEY, "mcp"], env=_env(world), capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.strip() == (
        "parley mcp: give --stdio (over HTTP, `parley serve` answers MCP at /mcp)"
    )
