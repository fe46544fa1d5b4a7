"""Hybrid message search: vector (cosine) and full-text results, fused by standardised scores
(memory.fusion).

Full text: SQLite FTS5 (porter stemming, bm25) or PostgreSQL tsvector ('english', ts_rank_cd)
over the stored column `messages.content_fts`, both divided by a function of the message's
length (see `_text_ranking`).
The query is reduced to its words, OR-ed, so punctuation, quotes or operators in user input
never reach a query parser. Vectors: an in-memory index per workspace on SQLite
(memory.vector_index), pgvector's HNSW index on PostgreSQL.

The full-text side runs while the query is embedded (in another thread); so does the vector
side's read of the in-memory index's rows (SQLite), in a session closed before the vector is
awaited, so no session waits on the embedder. PostgreSQL's vector side opens its session only
once the vector is there.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Float,
    bindparam,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause

from parley.aio import concurrently
from parley.errors import InvalidInput
from parley.llm.embeddings import Embedder
from parley.memory.filters import compile_filters
from parley.memory.fusion import fuse_hybrid
from parley.memory.messages import FILTER_FIELDS
from parley.memory.vector_index import MessageVectorIndex, View, ranked
from parley.store.engine import Database
from parley.store.models import Message, MessageEmbedding, MessageEmbeddingCount, SessionPeer
from parley.store.pg_pool import widen_search
from parley.store.pgvector_codec import PgVector

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
# ts_rank_cd's normalization 2: the cover density score divided by the document's length
PG_RANK_LENGTH_NORMALIZATION = 2
TEXT_WINDOW = 2_000
TEXT_RANDOM_PAGE_COST = 1.1  # PostgreSQL, for the full-text window (see _text_ranking)
# Scoring more rows than this (a whole workspace) runs in worker threads, off the event loop,
# one piece of the rows per core (at most 4).
THREADED_SCAN_ROWS = 20_000
SCAN_THREADS = max(1, min(4, os.cpu_count() or 1))
_WORD = re.compile(r"\w+", re.UNICODE)
_fts = table("messages_fts", column("rowid"))
# PostgreSQL: to_tsvector('english', content), stored by migration 0011 so that neither the
# match nor ts_rank_cd parses the content again (not a model column: SQLite has FTS5 instead)
_PG_DOCUMENT: ColumnClause[Any] = literal_column("messages.content_fts")


Mode = Literal["hybrid", "vector", "text"]


@dataclass(frozen=True)
class SearchScope:
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
        self, database: Database, embedder: Embedder, vector_index: MessageVectorIndex | None
    ) -> None:
        self._database = database
        self._embedder = embedder
        self._vector_index = vector_index  # None on PostgreSQL, which searches with pgvector

    async def search(
        self,
        scope: SearchScope,
        query: str,
        *,
        filters: dict[str, Any] | None,
        limit: int,
        mode: Mode = "hybrid",
        vector: np.ndarray | Awaitable[np.ndarray] | None = None,
        sessions: Sequence[str] | None = None,
    ) -> list[Message]:
        """The `limit` best messages; `mode` picks one side alone (for evaluation).

        A caller that has embedded `query` already (or is embedding it) passes its `vector`
        (or an awaitable of it); `sessions` keeps only messages from those sessions. An unknown
        workspace, peer or session has no messages, so it finds none (as in Honcho). The
        full-text side runs while the query is embedded, then the vector side; no database
        session is open while the embedding is awaited."""
        depth = max(limit * 3, 30)
        vector_hits, text_hits = await self.side_rankings(
            scope, query, filters=filters, depth=depth, mode=mode, vector=vector, sessions=sessions
        )
        seqs = fuse_hybrid(vector_hits, text_hits, query=query, limit=limit)
        if not seqs:
            return []
        async with self._database.read() as db:
            rows = (await db.scalars(select(Message).where(Message.seq.in_(seqs)))).all()
        by_seq = {row.seq: row for row in rows}
        return [by_seq[seq] for seq in seqs if seq in by_seq]

    async def side_rankings(
        self,
        scope: SearchScope,
        query: str,
        *,
        filters: dict[str, Any] | None,
        depth: int,
        mode: Mode = "hybrid",
        vector: np.ndarray | Awaitable[np.ndarray] | None = None,
        sessions: Sequence[str] | None = None,
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """Each side's `depth` best (seq, score) pairs, best first: the vector side's and the
        full-text side's (empty for a side that `mode` leaves out or that has nothing to
        search with). `search` fuses them; benches read them to compare fusions."""
        filters, perspective = _split_perspective(filters)
        where = await compile_filters(filters, FILTER_FIELDS, self._database.dialect)  # 422s first
        if perspective is not None:
            where = where & _seen_by(perspective)
            filters = (filters or {}) | {PEER_PERSPECTIVE: perspective}  # it narrows: join
        words = query_words(query)
        wants_vector = mode != "text" and bool(query.strip())
        wants_text = bool(words) and mode != "vector"
        own_embedding = None
        if wants_vector and vector is None:
            own_embedding = asyncio.ensure_future(self._embedder.embed([query]))
        restrict = _Restriction(where, filters, sessions)

        async def text_side() -> list[tuple[int, float]]:
            if not wants_text:
                return []
            async with self._database.read() as db:
                return await self._text_ranking(db, scope, restrict, words, depth)

        async def vector_side() -> list[tuple[int, float]]:
            if not wants_vector:
                return []
            view = None
            if self._vector_index is not None:  # read the scope's rows while the query is embedded
                view = await self._index_view(scope, restrict)
            if own_embedding is not None:
                query_vector = (await own_embedding)[0]
            elif isinstance(vector, np.ndarray):
                query_vector = vector
            else:
                # an awaitable: with no vector given, own_embedding is the one awaited
                query_vector = await vector  # type: ignore[misc]
            if view is None:
                async with self._database.read() as db:
                    return await self._pgvector_ranking(db, scope, restrict, query_vector, depth)
            return await _vector_ranking(view, query_vector, depth)

        try:
            text_hits, vector_hits = await concurrently(text_side(), vector_side())
        finally:
            if own_embedding is not None:
                own_embedding.cancel()
        return vector_hits, text_hits

    async def _index_view(self, scope: SearchScope, restrict: _Restriction) -> View:
        """The in-memory index's rows for the scope and restriction (SQLite), brought up to
        date with the database first."""
        assert self._vector_index is not None
        async with self._database.read() as db:
            allowed = None
            if restrict.filters:
                allowed_rows = await db.scalars(
                    select(Message.seq)
                    .where(_scoped(scope), restrict.where)
                    .order_by(Message.seq)
                    .limit(MAX_FILTERED_CANDIDATES)
                )
                allowed = np.fromiter(allowed_rows, dtype=np.int64)
            collection = await self._vector_index.collection(db, scope.workspace_id)
        return collection.view(
            session_id=scope.session_id,
            peer_id=scope.peer_id,
            sessions=restrict.sessions,
            allowed=allowed,
        )

    async def _pgvector_ranking(
        self,
        db: AsyncSession,
        scope: SearchScope,
        restrict: _Restriction,
        vector: np.ndarray,
        depth: int,
    ) -> list[tuple[int, float]]:
        """The scope is matched on the embedding row's own copy of it, so the HNSW scan reads
        no other table (joining `messages` for every candidate tripled the cost of a session
        or peer search, whose iterative scan meets ~2,000 candidates at 100k rows), and a small
        session or peer can be scanned exactly through migration 0011's indexes. Filters read
        the message's columns, so a filtered search still joins."""
        dims = self._embedder.dimensions
        await widen_search(db, depth)  # relaxed_order iterative scans: the connection's
        vtype = f"vector({dims})"
        distance_sql = text(
            f"(message_embeddings.embedding::{vtype}) <=> CAST(:query_vector AS {vtype})"
        ).bindparams(
            bindparam("query_vector", np.asarray(vector, dtype=np.float32), type_=PgVector(dims))
        )
        distance = type_coerce(distance_sql, Float).label("distance")
        stmt = select(MessageEmbedding.seq, distance).order_by(distance).limit(depth)
        if restrict.filters:
            stmt = stmt.join(Message, Message.seq == MessageEmbedding.seq).where(
                _scoped(scope), restrict.where, MessageEmbedding.workspace_id == scope.workspace_id
            )
        else:
            stmt = stmt.where(_scoped(scope, MessageEmbedding))
            if restrict.sessions is not None:
                stmt = stmt.where(MessageEmbedding.session_id.in_(list(restrict.sessions)))
        return [(seq, 1.0 - float(d)) for seq, d in (await db.execute(stmt)).all()]

    async def _text_ranking(
        self,
        db: AsyncSession,
        scope: SearchScope,
        restrict: _Restriction,
        words: list[str],
        depth: int,
    ) -> list[tuple[int, float]]:
        """Rank by relevance within the newest TEXT_WINDOW matches of the scope: scoring every
        match of a common word costs ~200 ms per 100k rows; the window bounds the work while a
        specific query, which matches fewer rows, is ranked exactly.

        Relevance is divided by the message's length: the query's words are OR-ed, and a long
        message holds more of them, more often, just by being long (in BEAM a user message has
        ~40 words, an assistant's answer ~570; raw scores put answers in 77% of the top five
        while 77% of the evidence is user messages). bm25's term frequencies saturate, so its
        score grows about like the log of the length and is divided by ln(2 + tokens);
        ts_rank_cd adds up every cover, so its score grows with the length itself and is
        divided by it (normalization 2). docs/benchmarks.md has the figures."""
        if self._database.dialect == "postgresql":
            # With the default random_page_cost (4, a spinning disk's) the planner ANDs the
            # scope's btree with a GIN bitmap of every match in the database: 70-80 ms for a
            # common word at 1M rows, where walking the scope's index newest first to the
            # window costs 40 ms (100k rows: the same plans, 10 ms apart). 1.1 prices the
            # cached or SSD pages this reads; a rare word still gets the bitmap.
            await db.execute(text(f"SET LOCAL random_page_cost = {TEXT_RANDOM_PAGE_COST}"))
            # the config is inlined, so the planner folds the query into a constant
            english: ColumnClause[Any] = literal_column("'english'::regconfig")
            tsquery = func.to_tsquery(english, literal(" | ".join(words)))
            score: ColumnElement[Any] = func.ts_rank_cd(
                _PG_DOCUMENT, tsquery, literal(PG_RANK_LENGTH_NORMALIZATION)
            )
            matches = select(Message.seq).where(
                _scoped(scope), restrict.where, _PG_DOCUMENT.op("@@")(tsquery)
            )
            newest_first = Message.seq.desc()
        else:
            # bm25 is lower for better matches; the scope column does not score
            score = literal_column("-bm25(messages_fts, 1.0, 0.0)")
            whole_workspace = scope.session_id is None and scope.peer_id is None
            tokens = await self._fts_scope_tokens(db, scope) if whole_workspace else None
            match = text("messages_fts MATCH :match").bindparams(
                match=fts_match(scope, words, tokens=tokens)
            )
            if restrict.narrows or tokens == []:
                # the filters need the message's columns (and without a scope token, so does
                # the workspace)
                matches = (
                    select(Message.seq)
                    .join(_fts, _fts.c.rowid == Message.seq)
                    .where(_scoped(scope), restrict.where, match)
                )
            else:  # the scope tokens alone decide: no row of `messages` is read
                matches = select(_fts.c.rowid.label("seq")).where(match)
            # ordering by the FTS table's own rowid lets FTS5 walk matches newest first and
            # stop at the window; ordering by messages.seq made SQLite score and sort them all
            newest_first = _fts.c.rowid.desc()
        window = (
            matches.add_columns(score.label("score"))
            .order_by(newest_first)
            .limit(TEXT_WINDOW)
            .subquery()
        )
        ranked: ColumnElement[Any] = window.c.score
        if self._database.dialect != "postgresql":  # bm25 / ln(2 + the message's tokens)
            token_count = select(Message.token_count).where(Message.seq == window.c.seq)
            ranked = ranked / func.ln(2 + token_count.scalar_subquery())
        stmt = (
            select(window.c.seq, ranked.label("ranked"))
            .order_by(literal_column("ranked").desc(), window.c.seq.desc())
            .limit(depth)
        )
        return [(seq, float(score)) for seq, score in (await db.execute(stmt)).all()]

    async def _fts_scope_tokens(self, db: AsyncSession, scope: SearchScope) -> list[str]:
        """The workspace token, or none when the workspace holds most of the messages: bm25
        reads a query term's whole posting list once per query (about 12 ms for a token on
        100k rows), while filtering by `messages.workspace_id` costs only the rows of other
        workspaces met in the window. Either way the matches and their scores are the same
        (the scope column weighs 0)."""
        counts = (
            await db.execute(
                select(
                    MessageEmbeddingCount.inserted - MessageEmbeddingCount.deleted,
                    select(
                        func.sum(MessageEmbeddingCount.inserted - MessageEmbeddingCount.deleted)
                    ).scalar_subquery(),
                ).where(MessageEmbeddingCount.workspace_id == scope.workspace_id)
            )
        ).first()
        if counts is not None and counts[1] and 2 * counts[0] >= counts[1]:
            return []
        return [workspace_token(scope.workspace_id)]


