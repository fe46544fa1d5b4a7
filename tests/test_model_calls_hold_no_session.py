"""ARCHITECTURE.md's first rule: no database session (a connection checked out of the app's
pool, so no transaction either) is held while a model is called.

A chat provider and an embedding provider register through the provider registry, as any
package's would; at each call they look at the app's engine pool (its checkout and checkin
events) and note every connection held by the calling task or by a task awaiting it. A
connection another, unrelated task holds at that moment (another worker slot, a request) is
not held across this call, so the pool's total `checkedout()` is not the measure. The real
paths that call models run on both backends: reasoning over messages, summaries, dreams and peer cards, peer chat
(whole and streamed), search, and the data agent."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

import parley
from conftest import reasoning_settings, wait_for_reasoning
from helpers import ok, project_with_catalog
from parley.config import Settings
from parley.llm.chat import ChatMessage, Completion, StreamUsage
from parley.llm.embeddings import Embedder, default_embedder
from parley.llm.providers import (
    ChatTarget,
    register_chat_provider,
    register_embedding_provider,
)
from parley.store.engine import Database

W = "w"
PROBE = "session-probe"
SOURCE = Path(parley.__file__).parent


def _caller() -> str:
    """The innermost frame of Parley's own code outside the llm package: the path calling
    (none for a call in a task of its own, such as search's early query embedding)."""
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename)
        if path.is_relative_to(SOURCE) and not path.is_relative_to(SOURCE / "llm"):
            return f"{path.relative_to(SOURCE).as_posix()}:{frame.lineno}"
    return "(own task)"


def _holds_across(owner: asyncio.Task[Any] | None, task: asyncio.Task[Any] | None) -> bool:
    """Whether a connection `owner` holds stays held across a call made in `task`: it is the
    same task, or `owner` is blocked awaiting `task` (directly, or through gathers of tasks
    awaiting it), as a caller that hands the call to a task of its own would be."""
    if owner is None or task is None:
        return False
    seen: set[int] = set()
    pending: list[Any] = [owner]
    while pending:
        current = pending.pop()
        if current is task:
            return True
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        pending.append(getattr(current, "_fut_waiter", None))  # what a task awaits
        pending.extend(getattr(current, "_children", ()))  # what a gather awaits
    return False


@dataclass
class SessionProbe:
    """Which task holds which pooled connection, and what each model call found."""

    held: dict[int, asyncio.Task[Any] | None] = field(default_factory=dict)
    checkouts: int = 0  # seen at all: a probe that sees none proves nothing
    calls: list[str] = field(default_factory=list)  # where each call came from
    violations: list[str] = field(default_factory=list)

    def watch(self, database: Database) -> None:
        engine = database.engine.sync_engine  # the write engine shares its pool
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)

    def _checkout(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        self.checkouts += 1
        self.held[id(record)] = asyncio.current_task()

    def _checkin(self, _dbapi: Any, record: Any) -> None:
        self.held.pop(id(record), None)

    def check(self, kind: str) -> None:
        caller = _caller()
        self.calls.append(f"{kind} {caller}")
        task = asyncio.current_task()
        mine = [r for r, owner in self.held.items() if _holds_across(owner, task)]
        if mine:
            stack = "".join(traceback.format_stack(limit=25))
            self.violations.append(f"{kind} at {caller} with {len(mine)} connection(s)\n{stack}")


def _reply(schema: dict[str, Any] | None, prompt: str) -> str:
    """A valid answer to each of the prompts the paths send."""
    if schema is None:
        return "Alice keeps bees."
    fields = set(schema.get("properties", {}))
    if fields == {"explicit", "deductive"}:
        return json.dumps(
            {
                "explicit": [{"content": "Alice keeps bees.", "messages": [1]}],
                "deductive": [{"content": "Alice likes insects.", "premises": []}],
            }
        )
    if fields == {"card"}:
        return json.dumps({"card": ["Beekeeper"]})
    if fields == {"deductive"}:
        return json.dumps({"deductive": [{"content": "Alice is patient.", "premises": []}]})
    if "sql" in fields:
        sql = "SELECT count(*) AS n FROM orders"
        return json.dumps({"intent": "TEXT_TO_SQL", "reasoning": "a count", "sql": sql})
    raise AssertionError(f"no scripted answer for the schema {schema} of: {prompt[:200]}")


class ProbeChat:
    def __init__(self, probe: SessionProbe, model: str) -> None:
        self.model = model
        self._probe = probe

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion:
        self._probe.check("complete")
        prompt = "\n".join(m.content for m in messages)
        return Completion(_reply(json_schema, prompt), input_tokens=10, output_tokens=5)

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: StreamUsage,
    ) -> AsyncIterator[str]:
        self._probe.check("stream")
        for piece in ("Alice ", "keeps ", "bees."):
            yield piece

    async def close(self) -> None:
        pass


