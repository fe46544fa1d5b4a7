"""The background embedding indexer's watermark: idle polls read nothing, full passes fill gaps."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from conftest import AppClient, make_settings
from fake_openai import fake_openai
from helpers import EmbeddingsGate
from parley.app import create_app
from parley.llm.embeddings import Embedder, FloatArray
from parley.memory.embedding_indexer import EmbeddingIndexer
from parley.store.models import Message, MessageEmbedding

W = "w"


def post(client: TestClient, *texts: str) -> None:
    response = client.post(
        f"/v2/workspaces/{W}/sessions/s/messages/",
        json={"messages": [{"peer_id": "alice", "content": text} for text in texts]},
    )
    assert response.status_code == 200, response.text


def scalar(client: TestClient, statement: object) -> object:
    async def read() -> object:
        async with client.app.state.parley.database.read() as db:
            return await db.scalar(statement)

    return client.portal.call(read)


def new_indexer(client: TestClient, full_pass_every_s: float | None) -> EmbeddingIndexer:
    state = client.app.state.parley
    return EmbeddingIndexer(state.database, state.embedder, full_pass_every_s=full_pass_every_s)


def test_an_idle_poll_moves_the_watermark_to_the_newest_message(client: TestClient) -> None:
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    post(client, "first", "second", "third")
    client.portal.call(client.app.state.parley.indexer.catch_up)
    indexer = new_indexer(client, None)
    assert indexer.watermark == 0
    assert client.portal.call(indexer.index_batch) == 0  # the app's indexer embedded them all
    newest = scalar(client, select(func.max(Message.seq)))
    assert indexer.watermark == newest
    post(client, "fourth")
    client.portal.call(client.app.state.parley.indexer.catch_up)
    assert client.portal.call(indexer.index_batch) == 0
    assert indexer.watermark == scalar(client, select(func.max(Message.seq))) == newest + 1


def test_only_a_full_pass_looks_below_the_watermark(client: TestClient) -> None:
    """PostgreSQL can commit a lower seq after a higher one; a full pass finds such a row."""
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    post(client, "one", "two", "three")
    client.portal.call(client.app.state.parley.indexer.catch_up)
    first = scalar(client, select(func.min(Message.seq)))

    async def forget_first() -> None:  # as if its message committed after the others
        async with client.app.state.parley.database.write() as db:
            await db.execute(delete(MessageEmbedding).where(MessageEmbedding.seq == first))

    watermarked = new_indexer(client, None)
    assert client.portal.call(watermarked.index_batch) == 0
    client.portal.call(forget_first)
    assert client.portal.call(watermarked.index_batch) == 0
    assert scalar(client, select(func.count()).select_from(MessageEmbedding)) == 2

    full = new_indexer(client, 0.0)
    assert client.portal.call(full.index_batch) == 1
    assert scalar(client, select(MessageEmbedding.seq).where(MessageEmbedding.seq == first)) == (
        first
    )
    assert scalar(client, select(func.count()).select_from(MessageEmbedding)) == 3


class GatedEmbedder:
    """Holds its first call until `release` is set, and counts the texts it embedded."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.texts = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    async def embed(self, texts: list[str]) -> FloatArray:
        if not self.entered.is_set():
            self.entered.set()
            await self.release.wait()
        self.texts += len(texts)
        return await self.inner.embed(texts)

    async def close(self) -> None:
        return None


def test_catch_up_waits_for_the_batch_in_flight(client: TestClient) -> None:
    """Else it embeds the same rows again, and the batch in flight lands after it returned."""
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    post(client, "one", "two", "three")
    state = client.app.state.parley
    client.portal.call(state.indexer.catch_up)

    async def race() -> tuple[bool, int, int]:
        async with state.database.write() as db:  # the app's indexer is past them by now
            await db.execute(delete(MessageEmbedding))
        embedder = GatedEmbedder(state.embedder)
        indexer = EmbeddingIndexer(state.database, embedder, full_pass_every_s=None)
        in_flight = asyncio.create_task(indexer.index_batch())
        await embedder.entered.wait()
        catching_up = asyncio.create_task(indexer.catch_up())
        await asyncio.sleep(0.2)
        returned_early = catching_up.done()
        embedder.release.set()
        await in_flight
        await catching_up
        async with state.database.read() as db:
            stored = await db.scalar(select(func.count()).select_from(MessageEmbedding))
        return returned_early, embedder.texts, int(stored or 0)

    assert client.portal.call(race) == (False, 3, 3)


def test_the_queue_status_counts_messages_not_yet_findable_by_meaning(
    database_url: str, tmp_path: Path
) -> None:
    held = EmbeddingsGate(dims=64)
    with fake_openai(dims=64) as model:
        model.embeddings_reply = held.reply
        settings = make_settings(
            database_url,
            tmp_path / "data",
            embedding_base_url=model.base_url,
            embedding_model="bow",
            embedding_dimensions=64,
        )
        with AppClient(create_app(settings)) as client:
            off = {"id": W, "configuration": {"deriver": {"enabled": False}}}
            assert client.post("/v2/workspaces", json=off).status_code == 200
            turns = [("alice", "one"), ("bob", "two"), ("alice", "three")]
            response = client.post(
                f"/v2/workspaces/{W}/sessions/s1/messages/",
                json={"messages": [{"peer_id": p, "content": c} for p, c in turns]},
            )
            assert response.status_code == 200, response.text
            deadline = time.monotonic() + 20
            while len(held.inputs()) < 3:  # the indexer's batch waits on the model
                assert time.monotonic() < deadline, held.inputs()
                time.sleep(0.02)

            def status(query: str = "") -> dict[str, Any]:
                answer = client.get(f"/v2/workspaces/{W}/deriver/status{query}")
                assert answer.status_code == 200, answer.text
                body: dict[str, Any] = answer.json()
                return body

            def counts(pending: int) -> dict[str, int]:
                return {
                    "total_work_units": pending,
                    "completed_work_units": 0,
                    "in_progress_work_units": 0,
                    "pending_work_units": pending,
                    "failed_work_units": 0,
                    "embedding_backlog": pending,
                }

            waiting = status()
            assert {k: waiting[k] for k in counts(3)} == counts(3)
            assert waiting["sessions"] == {"s1": {"session_id": "s1", **counts(3)}}
            for query, expected in [
                ("?sender_id=alice", 2),
                ("?session_id=s1&sender_id=bob", 1),
                ("?observer_id=alice", 0),  # an observer's work is reasoning
                ("?session_id=s2", 0),
            ]:
                assert {k: status(query)[k] for k in counts(0)} == counts(expected), query

            held.open.set()
            client.portal.call(client.app.state.parley.indexer.catch_up)
            done = status()
            assert ({k: done[k] for k in counts(0)}, done["sessions"]) == (counts(0), None)


@pytest.mark.parametrize("turns", [0, 1, 2])
def test_a_cancel_that_comes_as_it_is_notified_stops_it(client: TestClient, turns: int) -> None:
    """Shutdown cancels the indexer; a write's `notify()` just before must not eat the
    cancel (it did with Python 3.11's wait_for: the app's lifespan then waited forever)."""
    indexer = new_indexer(client, None)

    async def notified_then_cancelled() -> bool:
        task = asyncio.create_task(indexer.run())
        await asyncio.sleep(0.2)  # idle: waiting to be notified
        indexer.notify()
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        return done == {task} and task.cancelled()

    assert client.portal.call(notified_then_cancelled) is True