@dataclass(frozen=True)
class _Restriction:
    """What narrows a search beyond its scope: compiled filters and a set of sessions."""

    filter_clause: ColumnElement[bool] | TextClause  # compile_filters renders filters as text
    filters: dict[str, Any] | None
    sessions: Sequence[str] | None

    @property
    def where(self) -> ColumnElement[bool] | TextClause:
        if self.sessions is None:
            return self.filter_clause
        return self.filter_clause & Message.session_id.in_(list(self.sessions))

    @property
    def narrows(self) -> bool:
        return bool(self.filters) or self.sessions is not None


def workspace_token(workspace_id: str) -> str:
    """How migrations 0007/0009 name a workspace in the FTS table's `scope` column: one
    alphanumeric token the stemmer leaves alone."""
    return f"w{_hex(workspace_id)}x"


def session_token(workspace_id: str, session_id: str) -> str:
    """A session's token (migration 0009): its workspace's id and its own, so the token is
    unique and its posting list holds just the session's messages."""
    return f"s{_hex(workspace_id)}y{_hex(session_id)}x"


def peer_token(workspace_id: str, peer_id: str) -> str:
    """A sender's token (migration 0009), unique like a session's."""
    return f"p{_hex(workspace_id)}y{_hex(peer_id)}x"


def _hex(value: str) -> str:
    return value.encode().hex()


