"""Deleting a workspace while its background work runs: the embedded worker's batch and the
embedding indexer's batch are both mid-flight (held at the embeddings server) when the
workspace goes. Their results are dropped cleanly: no foreign-key errors, no retries, nothing
left behind, on both backends (SQLite enforces foreign keys, see store.engine)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from conftest import reasoning_settings
from fake_openai import FakeOpenAI, fake_openai
from helpers import EmbeddingsGate
from parley.store.models import (
    MessageEmbedding,
    ModelUsage,
    Observation,
    WorkItem,
    WorkUnitLease,
)

W = "w"
SENTENCES = ["I moved to Lisbon last spring.", "My sister plays the cello."]


@pytest.fixture
def embeddings() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=256) as server:
        yield server


@pytest.fixture
def settings_overrides(embeddings: FakeOpenAI) -> dict[str, Any]:
    return reasoning_settings(
        embedding_base_url=embeddings.base_url,
        embedding_model="bow",
        embedding_dimensions=256,
    )


def count(client: TestClient, model: Any) -> int:
    async def read() -> int:
        async with client.app.state.parley.database.read() as db:
            return int(await db.scalar(select(func.count()).select_from(model)) or 0)

    return client.portal.call(read)


def sqlite_enforces_foreign_keys(client: TestClient) -> bool:
    async def read() -> bool:
        async with client.app.state.parley.database.read() as db:
            return (await db.scalar(text("PRAGMA foreign_keys"))) == 1

    return client.portal.call(read)


def wait_until(condition: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_deleting_a_workspace_drops_its_running_work(
    client: TestClient,
    embeddings: FakeOpenAI,
    backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if backend == "sqlite":
        assert sqlite_enforces_foreign_keys(client)
    gate = EmbeddingsGate(dims=256)
    embeddings.embeddings_reply = gate.reply
    caplog.set_level(logging.INFO)
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    body = {"id": "s", "peers": {"alice": {}, "bob": {}}}
    assert client.post(f"/v2/workspaces/{W}/sessions", json=body).status_code == 200
    messages = [{"peer_id": "alice", "content": s} for s in SENTENCES]
    response = client.post(f"/v2/workspaces/{W}/sessions/s/messages/", json={"messages": messages})
    assert response.status_code == 200, response.text

    def both_held() -> bool:
        held = gate.inputs()
        indexing = SENTENCES[0] in held  # the indexer embeds the messages as they are
        deriving = any(SENTENCES[0] in t and t not in SENTENCES for t in held)
        return indexing and deriving

    wait_until(both_held)  # the worker's batch and the indexer's both wait on the model
    assert count(client, WorkItem) > 0
    assert client.delete(f"/v2/workspaces/{W}").status_code == 200
    held = len(gate.batches())
    gate.open.set()  # both finish after the delete

    def settled() -> bool:
        return count(client, WorkItem) == 0 and count(client, WorkUnitLease) == 0

    wait_until(settled)
    time.sleep(1.0)  # room for any retry, or any late write, to show up
    assert len(gate.batches()) == held  # nothing was retried
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in caplog.records if "foreign key" in r.getMessage().lower()] == []
    for model in (WorkItem, WorkUnitLease, Observation, MessageEmbedding, ModelUsage):
        assert count(client, model) == 0, model.__name__
    # the workspace can be made again from scratch, and works
    gate.forget()
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    assert client.post(f"/v2/workspaces/{W}/sessions", json=body).status_code == 200
    response = client.post(f"/v2/workspaces/{W}/sessions/s/messages/", json={"messages": messages})
    assert response.status_code == 200
    wait_until(lambda: count(client, MessageEmbedding) == 2 and count(client, Observation) > 0)
