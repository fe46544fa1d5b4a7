"""The background embedding indexer's watermark: idle polls read nothing, full passes fill gaps."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

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
