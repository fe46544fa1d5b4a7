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

Loading and appending run in a worker thread too (decoding 100k rows and stacking them held the
event loop for over a second: `bench/cold_index.py`), so a `View` may also be taken on the loop
while an append is under way. That holds because an append publishes in order: buffers are
replaced only by copies holding every row below `count`; a new session or peer gets its row
list before its code; row lists grow before `count`; `count` moves last. A view reads `count`
first and keeps only the rows below it. One append at a time: the workspace's lock is held
until the thread is done, even when the caller is cancelled meanwhile (`_to_the_end`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from parley.store.models import MessageEmbedding, MessageEmbeddingCount

T = TypeVar("T")

# Rows per round trip of a load (in aiosqlite's thread), each batch then appended in a worker
# thread; the event loop only passes them on.
FETCH_ROWS = 5_000
# The SQLite backend's rows of one workspace past a seq (see `_take_in`).
_ROWS_SQL = (
    f"SELECT seq, session_id, peer_id, embedding FROM {MessageEmbedding.__tablename__} "
    "WHERE workspace_id = ? AND seq > ? ORDER BY seq"
)
# Rows per step of an append: each step's transposes, joins and conversions are single C calls
# that hold the GIL throughout (appending 100k rows at once held the event loop for ~200 ms,
# though the append ran in a worker thread); between steps the loop gets its turn.
APPEND_ROWS = 2_000


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
        count = self.count  # first: an extend in another thread may replace the buffer
        return self._buffer[:count]


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

    def reserve(self, rows: int) -> None:
        """Room for `rows` more rows (a copy of O(count): in a worker thread)."""
        end = self.count + rows
        if end > len(self._seqs):
            self._grow(max(end, 2 * len(self._seqs), 1024))

    def append(self, rows: Sequence[Any]) -> None:
        """Rows (seq, session_id, peer_id, embedding: the stored float32 bytes, or an array)
        in seq order, past `max_seq`. CPU work of O(rows): run it in a worker thread (see the
        module's docstring for why a view may be taken meanwhile)."""
        if not rows:
            return
        self.reserve(len(rows))
        for first in range(0, len(rows), APPEND_ROWS):
            self._append_within(rows[first : first + APPEND_ROWS])

    def _append_within(self, rows: Sequence[Any]) -> None:
        """`append` into the buffers' free room, which holds them."""
        seqs, session_ids, peer_ids, embeddings = zip(*rows, strict=True)
        vectors = _matrix(embeddings, self.dims)
        start, end = self.count, self.count + len(rows)
        self._vectors[start:end] = vectors
        self._seqs[start:end] = seqs
        sessions = _codes(self._session_code, self._by_session, session_ids)
        peers = _codes(self._peer_code, self._by_peer, peer_ids)
        self._session_codes[start:end] = sessions
        self._peer_codes[start:end] = peers
        for codes, lists in ((sessions, self._by_session), (peers, self._by_peer)):
            order = np.argsort(codes, kind="stable")  # each code's rows together, ascending
            cuts = np.flatnonzero(np.diff(codes[order])) + 1
            for group in np.split(order, cuts):
                lists[int(codes[group[0]])].extend(group + start)
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
        count = self.count  # first: rows past it may be half-appended (another thread)
        vectors, seqs = self._vectors[:count], self._seqs[:count]
        rows: np.ndarray | None = None
        nothing = View(vectors, seqs, np.empty(0, dtype=np.int64))

        def below_count(positions: np.ndarray) -> np.ndarray:
            return positions[: np.searchsorted(positions, count)]

        if session_id is not None:
            code = self._session_code.get(session_id)
            if code is None:
                return nothing
            rows = below_count(self._by_session[code].view())
        if peer_id is not None:
            code = self._peer_code.get(peer_id)
            if code is None:
                return nothing
            if rows is None:
                rows = below_count(self._by_peer[code].view())
            else:
                rows = rows[self._peer_codes[rows] == code]
        if sessions is not None:
            codes = [code for s in set(sessions) if (code := self._session_code.get(s)) is not None]
            if not codes:
                return nothing
            if rows is None:
                every = [below_count(self._by_session[c].view()) for c in codes]
                rows = np.sort(np.concatenate(every))
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


def _matrix(embeddings: Sequence[Any], dims: int) -> np.ndarray:
    """The embeddings (bytes-like: the stored float32 blobs, or arrays) as one (n, dims)
    float32 matrix: one join and one `frombuffer`, not an array per row. Every row of a
    database has the dimensions of its one embedding model (`parley_meta`), so the total length
    is what is checked."""
    joined = b"".join(embeddings)
    if len(joined) != 4 * dims * len(embeddings):
        raise ValueError(f"embeddings of {dims} float32 values expected")
    return np.frombuffer(joined, dtype=np.float32).reshape(len(embeddings), dims)


def _codes(known: dict[str, int], lists: list[_Positions], names: Sequence[str]) -> np.ndarray:
    """Each name's code, new names getting the next free code (and an empty row list, added
    before the code is published: a view in another thread may look the name up)."""
    for name in dict.fromkeys(names):
        if name not in known:
            lists.append(_Positions())
            known[name] = len(lists) - 1
    return np.fromiter(map(known.__getitem__, names), np.int32, len(names))


async def _to_the_end(work: Callable[[], T]) -> T:
    """`work()` in a worker thread, awaited until it ends even if the caller is cancelled
    meanwhile (the cancellation is raised after): the lock held around it must not pass to the
    next caller while the thread still writes the collection."""
    done = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        while not done.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([done])
        raise


class MessageVectorIndex:
    """The per-workspace collections of one process."""

    def __init__(self, dims: int, *, fetch_rows: int = FETCH_ROWS) -> None:
        self.dims = dims
        self.fetch_rows = fetch_rows
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
            expected = version[0] - version[1]
            if current is not None and current.version[1] == version[1]:
                await self._take_in(db, workspace_id, current, expected)
                if current.count == expected:
                    current.version = version
                    return current
            fresh = Collection(dims=self.dims)
            await self._take_in(db, workspace_id, fresh, expected)
            fresh.version = version
            self._collections[workspace_id] = fresh
            return fresh

    def forget(self, workspace_id: str) -> None:
        self._collections.pop(workspace_id, None)

    async def _take_in(
        self, db: AsyncSession, workspace_id: str, collection: Collection, expected: int
    ) -> None:
        """Append the workspace's rows past the collection's last seq (`expected` rows in all,
        by the counts read in this same read transaction), `fetch_rows` at a time: each batch
        of rows goes into the collection in a worker thread and is dropped before the next.
        The rows are the driver's plain tuples, the embeddings the stored bytes: decoding 100k
        rows one by one through the column type, and stacking them, held the event loop for a
        second; and SQLAlchemy's row objects, which the garbage collector tracks (a tuple of
        strings, numbers and bytes it stops tracking), set off full collections of the whole
        heap: 200-300 ms each, holding the GIL, two or three per load."""
        await _to_the_end(partial(collection.reserve, expected - collection.count))
        connection = await db.connection()  # the session's, in its read transaction
        driver = (await connection.get_raw_connection()).driver_connection  # aiosqlite's
        assert driver is not None
        cursor = await driver.execute(_ROWS_SQL, (workspace_id, collection.max_seq))
        try:
            while batch := await cursor.fetchmany(self.fetch_rows):
                await _to_the_end(partial(collection.append, batch))
        finally:
            await cursor.close()
