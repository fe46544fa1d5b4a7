"""Nearest current observations within one (observer, observed) pair: the near-duplicate check
of every derived write and the semantic part of a representation. A superseded observation
(history: a changed fact replaced it) is never found.

- PostgreSQL: pgvector's HNSW index (cosine), filtered to the pair's current rows.
- SQLite: the unit vectors of the pair's current rows cached in process memory. Each use checks
  the cache against the pair's (count, superseded count, newest created_at), one
  covering-index read: rows newer than the cache are appended, anything else (a delete, a
  supersede, a dream's merge) reloads the pair. Rows written by the caller's own open
  transaction are never cached (it may roll back).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.store.models import Observation
from parley.store.pg_pool import widen_search
from parley.store.pgvector_codec import PgVector

Pair = tuple[str, str, str]  # workspace, observer, observed
# where a write looks for its repeat: a level, and a session (None: any session of the pair)
MergeScope = tuple[str, str | None]
MAX_CACHED_VECTORS = 500_000  # about 0.75 GB at 384 dimensions


@dataclass
class PairVectors:
    """The pair's current rows; `count`, `superseded` and `newest` are of all its rows."""

    ids: list[str]
    sessions: np.ndarray  # session id per row
    levels: np.ndarray  # level per row
    matrix: np.ndarray  # unit vectors, one row per id
    count: int
    superseded: int
    newest: datetime | None


@dataclass(frozen=True)
class Hit:
    id: str
    distance: float


