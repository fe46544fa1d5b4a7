"""Hybrid message search: vector (cosine) and full-text results, fused by standardised scores
(memory.fusion).

Full text: SQLite FTS5 (porter stemming, bm25) or PostgreSQL tsvector ('english', ts_rank_cd).
The query is reduced to its words, OR-ed, so punctuation, quotes or operators in user input
never reach a query parser. Vectors: an in-memory index per workspace on SQLite
(memory.vector_index), pgvector's HNSW index on PostgreSQL. The query is embedded before any
database session is opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Float,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from parley.llm.embeddings import Embedder
from parley.memory.filters import compile_filters
from parley.memory.fusion import TEXT_WEIGHT, VECTOR_WEIGHT, Scored, fuse
from parley.memory.messages import FILTER_FIELDS
from parley.memory.peers import get_peer
from parley.memory.sessions import get_session
from parley.memory.vector_index import MessageVectorIndex
from parley.memory.workspaces import get_workspace
from parley.store.engine import Database
from parley.store.models import Message, MessageEmbedding

MAX_QUERY_WORDS = 8
# Words too common to rank by: matching them makes full-text search score nearly every row
# (700 ms at 100k messages) while adding almost nothing to the ranking.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves s t don ll ve re d m o y""".split()  # noqa: SIM905 (a word list reads better)
)
MAX_FILTERED_CANDIDATES = 200_000
TEXT_WINDOW = 2_000
_WORD = re.compile(r"\w+", re.UNICODE)
_fts = table("messages_fts", column("rowid"))


Mode = Literal["hybrid", "vector", "text"]


@dataclass(frozen=True)
class Scope:
    """Where to search: a workspace, optionally one session or one sender."""

    workspace_id: str
    session_id: str | None = None
    peer_id: str | None = None


def query_words(query: str) -> list[str]:
    """The query's distinct content words, longest first (a cheap stand-in for the rarest)."""
    words = dict.fromkeys(w.lower() for w in _WORD.findall(query))
    content = [w for w in words if w not in STOPWORDS]
    return sorted(content, key=len, reverse=True)[:MAX_QUERY_WORDS]


