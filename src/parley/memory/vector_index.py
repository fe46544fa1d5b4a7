"""Exact cosine search over message embeddings in process memory (the SQLite backend).

One collection per workspace: the seqs and a float32 matrix of unit vectors, in seq order, and
for each session and each peer the list of its rows. A scoped search scores only the scope's
rows (a gather of a few thousand rows instead of a product with the whole workspace's matrix
and a mask); a workspace search multiplies the whole matrix. Sessions and peers are small
integer codes per row, so narrowing a peer's rows to one session or to a set of sessions is an
integer comparison, not a comparison of strings.

A collection is checked against the database on every search by the workspace's (inserted,
deleted) embedding counts, which triggers keep in the same transaction as every change (one
primary-key read, not a count of 100k rows). Seqs only grow (AUTOINCREMENT): if nothing was
deleted, the new rows are those past the collection's last seq and are appended; after any
delete the collection is reloaded.

Appending only writes past the row counts that a search has already read, and growing a buffer
replaces it (the old one stays alive while a search uses it), so a search may run in a worker
thread on a `View` taken on the event loop while the next request appends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.store.models import MessageEmbedding, MessageEmbeddingCount


class _Positions:
    """A growable array of row positions (one scope's rows, ascending)."""

    __slots__ = ("_buffer", "count")

    def __init__(self) -> None:
        self._buffer = np.empty(64, dtype=np.int64)
        self.count = 0

    def extend(self, positions: np.ndarray) -> None:
        needed = self.count + len(positions)
        if needed > len(self._buffer):
            grown = np.empty(max(needed, 2 * len(self._buffer)), dtype=np.int64)
            grown[: self.count] = self._buffer[: self.count]
            self._buffer = grown
        self._buffer[self.count : needed] = positions
        self.count = needed

    def view(self) -> np.ndarray:
        return self._buffer[: self.count]


@dataclass(frozen=True)
class View:
    """What one search reads: row positions (None: every row) over fixed-length arrays."""

    vectors: np.ndarray
    seqs: np.ndarray
    rows: np.ndarray | None

    @property
    def size(self) -> int:
        return len(self.seqs) if self.rows is None else len(self.rows)

    def top(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest rows as (seq, cosine distance), nearest first; equal scores newest
        first."""
        return ranked(*self.best(query, k), k)

    def best(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, seqs) of the k best rows (cosine similarity), in no particular order."""
        if k <= 0 or not self.size:
            return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)
        query = np.ascontiguousarray(query, dtype=np.float32)
        if self.rows is None:
            scores, seqs = self.vectors @ query, self.seqs
        else:
            scores, seqs = self.vectors[self.rows] @ query, self.seqs[self.rows]
        return _keep_best(scores, seqs, k)

    def split(self, parts: int) -> list[View]:
        """The view cut into `parts` contiguous pieces of about equal size, to score in
        parallel threads: a product with 100k rows reads 150 MB, more than one core's share of
        the memory bandwidth. Whole-workspace pieces are slices of the matrix (no copy)."""
        bounds = np.linspace(0, self.size, max(1, parts) + 1).astype(int)
        pieces = zip(bounds[:-1], bounds[1:], strict=True)
        if self.rows is None:
            return [View(self.vectors[a:b], self.seqs[a:b], None) for a, b in pieces]
        return [View(self.vectors, self.seqs, self.rows[a:b]) for a, b in pieces]


def ranked(scores: np.ndarray, seqs: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best of (scores, seqs) as (seq, cosine distance), nearest first; equal scores
    newest first."""
    if k <= 0 or not len(scores):
        return []
    scores, seqs = _keep_best(scores, seqs, k)
    order = np.lexsort((-seqs, -scores))
    return [(int(seqs[i]), float(1.0 - scores[i])) for i in order]


def _keep_best(scores: np.ndarray, seqs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best; where equal scores straddle the cut, the newest of them (argpartition alone
    would keep an arbitrary few)."""
    if k >= len(scores):
        return scores, seqs
    picked = np.argpartition(-scores, k - 1)[:k]
    cut = scores[picked].min()
    tied = np.flatnonzero(scores == cut)
    if len(tied) > np.count_nonzero(scores[picked] == cut):
        above = np.flatnonzero(scores > cut)
        newest = tied[np.argsort(-seqs[tied], kind="stable")]
        picked = np.concatenate([above, newest[: k - len(above)]])
    return scores[picked], seqs[picked]


@dataclass
class Collection:
    """Rows in seq order. Buffers grow by doubling, so appending is amortized O(new rows)."""

    dims: int
    count: int = 0
    version: tuple[int, int] = (-1, -1)  # the (inserted, deleted) counts it reflects
    _vectors: np.ndarray = field(init=False)
    _seqs: np.ndarray = field(init=False)
    _session_codes: np.ndarray = field(init=False)
    _peer_codes: np.ndarray = field(init=False)
    _session_code: dict[str, int] = field(init=False, default_factory=dict)
    _peer_code: dict[str, int] = field(init=False, default_factory=dict)
    _by_session: list[_Positions] = field(init=False, default_factory=list)
    _by_peer: list[_Positions] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._vectors = np.empty((0, self.dims), dtype=np.float32)
        self._seqs = np.empty(0, dtype=np.int64)
        self._session_codes = np.empty(0, dtype=np.int32)
        self._peer_codes = np.empty(0, dtype=np.int32)

    def _grow(self, capacity: int) -> None:
        def grown(old: np.ndarray) -> np.ndarray:
            new = np.empty((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self.count] = old[: self.count]
            return new

        self._vectors = grown(self._vectors)
        self._seqs = grown(self._seqs)
        self._session_codes = grown(self._session_codes)
        self._peer_codes = grown(self._peer_codes)

    @property
    def seqs(self) -> np.ndarray:
        return self._seqs[: self.count]

    @property
    def max_seq(self) -> int:
        return int(self._seqs[self.count - 1]) if self.count else 0

    def append(self, rows: list[Any]) -> None:
        if not rows:
            return
        start, end = self.count, self.count + len(rows)
        if end > len(self._seqs):
            self._grow(max(end, 2 * len(self._seqs), 1024))
        self._vectors[start:end] = np.vstack([row.embedding for row in rows])
        self._seqs[start:end] = [row.seq for row in rows]
        sessions = _codes(self._session_code, self._by_session, (r.session_id for r in rows))
        peers = _codes(self._peer_code, self._by_peer, (r.peer_id for r in rows))
        self._session_codes[start:end] = sessions
        self._peer_codes[start:end] = peers
        positions = np.arange(start, end, dtype=np.int64)
        for codes, lists in ((sessions, self._by_session), (peers, self._by_peer)):
            for code in np.unique(codes):
                lists[code].extend(positions[codes == code])
        self.count = end  # last: a concurrent search reads only rows below its count

    def view(
        self,
        *,
        session_id: str | None = None,
        peer_id: str | None = None,
        sessions: Iterable[str] | None = None,
        allowed: np.ndarray | None = None,
    ) -> View:
        """The rows of a scope: one session and/or one sender, optionally only within
        `sessions`, optionally only the seqs in `allowed` (sorted)."""
        count = self.count
        vectors, seqs = self._vectors[:count], self._seqs[:count]
        rows: np.ndarray | None = None
        nothing = View(vectors, seqs, np.empty(0, dtype=np.int64))
        if session_id is not None:
            code = self._session_code.get(session_id)
            if code is None:
                return nothing
            rows = self._by_session[code].view()
        if peer_id is not None:
            code = self._peer_code.get(peer_id)
            if code is None:
                return nothing
            rows = (
                self._by_peer[code].view() if rows is None else rows[self._peer_codes[rows] == code]
            )
        if sessions is not None:
            codes = [self._session_code[s] for s in set(sessions) if s in self._session_code]
            if not codes:
                return nothing
            if rows is None:
                rows = np.sort(np.concatenate([self._by_session[c].view() for c in codes]))
            else:
                rows = rows[np.isin(self._session_codes[rows], codes)]
        if allowed is not None:
            if rows is None:
                rows = np.flatnonzero(np.isin(seqs, allowed, assume_unique=True))
            else:
                rows = rows[np.isin(seqs[rows], allowed, assume_unique=True)]
        return View(vectors, seqs, rows)

    def top(
        self,
        query: np.ndarray,
        k: int,
        *,
        session_id: str | None = None,
        peer_id: str | None = None,
        sessions: Iterable[str] | None = None,
        allowed: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """The k nearest rows of a scope (see `view`) as (seq, cosine distance)."""
        scope = self.view(
            session_id=session_id, peer_id=peer_id, sessions=sessions, allowed=allowed
        )
        return scope.top(query, k)


def _codes(known: dict[str, int], lists: list[_Positions], names: Iterable[str]) -> np.ndarray:
    """Each name's code, new names getting the next free code (and an empty row list)."""
    out = []
    for name in names:
        code = known.get(name)
        if code is None:
            code = known[name] = len(lists)
            lists.append(_Positions())
        out.append(code)
    return np.asarray(out, dtype=np.int32)


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
