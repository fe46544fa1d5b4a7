"""The embedding indexer keeps two batches in flight (the next one read and embedded while the
previous one is inserted), on both backends: every message gets its own vector back (on
PostgreSQL through the binary vector codec), and a batch that fails leaves the watermark
at the last one stored, so the next drain embeds the rest and nothing twice."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from parley.llm.embeddings import Embedder, FloatArray
from parley.memory.embedding_indexer import EmbeddingIndexer
from parley.store.models import Message, MessageEmbedding
from test_embedding_indexer import W, post

TEXTS = [f"note number {i} about the garden" for i in range(7)]


class CountingEmbedder:
    """The app's embedder, counting its calls and texts; call `fail_on` raises."""

    def __init__(self, inner: Embedder, fail_on: int | None = None) -> None:
        self.inner = inner
        self.fail_on = fail_on
        self.calls = 0
        self.texts: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    async def embed(self, texts: list[str]) -> FloatArray:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("the model server went away")
        self.texts += texts
        return await self.inner.embed(texts)

    async def close(self) -> None:
        return None


def stored_messages(client: TestClient) -> list[int]:
    """Store TEXTS, let the app's indexer pass them, then forget their vectors."""
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    post(client, *TEXTS)
    state = client.app.state.parley

    async def reset() -> list[int]:
        await state.indexer.catch_up()
        async with state.database.write() as db:
            await db.execute(delete(MessageEmbedding))
        async with state.database.read() as db:
            return list(await db.scalars(select(Message.seq).order_by(Message.seq)))

    return client.portal.call(reset)


def vectors(client: TestClient) -> dict[int, np.ndarray]:
    async def read() -> dict[int, np.ndarray]:
        async with client.app.state.parley.database.read() as db:
            rows = await db.execute(select(MessageEmbedding.seq, MessageEmbedding.embedding))
            return {seq: np.asarray(vector) for seq, vector in rows.all()}

    return client.portal.call(read)


def test_batches_in_flight_store_every_vector_once_and_exactly(client: TestClient) -> None:
    seqs = stored_messages(client)
    state = client.app.state.parley
    embedder = CountingEmbedder(state.embedder)
    indexer = EmbeddingIndexer(state.database, embedder, batch_size=2, full_pass_every_s=None)
    assert client.portal.call(indexer.catch_up) == 7
    assert (embedder.calls, embedder.texts) == (4, TEXTS)  # 2 + 2 + 2 + 1, each once
    assert indexer.watermark == seqs[-1]
    stored = vectors(client)
    assert sorted(stored) == seqs
    expected = client.portal.call(state.embedder.embed, TEXTS)
    for seq, want in zip(seqs, expected, strict=True):
        assert stored[seq].dtype == np.float32
        # the model's float rounding depends a little on the batch's padding
        assert np.allclose(stored[seq], want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fail_on", [2, 3])
def test_a_failed_batch_leaves_the_watermark_at_the_last_stored(
    client: TestClient, fail_on: int
) -> None:
    """Call 2 fails while batch 1 is being inserted; call 3 while batch 2 is."""
    seqs = stored_messages(client)
    state = client.app.state.parley
    embedder = CountingEmbedder(state.embedder, fail_on=fail_on)
    indexer = EmbeddingIndexer(state.database, embedder, batch_size=2, full_pass_every_s=None)
    with pytest.raises(RuntimeError, match="went away"):
        client.portal.call(indexer.catch_up)
    landed = 2 * (fail_on - 1)  # the batches embedded before the failure, all inserted
    assert sorted(vectors(client)) == seqs[:landed]
    assert indexer.watermark == seqs[landed - 1]
    assert client.portal.call(indexer.catch_up) == 7 - landed
    assert sorted(vectors(client)) == seqs
    assert embedder.texts == TEXTS  # nothing embedded twice