class MessageSearch:
    def __init__(
        self, database: Database, embedder: Embedder, index: MessageVectorIndex | None
    ) -> None:
        self._database = database
        self._embedder = embedder
        self._index = index  # None on PostgreSQL, which searches with pgvector

    async def search(
        self,
        scope: Scope,
        query: str,
        *,
        filters: dict[str, Any] | None,
        limit: int,
        mode: Mode = "hybrid",
        vector: np.ndarray | None = None,
    ) -> list[Message]:
        """The `limit` best messages; `mode` picks one side alone (for evaluation). A caller
        that has embedded `query` already passes its `vector`."""
        where = compile_filters(filters, FILTER_FIELDS, self._database.dialect)  # 422s first
        async with self._database.read() as db:
            await _check_scope(db, scope)
        words = query_words(query)
        wants_vector = mode != "text" and query.strip()
        if not wants_vector:
            vector = None
        elif vector is None:
            vector = (await self._embedder.embed([query]))[0]
        depth = max(limit * 3, 30)
        async with self._database.read() as db:
            rankings: list[tuple[Scored, float]] = []
            if vector is not None:  # None in text mode
                vector_hits = await self._vector_ranking(db, scope, where, filters, vector, depth)
                rankings.append((vector_hits, VECTOR_WEIGHT))
            if words and mode != "vector":
                text_hits = await self._text_ranking(db, scope, where, words, depth)
                rankings.append((text_hits, TEXT_WEIGHT))
            seqs = fuse(rankings, limit)
            if not seqs:
                return []
            rows = (await db.scalars(select(Message).where(Message.seq.in_(seqs)))).all()
        by_seq = {row.seq: row for row in rows}
        return [by_seq[seq] for seq in seqs if seq in by_seq]

    async def _vector_ranking(
        self,
        db: AsyncSession,
        scope: Scope,
        where: ColumnElement[bool],
        filters: dict[str, Any] | None,
        vector: np.ndarray,
        depth: int,
    ) -> list[tuple[int, float]]:
        """(seq, cosine similarity), nearest first."""
        if self._index is None:
            return await self._pgvector_ranking(db, scope, where, vector, depth)
        allowed = None
        if filters:
            allowed_rows = await db.scalars(
                select(Message.seq)
                .where(_scoped(scope), where)
                .order_by(Message.seq)
                .limit(MAX_FILTERED_CANDIDATES)
            )
            allowed = np.fromiter(allowed_rows, dtype=np.int64)
        collection = await self._index.collection(db, scope.workspace_id)
        hits = collection.top(
            vector, depth, session_id=scope.session_id, peer_id=scope.peer_id, allowed=allowed
        )
        return [(seq, 1.0 - distance) for seq, distance in hits]

    async def _pgvector_ranking(
        self,
        db: AsyncSession,
        scope: Scope,
        where: ColumnElement[bool],
        vector: np.ndarray,
        depth: int,
    ) -> list[tuple[int, float]]:
        dims = self._embedder.dimensions
        await db.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        await db.execute(text(f"SET LOCAL hnsw.ef_search = {max(depth, 40)}"))
        vtype = f"vector({dims})"
        distance = text(
            f"(message_embeddings.embedding::{vtype}) <=> CAST(:query_vector AS {vtype})"
        )
        distance = type_coerce(distance.bindparams(query_vector=_pg_vector(vector)), Float).label(
            "distance"
        )
        stmt = (
            select(MessageEmbedding.seq, distance)
            .join(Message, Message.seq == MessageEmbedding.seq)
            .where(_scoped(scope), where, MessageEmbedding.workspace_id == scope.workspace_id)
            .order_by(distance)
            .limit(depth)
        )
        return [(seq, 1.0 - float(d)) for seq, d in (await db.execute(stmt)).all()]

    async def _text_ranking(
        self,
        db: AsyncSession,
        scope: Scope,
        where: ColumnElement[bool],
        words: list[str],
        depth: int,
    ) -> list[tuple[int, float]]:
        """Rank by relevance within the newest TEXT_WINDOW matches of the scope: scoring every
        match of a common word costs ~200 ms per 100k rows; the window bounds the work while a
        specific query, which matches fewer rows, is ranked exactly."""
        if self._database.dialect == "postgresql":
            # the config is inlined, so the expression matches the GIN index's exactly
            english = literal_column("'english'::regconfig")
            tsquery = func.to_tsquery(english, literal(" | ".join(words)))
            document = func.to_tsvector(english, Message.content)
            score = func.ts_rank_cd(document, tsquery)
            matches = select(Message.seq).where(_scoped(scope), where, document.op("@@")(tsquery))
            newest_first = Message.seq.desc()
        else:
            match = fts_match(scope, words)
            # bm25 is lower for better matches; the scope column does not score
            score = literal_column("-bm25(messages_fts, 1.0, 0.0)")
            matches = (
                select(Message.seq)
                .join(_fts, _fts.c.rowid == Message.seq)
                .where(
                    _scoped(scope), where, text("messages_fts MATCH :match").bindparams(match=match)
                )
            )
            # ordering by the FTS table's own rowid lets FTS5 walk matches newest first and
            # stop at the window; ordering by messages.seq made SQLite score and sort them all
            newest_first = _fts.c.rowid.desc()
        window = (
            matches.add_columns(score.label("score"))
            .order_by(newest_first)
            .limit(TEXT_WINDOW)
            .subquery()
        )
        stmt = (
            select(window.c.seq, window.c.score)
            .order_by(window.c.score.desc(), window.c.seq.desc())
            .limit(depth)
        )
        return [(seq, float(score)) for seq, score in (await db.execute(stmt)).all()]


def scope_token(kind: str, value: str) -> str:
    """How migration 0007 names a workspace (w), session (s) or peer (p) in the FTS table's
    `scope` column: one alphanumeric token the stemmer leaves alone."""
    return f"{kind}{value.encode().hex()}x"


def fts_match(scope: Scope, words: list[str]) -> str:
    """An FTS5 query: any of the words in the content, within the scope's tokens, so FTS5
    intersects posting lists instead of SQL filtering every match of a common word."""
    terms = " OR ".join(f'"{word}"' for word in words)
    match = f"content : ({terms}) AND scope : {scope_token('w', scope.workspace_id)}"
    if scope.session_id is not None:
        match += f" AND scope : {scope_token('s', scope.session_id)}"
    if scope.peer_id is not None:
        match += f" AND scope : {scope_token('p', scope.peer_id)}"
    return match


def _scoped(scope: Scope) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = Message.workspace_id == scope.workspace_id
    if scope.session_id is not None:
        clause = clause & (Message.session_id == scope.session_id)
    if scope.peer_id is not None:
        clause = clause & (Message.peer_id == scope.peer_id)
    return clause


async def _check_scope(db: AsyncSession, scope: Scope) -> None:
    await get_workspace(db=db, workspace_id=scope.workspace_id)
    if scope.session_id is not None:
        await get_session(db=db, workspace_id=scope.workspace_id, session_id=scope.session_id)
    if scope.peer_id is not None:
        await get_peer(db=db, workspace_id=scope.workspace_id, peer_id=scope.peer_id)


def _pg_vector(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
