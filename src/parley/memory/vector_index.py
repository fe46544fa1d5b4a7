"""Exact cosine search over message embeddings in process memory (the SQLite backend).

One collection per workspace: the seqs, a float32 matrix of unit vectors, and the session and
peer of each row, so scoped searches mask instead of querying. A collection is checked against
the database on every search by the workspace's (inserted, deleted) embedding counts, which
triggers keep in the same transaction as every change (one primary-key read, not a count of
100k rows). Seqs only grow (AUTOINCREMENT): if nothing was deleted, the new rows are those past
the collection's last seq and are appended; after any delete the collection is reloaded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.store.models import MessageEmbedding, MessageEmbeddingCount


@dataclass
class Collection:
    """Rows in seq order. Buffers grow by doubling, so appending is amortized O(new rows)."""

    dims: int
    count: int = 0
    version: tuple[int, int] = (-1, -1)  # the (inserted, deleted) counts it reflects
    _vectors: np.ndarray = field(init=False)
    _seqs: np.ndarray = field(init=False)
    _sessions: np.ndarray = field(init=False)
    _peers: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self._allocate(0)

    def _allocate(self, capacity: int) -> None:
        def grow(old: np.ndarray | None, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
            new = np.empty(shape, dtype=dtype)
            if old is not None and self.count:
                new[: self.count] = old[: self.count]
            return new

        first = not hasattr(self, "_seqs")
        self._vectors = grow(None if first else self._vectors, (capacity, self.dims), np.float32)
        self._seqs = grow(None if first else self._seqs, (capacity,), np.int64)
        self._sessions = grow(None if first else self._sessions, (capacity,), object)
        self._peers = grow(None if first else self._peers, (capacity,), object)

    @property
    def seqs(self) -> np.ndarray:
        return self._seqs[: self.count]

    @property
    def max_seq(self) -> int:
        return int(self._seqs[self.count - 1]) if self.count else 0

    def append(self, rows: list[Any]) -> None:
        if not rows:
            return
        needed = self.count + len(rows)
        if needed > self._seqs.shape[0]:
            self._allocate(max(needed, 2 * self._seqs.shape[0], 1024))
        end = needed
        self._vectors[self.count : end] = np.vstack([row.embedding for row in rows])
        self._seqs[self.count : end] = [row.seq for row in rows]
        self._sessions[self.count : end] = [row.session_id for row in rows]
        self._peers[self.count : end] = [row.peer_id for row in rows]
        self.count = end

    def top(
        self,
        query: np.ndarray,
        k: int,
        *,
        session_id: str | None = None,
        peer_id: str | None = None,
        allowed: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """The k nearest rows as (seq, cosine distance), nearest first."""
        if not self.count:
            return []
        scores = self._vectors[: self.count] @ query.astype(np.float32, copy=False)
        mask = np.ones(self.count, dtype=bool)
        if session_id is not None:
            mask &= self._sessions[: self.count] == session_id
        if peer_id is not None:
            mask &= self._peers[: self.count] == peer_id
        if allowed is not None:
            mask &= np.isin(self.seqs, allowed, assume_unique=True)
        candidates = np.flatnonzero(mask)
        if not candidates.size:
            return []
        k = min(k, candidates.size)
        picked = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        picked = picked[np.argsort(-scores[picked], kind="stable")]
        return [(int(self._seqs[i]), float(1.0 - scores[i])) for i in picked]


class MessageVectorIndex:
    """The per-workspace collections of one process."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self._collections: dict[str, Collection] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def collection(self, db: AsyncSession, workspace_id: str) -> Collection:
        """The workspace's collection, brought up to date with the database."""
        lock = self._locks.setdefault(workspace_id, asyncio.Lock())
        async with lock:
            counts = await db.get(MessageEmbeddingCount, workspace_id)
            version = (counts.inserted, counts.deleted) if counts else (0, 0)
            current = self._collections.get(workspace_id)
            if current is not None and current.version == version:
                return current
            if current is not None and current.version[1] == version[1]:
                current.append(await self._rows(db, workspace_id, after=current.max_seq))
                if current.count == version[0] - version[1]:
                    current.version = version
                    return current
            fresh = Collection(dims=self.dims)
            fresh.append(await self._rows(db, workspace_id, after=0))
            fresh.version = version
            self._collections[workspace_id] = fresh
            return fresh

    def forget(self, workspace_id: str) -> None:
        self._collections.pop(workspace_id, None)

    @staticmethod
    async def _rows(db: AsyncSession, workspace_id: str, *, after: int) -> list[Any]:
        result = await db.execute(
            select(
                MessageEmbedding.seq,
                MessageEmbedding.session_id,
                MessageEmbedding.peer_id,
                MessageEmbedding.embedding,
            )
            .where(MessageEmbedding.workspace_id == workspace_id, MessageEmbedding.seq > after)
            .order_by(MessageEmbedding.seq)
        )
        return list(result.all())
