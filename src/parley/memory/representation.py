"""Representations: what one peer (the observer) knows about another (the observed), as explicit
and deductive observations, chosen for a purpose.

Per level, up to `max_observations`, picked in this order: the nearest to `search_query`
(semantic, optionally within `search_max_distance`), then the most derived (seen most often),
then the most recent; with `session_id`, only observations made in that session; with
`session_ids` (Honcho 3's session allowlist), only explicit observations made in those sessions,
since a deduction's session does not say where its premises came from (none: an empty
allowlist). Only current observations: one superseded by a changed fact is history. The result
lists each level oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from parley.llm.embeddings import Embedder
from parley.memory.observation_index import ObservationIndex
from parley.store.engine import Database
from parley.store.models import Message, Observation

LEVELS = ("explicit", "deductive")
DEFAULT_MAX_OBSERVATIONS = 25
# Honcho's WORKING_REPRESENTATION_MAX_OBSERVATIONS: what a request that leaves the cap unset gets
SERVER_MAX_OBSERVATIONS = 50
ALLOWLIST_LEVEL = "explicit"  # the one level a session allowlist serves (Honcho 3)


@dataclass(frozen=True)
class RepresentationRequest:
    observer: str
    observed: str
    session_id: str | None = None
    search_query: str | None = None
    search_top_k: int | None = None
    search_max_distance: float | None = None
    include_most_derived: bool = False
    # a cap on both levels together, as Honcho's; `per_level`: on each level apart (the chat's
    # retrieval, which wants deductions even when explicit facts are many)
    max_observations: int = DEFAULT_MAX_OBSERVATIONS
    per_level: bool = False
    session_ids: tuple[str, ...] | None = None  # explicit observations of these sessions only


@dataclass
class Representation:
    explicit: list[Observation] = field(default_factory=list)
    deductive: list[Observation] = field(default_factory=list)
    # message public id -> seq, for the v2 shape's integer message ids
    message_seqs: dict[str, int] = field(default_factory=dict)
    # both levels in the order they were chosen, most relevant first (for budgets)
    ranked: list[Observation] = field(default_factory=list)

    def all(self) -> list[Observation]:
        return [*self.explicit, *self.deductive]


async def build_representation(
    *,
    database: Database,
    embedder: Embedder,
    observation_index: ObservationIndex,
    workspace_id: str,
    request: RepresentationRequest,
) -> Representation:
    """Unknown peers or an unknown session have no observations: an empty representation, as
    in Honcho."""
    query = (request.search_query or "").strip()
    vector = (await embedder.embed([query]))[0] if query else None
    async with database.read() as db:
        return await select_observations(
            db,
            observation_index=observation_index,
            workspace_id=workspace_id,
            request=request,
            vector=vector,
        )


async def ranked_candidates(
    db: AsyncSession, *, workspace_id: str, request: RepresentationRequest, semantic: bool
) -> list[str]:
    """The non-semantic candidates, in order: the most derived (when asked for, or when there
    is no query vector), then the most recent. Needs no query vector, so it may run while the
    query is embedded."""
    limit = request.max_observations
    in_pair = [
        Observation.workspace_id == workspace_id,
        Observation.observer_id == request.observer,
        Observation.observed_id == request.observed,
        Observation.superseded_by.is_(None),
    ]
    if request.session_id is not None:
        in_pair.append(Observation.session_id == request.session_id)
    if request.session_ids is not None:
        in_pair.append(Observation.session_id.in_(request.session_ids))
        in_pair.append(Observation.level == ALLOWLIST_LEVEL)
    chosen: list[str] = []
    if request.include_most_derived or not semantic:
        most_derived = await db.scalars(
            select(Observation.id)
            .where(*in_pair, Observation.times_derived > 1)
            .order_by(Observation.times_derived.desc(), Observation.created_at.desc())
            .limit(limit)
        )
        chosen += list(most_derived.all())
    recent = await db.scalars(
        select(Observation.id)
        .where(*in_pair)
        .order_by(Observation.created_at.desc(), Observation.id.desc())
        .limit(limit * len(LEVELS))
    )
    chosen += list(recent.all())
    return chosen


async def select_observations(
    db: AsyncSession,
    *,
    observation_index: ObservationIndex,
    workspace_id: str,
    request: RepresentationRequest,
    vector: np.ndarray | None,
    candidates: list[str] | None = None,
    message_seqs: bool = True,
) -> Representation:
    """The representation within an open read transaction (the query already embedded).
    `candidates`: what `ranked_candidates` returned for the same request and vector presence,
    when the caller read them already. `message_seqs=False`: a caller that does not show the
    observations' message ids (the chat's prompt, the agent's recall) leaves them unread: a
    fact derived from many messages names hundreds (500 ids at 5,000 messages, 1.6 ms of a
    peer chat's PostgreSQL time)."""
    pair = (workspace_id, request.observer, request.observed)
    limit = request.max_observations
    if request.session_ids is not None and not request.session_ids:
        return Representation()  # an empty allowlist allows nothing
    chosen: list[str] = []
    if vector is not None:
        hits = await observation_index.nearest(
            db,
            pair,
            vector,
            request.search_top_k or limit,
            session_id=request.session_id,
            max_distance=request.search_max_distance,
            sessions=request.session_ids,
            level=ALLOWLIST_LEVEL if request.session_ids is not None else None,
        )
        chosen += [h.id for h in hits]
    if candidates is None:
        candidates = await ranked_candidates(
            db, workspace_id=workspace_id, request=request, semantic=vector is not None
        )
    chosen += candidates
    order = list(dict.fromkeys(chosen))
    # the vectors are not shown (at 1,536 dimensions 6 KB a row to send and decode)
    chosen_rows = select(Observation).options(defer(Observation.embedding, raiseload=True))
    rows = {
        row.id: row
        for row in (await db.scalars(chosen_rows.where(Observation.id.in_(order)))).all()
    }
    picked: dict[str, list[Observation]] = {level: [] for level in LEVELS}
    ranked: list[Observation] = []
    for observation_id in order:
        row = rows.get(observation_id)
        if row is None:
            continue
        level = "deductive" if row.level == "deductive" else "explicit"
        if len(picked[level] if request.per_level else ranked) < limit:
            picked[level].append(row)
            ranked.append(row)
    for level in LEVELS:
        picked[level].sort(key=lambda r: (r.created_at, r.id))
    # the seqs of the chosen observations' messages only (the candidates not chosen are not
    # shown): on PostgreSQL this lookup was most of a peer chat's database time
    message_ids = {m for row in ranked for m in row.message_ids}
    seqs = {}
    if message_ids and message_seqs:
        # by the unique id alone, the workspace checked here: with it in the statement,
        # PostgreSQL's generic plan scanned the whole workspace's index and filtered on the ids
        rows_found = await db.execute(
            select(Message.id, Message.seq, Message.workspace_id).where(Message.id.in_(message_ids))
        )
        seqs = {m_id: seq for m_id, seq, ws in rows_found.all() if ws == workspace_id}
    return Representation(
        explicit=picked["explicit"], deductive=picked["deductive"], message_seqs=seqs, ranked=ranked
    )
