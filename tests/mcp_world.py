"""What the MCP tests share: a real `parley serve` (auth on) holding two workspaces of memory
and two data projects, the keys that reach them, and the SDK's own client over streamable
HTTP. Not a test module: each test module builds its world once (module scope)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextResourceContents

from conftest import TEST_SECRET, serve
from data_sources import make_sqlite
from helpers import PARTNER, add_catalog, new_project, ok
from parley.auth.keys import ADMIN, Principal, create_key

SLOW_SQL = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


@dataclass(frozen=True)
class World:
    base_url: str
    data_dir: Path
    env: dict[str, str]  # the PARLEY_* settings the server runs with
    keys: dict[str, str]  # name -> bearer key
    catalogs: dict[str, str]  # project -> its catalog's id

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp"


def jwt(**claims: Any) -> str:
    return create_key(Principal(**claims), secret=TEST_SECRET)


def server_env(root: Path, **extra: str) -> dict[str, str]:
    return {
        "PARLEY_AUTH_ENABLED": "true",
        "PARLEY_JWT_SECRET": TEST_SECRET,
        "PARLEY_DATA_FILE_ROOTS": json.dumps(
            {"shop": [str(root / "shop")], "other": [str(root / "other")]}
        ),
        "PARLEY_QUERY_TIMEOUT_S": "10",
        "PARLEY_WORKER_POLL_S": "0.05",
    } | extra


@contextmanager
def mcp_world(root: Path, **env: str) -> Iterator[World]:
    """Projects `shop` (a SQLite shop: users, orders) and `other` (one secret table), each a
    workspace too; memory in workspaces `team` (alice and bob in session `s1`) and `rival`."""
    (root / "shop").mkdir()
    (root / "other").mkdir()
    make_sqlite(root / "shop" / "shop.db")
    import sqlite3

    raw = sqlite3.connect(root / "other" / "other.db")
    raw.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)")
    raw.execute("INSERT INTO secrets VALUES (1, 'the other tenant''s secret')")
    raw.commit()
    raw.close()
    settings = server_env(root, **env)
    with serve(root, **settings) as base_url, httpx.Client(base_url=base_url) as http:
        keys = {"admin": create_key(ADMIN, secret=TEST_SECRET)}
        catalogs = {}
        for pid, source in (("shop", "shop.db"), ("other", "other.db")):
            new_project(http, pid, project_id=pid)  # type: ignore[arg-type]  # any httpx client
            made = ok(
                http.post(f"/api/v1/projects/{pid}/apiKeys", json={"name": "k"}, headers=PARTNER)
            )
            keys[pid] = made["apiKey"]
            catalog = add_catalog(
                http,  # type: ignore[arg-type]
                pid,
                {"path": str(root / pid / source)},
                connection=pid,
            )
            catalogs[pid] = catalog.id
        for workspace, sender, text in (
            ("team", "alice", "I live in Lisbon and I drink green tea every morning."),
            ("team", "bob", "I am training for a marathon in Porto."),
            ("rival", "carol", "The rival workspace keeps its own plans."),
        ):
            ok(
                http.post(
                    f"/v2/workspaces/{workspace}/sessions/s1/messages/",
                    json={"messages": [{"peer_id": sender, "content": text}]},
                    headers={"Authorization": f"Bearer {keys['admin']}"},
                )
            )
        keys |= {
            "team": jwt(workspace="team"),
            "alice": jwt(workspace="team", peer="alice"),
            "session": jwt(workspace="team", session="s1"),
        }
        world = World(base_url, root / "data", settings, keys, catalogs)
        settle(world, "team")
        settle(world, "rival")
        yield world


def settle(world: World, workspace: str, timeout_s: float = 60.0) -> None:
    """Until the queue of `workspace` has nothing pending: observations made, vectors stored."""
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {world.keys['admin']}"}
    while True:
        status = httpx.get(
            f"{world.base_url}/v2/workspaces/{workspace}/deriver/status", headers=headers
        ).json()
        if status["pending_work_units"] == 0 and status["in_progress_work_units"] == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the queue of {workspace} did not settle: {status}")
        time.sleep(0.1)


@asynccontextmanager
async def session(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with the SDK's client, over streamable HTTP."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(url, http_client=http) as (read, write, *_),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


def text(result: CallToolResult) -> str:
    """The one text block of a result."""
    (block,) = result.content
    assert block.type == "text"
    return str(block.text)


def error(result: CallToolResult) -> str:
    """The message of a tool error (after the SDK's `Error executing tool X: `)."""
    assert result.is_error, result
    return text(result).split(": ", 1)[1]


def structured(result: CallToolResult) -> Any:
    """The structured result; a list comes wrapped as {"result": [...]}."""
    assert not result.is_error, text(result)
    content = result.structured_content
    assert content is not None
    return content["result"] if set(content) == {"result"} else content


def resource_text(content: object) -> str:
    assert isinstance(content, TextResourceContents), content
    return content.text