class ObservationIndex:
    def __init__(self, dimensions: int, *, in_memory: bool) -> None:
        self._dims = dimensions
        self._in_memory = in_memory
        self._pairs: OrderedDict[Pair, PairVectors] = OrderedDict()
        self._cached = 0

    async def nearest(
        self,
        db: AsyncSession,
        pair: Pair,
        query: np.ndarray,
        k: int,
        *,
        session_id: str | None = None,
        max_distance: float | None = None,
        sessions: Sequence[str] | None = None,
        level: str | None = None,
    ) -> list[Hit]:
        """The `k` nearest current observations of the pair (optionally of one session, of
        some `sessions`, of one `level`), nearest first, by cosine distance."""
        if k <= 0 or (sessions is not None and not sessions):
            return []
        if not self._in_memory:
            return await self._pgvector(
                db, pair, query, k, session_id, max_distance, level=level, sessions=sessions
            )
        vectors = await self.pair_vectors(db, pair)
        if not vectors.ids:
            return []
        distances = 1.0 - vectors.matrix @ np.asarray(query, dtype=np.float32)
        if session_id is not None:
            distances = np.where(vectors.sessions == session_id, distances, np.inf)
        if sessions is not None:
            allowed = set(sessions)
            inside = np.array([s in allowed for s in vectors.sessions], dtype=bool)
            distances = np.where(inside, distances, np.inf)
        if level is not None:
            distances = np.where(vectors.levels == level, distances, np.inf)
        k = min(k, len(vectors.ids))
        top = np.argpartition(distances, k - 1)[:k] if k < len(distances) else np.arange(k)
        top = top[np.argsort(distances[top], kind="stable")]
        return [
            Hit(vectors.ids[i], float(distances[i]))
            for i in top
            if np.isfinite(distances[i]) and (max_distance is None or distances[i] <= max_distance)
        ]

    async def candidates(
        self,
        db: AsyncSession,
        pair: Pair,
        queries: np.ndarray,
        scopes: Sequence[MergeScope],
        k: int,
        max_distance: float,
    ) -> list[list[Hit]]:
        """Per query row, up to `k` current observations of the pair in its scope (the same
        level; the same session when the scope names one) within `max_distance`, nearest
        first (one pair read on SQLite)."""
        if not self._in_memory:
            found = []
            for position, (query, (level, session_id)) in enumerate(
                zip(queries, scopes, strict=True)
            ):
                # the search settings are the same for every query: set them once
                found.append(
                    await self._pgvector(
                        db,
                        pair,
                        query,
                        k,
                        session_id,
                        max_distance,
                        level=level,
                        settle=position == 0,
                    )
                )
            return found
        vectors = await self.pair_vectors(db, pair)
        if not vectors.ids:
            return [[] for _ in scopes]
        distances = 1.0 - np.asarray(queries, dtype=np.float32) @ vectors.matrix.T
        found = []
        for row, (level, session_id) in zip(distances, scopes, strict=True):
            inside = vectors.levels == level
            if session_id is not None:
                inside &= vectors.sessions == session_id
            near = np.flatnonzero(inside & (row <= max_distance))
            near = near[np.argsort(row[near], kind="stable")][:k]
            found.append([Hit(vectors.ids[i], float(row[i])) for i in near])
        return found

    async def warm(self, db: AsyncSession, pairs: Iterable[Pair]) -> None:
        """Bring the pairs' cached vectors up to date from a read transaction (SQLite), so
        that the near-duplicate check inside a write transaction, which holds SQLite's one
        write lock, only reads the rows committed since."""
        if self._in_memory:
            for pair in sorted(set(pairs)):
                await self.pair_vectors(db, pair)

    async def pair_vectors(self, db: AsyncSession, pair: Pair) -> PairVectors:
        """The pair's committed current vectors (SQLite), brought up to date."""
        workspace_id, observer_id, observed_id = pair
        in_pair = (
            Observation.workspace_id == workspace_id,
            Observation.observer_id == observer_id,
            Observation.observed_id == observed_id,
        )
        count, superseded, newest = (
            await db.execute(
                select(
                    func.count(),
                    func.count(Observation.superseded_by),
                    func.max(Observation.created_at),
                ).where(*in_pair)
            )
        ).one()
        cached = self._pairs.get(pair)
        if cached is not None and (cached.count, cached.superseded, cached.newest) == (
            count,
            superseded,
            newest,
        ):
            self._pairs.move_to_end(pair)
            return cached
        # only new current rows since: append them; anything else: read the pair again
        current = (*in_pair, Observation.superseded_by.is_(None))
        stmt = select(
            Observation.id,
            Observation.session_id,
            Observation.level,
            Observation.embedding,
            Observation.created_at,
        ).order_by(Observation.created_at, Observation.id)
        vectors = None
        if (
            cached is not None
            and cached.newest is not None
            and count > cached.count
            and superseded == cached.superseded
        ):
            since = cached.newest
            rows = (await db.execute(stmt.where(*current, Observation.created_at > since))).all()
            if cached.count + len(rows) == count:
                fresh = self._build(rows)
                vectors = PairVectors(
                    ids=cached.ids + fresh.ids,
                    sessions=np.concatenate([cached.sessions, fresh.sessions]),
                    levels=np.concatenate([cached.levels, fresh.levels]),
                    matrix=np.vstack([cached.matrix, fresh.matrix]),
                    count=count,
                    superseded=superseded,
                    newest=newest,
                )
        if vectors is None:
            vectors = self._build((await db.execute(stmt.where(*current))).all())
            vectors.count, vectors.superseded, vectors.newest = count, superseded, newest
        self._store(pair, vectors)
        return vectors

    def _build(self, rows: Sequence[Any]) -> PairVectors:
        if not rows:
            return PairVectors(
                [],
                np.empty(0, dtype=object),
                np.empty(0, dtype=object),
                np.empty((0, self._dims), np.float32),
                0,
                0,
                None,
            )
        return PairVectors(
            ids=[r.id for r in rows],
            sessions=np.array([r.session_id for r in rows], dtype=object),
            levels=np.array([r.level for r in rows], dtype=object),
            matrix=np.vstack([r.embedding for r in rows]).astype(np.float32),
            count=len(rows),
            superseded=0,
            newest=rows[-1].created_at,
        )

    def _store(self, pair: Pair, vectors: PairVectors) -> None:
        old = self._pairs.pop(pair, None)
        if old is not None:
            self._cached -= len(old.ids)
        self._pairs[pair] = vectors
        self._cached += len(vectors.ids)
        while self._cached > MAX_CACHED_VECTORS and len(self._pairs) > 1:
            _, evicted = self._pairs.popitem(last=False)
            self._cached -= len(evicted.ids)

    async def _pgvector(
        self,
        db: AsyncSession,
        pair: Pair,
        query: np.ndarray,
        k: int,
        session_id: str | None,
        max_distance: float | None,
        *,
        level: str | None = None,
        settle: bool = True,
        sessions: Sequence[str] | None = None,
    ) -> list[Hit]:
        """pgvector's HNSW search over the pair's current rows (optionally of one session and
        level); `settle=False` when this transaction already set the same search settings
        (they hold until it ends)."""
        workspace_id, observer_id, observed_id = pair
        if settle:  # relaxed_order iterative scans: the connection's (store.pg_pool)
            await widen_search(db, k)
        distance = cosine_distance(query)
        stmt = (
            select(Observation.id, distance.label("distance"))
            .where(
                Observation.workspace_id == workspace_id,
                Observation.observer_id == observer_id,
                Observation.observed_id == observed_id,
                Observation.superseded_by.is_(None),
            )
            .order_by(distance)
            .limit(k)
        )
        if session_id is not None:
            stmt = stmt.where(Observation.session_id == session_id)
        if level is not None:
            stmt = stmt.where(Observation.level == level)
        if sessions is not None:
            stmt = stmt.where(Observation.session_id.in_(list(sessions)))
        rows = (await db.execute(stmt)).all()
        # relaxed_order may return a few out of order: sort exactly
        hits = sorted((Hit(r.id, float(r.distance)) for r in rows), key=lambda h: h.distance)
        return [h for h in hits if max_distance is None or h.distance <= max_distance]


def cosine_distance(query: np.ndarray) -> ColumnElement[float]:
    """pgvector's `<=>` over the same expression as the HNSW index (`embedding::vector(d)`)."""
    dims = len(query)
    return cast(Observation.embedding, PgVector(dims)).cosine_distance(
        np.asarray(query, dtype=np.float32)
    )