def fts_match(scope: SearchScope, words: list[str], *, tokens: list[str] | None = None) -> str:
    """An FTS5 query: any of the words in the content, within the scope's tokens, so FTS5
    intersects posting lists instead of SQL filtering every match of a common word. A session
    or peer token implies its workspace; `tokens` overrides the scope's tokens."""
    if tokens is None:
        tokens = []
        if scope.session_id is not None:
            tokens.append(session_token(scope.workspace_id, scope.session_id))
        if scope.peer_id is not None:
            tokens.append(peer_token(scope.workspace_id, scope.peer_id))
        if not tokens:
            tokens.append(workspace_token(scope.workspace_id))
    terms = " OR ".join(f'"{word}"' for word in words)
    return f"content : ({terms})" + "".join(f" AND scope : {token}" for token in tokens)


async def _vector_ranking(view: View, vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
    """(seq, cosine similarity), nearest first. A large scope (a whole workspace) is scored
    in worker threads, in pieces at once (numpy releases the GIL, so the event loop goes on)."""
    if view.size < THREADED_SCAN_ROWS:
        hits = view.top(vector, depth)
    else:
        pieces = view.split(SCAN_THREADS)
        found = await asyncio.gather(*(asyncio.to_thread(p.best, vector, depth) for p in pieces))
        scores = np.concatenate([scores for scores, _ in found])
        seqs = np.concatenate([seqs for _, seqs in found])
        hits = ranked(scores, seqs, depth)
    return [(seq, 1.0 - distance) for seq, distance in hits]


PEER_PERSPECTIVE = "peer_perspective"


def _split_perspective(
    filters: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """Honcho's search-only filter `peer_perspective` (top level only, src/utils/search.py):
    the messages a peer could see. The rest of the filters, and the peer."""
    if not filters or PEER_PERSPECTIVE not in filters:
        return filters, None
    peer = filters[PEER_PERSPECTIVE]
    if not isinstance(peer, str):
        raise InvalidInput(f"filter on {PEER_PERSPECTIVE!r} needs a peer id, got {peer!r}")
    rest = {k: v for k, v in filters.items() if k != PEER_PERSPECTIVE}
    return rest, peer


def _seen_by(peer_id: str) -> ColumnElement[bool]:
    """Messages of the sessions `peer_id` is or was a member of, sent while it was in them:
    from when it (last) joined to when it left, both included, or to now (Honcho's window)."""
    return exists(
        select(literal(1)).where(
            SessionPeer.workspace_id == Message.workspace_id,
            SessionPeer.session_id == Message.session_id,
            SessionPeer.peer_id == peer_id,
            Message.created_at >= SessionPeer.joined_at,
            or_(SessionPeer.left_at.is_(None), Message.created_at <= SessionPeer.left_at),
        )
    )


def _scoped(
    scope: SearchScope, rows: type[Message] | type[MessageEmbedding] = Message
) -> ColumnElement[bool]:
    """The scope over `messages` or over `message_embeddings`, which copies a message's scope."""
    clause: ColumnElement[bool] = rows.workspace_id == scope.workspace_id
    if scope.session_id is not None:
        clause = clause & (rows.session_id == scope.session_id)
    if scope.peer_id is not None:
        clause = clause & (rows.peer_id == scope.peer_id)
    return clause