@dataclass
class ProbeEmbedder:
    probe: SessionProbe
    inner: Embedder

    @property
    def name(self) -> str:
        return self.inner.name  # the bundled model's vectors, so its name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    async def embed(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        self.probe.check("embed")
        return await self.inner.embed(texts)

    async def close(self) -> None:
        pass  # the bundled embedder is the process's; the app does not own it


@pytest.fixture
def probe() -> SessionProbe:
    found = SessionProbe()

    def chat(target: ChatTarget) -> ProbeChat:
        return ProbeChat(found, target.model)

    def embedder(_settings: Settings) -> ProbeEmbedder:
        return ProbeEmbedder(found, default_embedder())

    register_chat_provider(PROBE, chat)  # the latest registration of a name wins
    register_embedding_provider(PROBE, embedder)
    return found


@pytest.fixture
def settings_overrides(probe: SessionProbe, tmp_path: Path) -> dict[str, Any]:
    return reasoning_settings(
        llm_provider=PROBE,
        llm_model="probe-1",
        embedding_provider=PROBE,
        worker_concurrency=4,
        data_file_roots={"*": [tmp_path]},
    )


@pytest.fixture
def ws(client: TestClient, probe: SessionProbe) -> TestClient:
    probe.watch(client.app.state.parley.database)
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    return client


def test_reasoning_summaries_dreams_and_chat_call_models_with_no_session_held(
    ws: TestClient, probe: SessionProbe
) -> None:
    configuration = {"summary": {"messages_per_short_summary": 10, "messages_per_long_summary": 20}}
    ok(ws.post(f"/v2/workspaces/{W}/sessions", json={"id": "s1", "configuration": configuration}))
    lines = [{"peer_id": "alice", "content": f"I keep bees, hive {n}."} for n in range(1, 22)]
    ok(ws.post(f"/v2/workspaces/{W}/sessions/s1/messages/", json={"messages": lines}))
    wait_for_reasoning(ws, W)
    response = ws.post(
        f"/v2/workspaces/{W}/trigger_dream",
        json={"observer": "alice", "observed": "alice", "dream_type": "agent"},
    )
    assert response.status_code == 204
    wait_for_reasoning(ws, W)
    summaries = ok(ws.get(f"/v2/workspaces/{W}/sessions/s1/summaries"))
    assert summaries["short_summary"]["content"] == "Alice keeps bees."
    assert summaries["long_summary"]["content"] == "Alice keeps bees."
    assert ok(ws.get(f"/v2/workspaces/{W}/peers/alice/card")) == {"peer_card": ["Beekeeper"]}
    answer = ok(ws.post(f"/v2/workspaces/{W}/peers/alice/chat", json={"query": "Hobbies?"}))
    assert answer == {"content": "Alice keeps bees."}
    streamed = ws.post(
        f"/v2/workspaces/{W}/peers/alice/chat", json={"query": "Hobbies?", "stream": True}
    )
    assert streamed.status_code == 200
    assert "bees." in streamed.text
    before = len(probe.calls)
    found = ok(ws.post(f"/v2/workspaces/{W}/search", json={"query": "bees"}))
    assert len(found) == 10
    assert probe.violations == []
    assert probe.checkouts > 0
    assert probe.calls[before:] == ["embed (own task)"]  # search embeds its query aside
    callers = {call.split(" ", 1)[1].split(":")[0] for call in probe.calls}
    assert {
        "memory/embedding_indexer.py",
        "memory/deriver.py",
        "memory/summaries.py",
        "memory/dreams.py",
        "memory/dialectic.py",
    } <= callers, probe.calls


def test_the_data_agent_calls_its_model_with_no_session_held(
    ws: TestClient, probe: SessionProbe, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.sqlite"
    with sqlite3.connect(shop) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        db.executemany("INSERT INTO orders (total) VALUES (?)", [(9.5,), (20.0,)])
    project_with_catalog(ws, shop, name="shop", project_id="shop", kind="sqlite", headers={})
    reply = ok(ws.post("/api/v1/ai-agent/shop/chat", json={"message": "How many orders?"}))
    assert reply["result"]["messages"][1]["kwargs"]["content"] == "Alice keeps bees."
    assert probe.violations == []
    assert probe.checkouts > 0
    assert any(call.startswith("complete agent/graph.py:") for call in probe.calls), probe.calls
