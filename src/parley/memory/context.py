"""Session context under a hard token budget.

`tokens` counts everything returned: the representation's observations, the peer card, the
summary and the messages (Honcho leaves the representation and the card out of the count;
Parley does not). Shares, each taken from what is left:

1. representation and peer card (when a perspective is asked for): at most half the budget,
   card first, then observations in the order they were chosen (most relevant first);
2. summary (Honcho's choice): the long one if it fits in 40% of what is left and is longer than
   the short one, else the short one if it fits, else none;
3. messages: the newest that fit in the rest, returned oldest first; with a summary, only from
   the last message it covers on (as Honcho: what the summary says is not repeated).

Counts use the same tokenizer as messages' `token_count` (cl100k_base). An API family that
shows the representation as text (`/v3`'s markdown) passes a `Rendering`, so what is counted is
what it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.llm.embeddings import Embedder
from parley.memory import peer_cards, summaries
from parley.memory.observation_index import ObservationIndex
from parley.memory.representation import (
    SERVER_MAX_OBSERVATIONS,
    Representation,
    RepresentationRequest,
    select_observations,
)
from parley.store.engine import Database
from parley.store.models import Message, Observation, SessionSummary
from parley.tokens import count_tokens, count_tokens_batch

MAX_TOKENS = 100_000
PERSPECTIVE_SHARE = 0.5
SUMMARY_SHARE = 0.4
FIRST_PAGE = 32  # pages grow from here: small budgets read few rows
MESSAGE_PAGE = 512


@dataclass(frozen=True)
class Rendering:
    """How an API family shows a representation as text: `line` is one observation's part (what
    it costs when chosen), `whole` the text returned (checked against the share at the end)."""

    line: Callable[[Observation], str]
    whole: Callable[[Representation], str]


@dataclass(frozen=True)
class ContextRequest:
    session_id: str
    tokens: int | None = None
    summary: bool = True
    last_message: str | None = None
    observed: str | None = None  # whose representation and card to include (API: peer_target)
    observer: str | None = None  # whose view of them (default: their own; API: peer_perspective)
    limit_to_session: bool = False
    search_top_k: int | None = None
    search_max_distance: float | None = None
    include_most_derived: bool = False
    max_observations: int | None = None
    rendering: Rendering | None = None  # None: each observation's `observation_text` counts


@dataclass
class SessionContext:
    session_id: str
    messages: list[Message] = field(default_factory=list)
    summary: SessionSummary | None = None
    representation: Representation | None = None
    peer_card: list[str] | None = None
    representation_text: str | None = None  # with a `rendering`: the representation shown
    tokens: int = 0  # what all of the above counts


def observation_text(row: Observation) -> str:
    """What a representation shows of an observation (and so what its tokens count)."""
    if row.level == "deductive" and row.premises:
        return f"{row.content} (premises: {'; '.join(row.premises)})"
    return row.content


async def session_context(
    *,
    database: Database,
    embedder: Embedder,
    observation_index: ObservationIndex,
    workspace_id: str,
    request: ContextRequest,
) -> SessionContext:
    budget = max(0, min(request.tokens if request.tokens is not None else MAX_TOKENS, MAX_TOKENS))
    perspective = None
    if request.observed is not None:
        perspective = RepresentationRequest(
            observer=request.observer or request.observed,
            observed=request.observed,
            session_id=request.session_id if request.limit_to_session else None,
            search_query=request.last_message,
            search_top_k=request.search_top_k,
            search_max_distance=request.search_max_distance,
            include_most_derived=request.include_most_derived,
            max_observations=request.max_observations or SERVER_MAX_OBSERVATIONS,
        )
    # an unknown session, observed or observer has nothing to give: an empty context, as in
    # Honcho
    query = (request.last_message or "").strip() if perspective is not None else ""
    vector = (await embedder.embed([query]))[0] if query else None
    context = SessionContext(session_id=request.session_id)
    async with database.read() as db:
        left = budget
        if perspective is not None:
            share = int(budget * PERSPECTIVE_SHARE)
            representation = await select_observations(
                db,
                observation_index=observation_index,
                workspace_id=workspace_id,
                request=perspective,
                vector=vector,
            )
            card = await peer_cards.get_card(
                db, workspace_id, perspective.observer, perspective.observed
            )
            spent = await _fit_perspective(context, representation, card, share, request.rendering)
            left -= spent
        if request.summary:
            left -= await _fit_summary(db, context, workspace_id, int(left * SUMMARY_SHARE))
        since = context.summary.message_seq if context.summary is not None else None
        context.messages, spent = await newest_messages(
            db, workspace_id, request.session_id, left, since_seq=since
        )
        left -= spent
        context.tokens = budget - left
    return context


async def _fit_perspective(
    context: SessionContext,
    representation: Representation,
    card: list[str] | None,
    share: int,
    rendering: Rendering | None = None,
) -> int:
    spent = 0
    if card is not None:
        costs = await asyncio.to_thread(count_tokens_batch, card)
        facts = []
        for fact, cost in zip(card, costs, strict=True):
            if spent + cost > share:
                break
            facts.append(fact)
            spent += cost
        context.peer_card = facts
    # observations in the order they were chosen: the most relevant win the room
    rows = representation.ranked
    line = rendering.line if rendering is not None else observation_text
    costs = await asyncio.to_thread(count_tokens_batch, [line(r) for r in rows])
    kept: list[Observation] = []
    observations = 0
    for row, cost in zip(rows, costs, strict=True):
        if spent + observations + cost > share:
            continue
        kept.append(row)
        observations += cost
    context.representation = _kept(representation, kept)
    if rendering is not None:
        # the text has headings and line breaks besides the lines: the least relevant
        # observations give way until the whole fits (an empty representation is no text)
        while True:
            text = rendering.whole(context.representation)
            observations = await asyncio.to_thread(count_tokens, text) if text else 0
            if spent + observations <= share or not kept:
                break
            kept.pop()
            context.representation = _kept(representation, kept)
        context.representation_text = text
    return spent + observations


def _kept(representation: Representation, kept: list[Observation]) -> Representation:
    ids = {r.id for r in kept}
    return Representation(
        explicit=[r for r in representation.explicit if r.id in ids],
        deductive=[r for r in representation.deductive if r.id in ids],
        message_seqs=representation.message_seqs,
        ranked=list(kept),
    )


async def _fit_summary(
    db: AsyncSession, context: SessionContext, workspace_id: str, share: int
) -> int:
    long = await summaries.latest(db, workspace_id, context.session_id, "long")
    short = await summaries.latest(db, workspace_id, context.session_id, "short")
    short_tokens = short.token_count if short is not None else 0
    if long is not None and long.token_count <= share and long.token_count > short_tokens:
        context.summary = long
    elif short is not None and 0 < short_tokens <= share:
        context.summary = short
    return context.summary.token_count if context.summary is not None else 0


async def newest_messages(
    db: AsyncSession, workspace_id: str, session_id: str, room: int, since_seq: int | None = None
) -> tuple[list[Message], int]:
    """The newest messages of the session whose token counts fit `room` (oldest first), and
    what they count; read a page at a time. `since_seq`: none older than that message."""
    kept: list[Message] = []
    spent = 0
    before: int | None = None
    page_size = FIRST_PAGE
    while room - spent > 0:
        stmt = (
            select(Message)
            .where(Message.workspace_id == workspace_id, Message.session_id == session_id)
            .order_by(Message.seq.desc())
            .limit(page_size)
        )
        page_size = min(2 * page_size, MESSAGE_PAGE)
        if since_seq is not None:
            stmt = stmt.where(Message.seq >= since_seq)
        if before is not None:
            stmt = stmt.where(Message.seq < before)
        page = list((await db.scalars(stmt)).all())
        if not page:
            break
        for message in page:
            if spent + message.token_count > room:
                return kept[::-1], spent
            kept.append(message)
            spent += message.token_count
        before = page[-1].seq
    return kept[::-1], spent
