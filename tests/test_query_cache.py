"""The question-vector cache: the bundled model's vectors, computed once per recent question."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from parley.llm.embeddings import Embedder, FloatArray, LocalEmbedder, default_embedder
from parley.llm.query_cache import QueryCachingEmbedder


class Counting:
    """The real bundled embedder, counting the calls that reach it."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []
        self.name = inner.name
        self.dimensions = inner.dimensions

    async def embed(self, texts: list[str]) -> FloatArray:
        self.calls.append(list(texts))
        return await self.inner.embed(texts)

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def model() -> LocalEmbedder:
    return default_embedder()


def test_questions_are_embedded_once_and_evicted_oldest_first(model: LocalEmbedder) -> None:
    counting = Counting(model)
    cached = QueryCachingEmbedder(counting, size=2)
    assert isinstance(cached, Embedder)

    async def run() -> None:
        first = await cached.embed(["where does alice live?"])
        again = await cached.embed(["where does alice live?"])
        assert again is first and not first.flags.writeable
        assert np.array_equal(first, model.embed_sync(["where does alice live?"]))
        await cached.embed(["what does bob play?"])
        await cached.embed(["where does alice live?"])  # now the most recent
        await cached.embed(["a third question"])  # evicts "what does bob play?"
        await cached.embed(["what does bob play?"])
        both = await cached.embed(["one", "two"])  # several texts: never cached
        await cached.embed(["one", "two"])
        assert both.shape == (2, model.dimensions)

    asyncio.run(run())
    assert counting.calls == [
        ["where does alice live?"],
        ["what does bob play?"],
        ["a third question"],
        ["what does bob play?"],
        ["one", "two"],
        ["one", "two"],
    ]
