"""An embedder that remembers the vectors of recent single-text calls (search questions).

Agents ask the same questions again ("what does the user like?"), and a query embedding with
the bundled model costs about 10 ms of CPU. Calls with several texts (indexing messages and
observations) pass straight through, so the cache holds questions only. Vectors depend on the
text alone (see `llm.embeddings`), so a remembered one is exactly what the model would return.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from parley.llm.embeddings import Embedder, FloatArray

DEFAULT_SIZE = 1024


class QueryCachingEmbedder:
    def __init__(self, inner: Embedder, size: int = DEFAULT_SIZE) -> None:
        self._inner = inner
        self._size = size
        self._vectors: OrderedDict[str, FloatArray] = OrderedDict()

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    async def embed(self, texts: list[str]) -> FloatArray:
        if len(texts) != 1 or self._size <= 0:
            return await self._inner.embed(texts)
        (text,) = texts
        found = self._vectors.get(text)
        if found is not None:
            self._vectors.move_to_end(text)
            return found
        vectors = np.array(await self._inner.embed(texts), dtype=np.float32)
        vectors.flags.writeable = False  # shared by every later caller
        self._vectors[text] = vectors
        while len(self._vectors) > self._size:
            self._vectors.popitem(last=False)
        return vectors

    async def close(self) -> None:
        """The inner embedder belongs to the app, which closes it."""
