"""Hard deletes in the memory domain: a message, a peer, a session, an observation, and what
was derived from them, in the caller's transaction.

What goes with them:
- a message: its embedding and full-text row (the foreign key and the FTS trigger / stored
  tsvector), its queue items, the observations derived only from it, the session's summaries
  that covered it (queued to be written again), and the peer cards made from its facts;
- a peer: its messages (as above), memberships, observations it holds or that are held about
  it, its cards and its queue items;
- a session: its messages, memberships, observations, summaries and queue items;
- an observation: itself, and the deductions resting only on it.

An observation is derived only from deleted content when it cited messages and all of them
are gone, or when it rested on premises and all of them are gone (explicit facts cite their
messages; deductions cite their premises, which are the texts of other observations). One that
keeps a message or a premise stays, without what went. A peer card of an (observer, observed)
pair that lost an explicit observation is a text made from it: the card is taken down and,
when a model writes cards, rebuilt by the queue from the facts that remain.

Locks (PostgreSQL): each delete takes its first row locks on sessions, then peers, then
messages, the order in which the worker's commits lock them (`WorkQueue.gone`, then the
handlers' own checks), so a delete and a commit wait for each other instead of deadlocking.
A commit that comes second finds its messages gone and drops what it learned from them.

Returns what went (`Erased`), for the data agent's turns that copied any of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import NotFound
from parley.memory.configuration import ReasoningDefaults
from parley.memory.reasoning import DERIVE, enqueue_card_rebuild, summary_work
from parley.store.chunks import chunks
from parley.store.dml import execute_dml
from parley.store.models import (
    Message,
    Observation,
    Peer,
    PeerCard,
    Session,
    SessionSummary,
    WorkItem,
)
from parley.store.queue import enqueue

OBSERVATIONS = cast(Table, Observation.__table__)


def card_ref(observer_id: str, observed_id: str) -> str:
    """How a peer card is named in what went (peer ids never hold a slash)."""
    return f"{observer_id}/{observed_id}"


@dataclass
class Erased:
    """What a delete removed."""

    messages: set[str] = field(default_factory=set)  # message ids
    observations: set[str] = field(default_factory=set)
    # peer cards taken down, by `card_ref`: the facts removed, or None for all of them
    cards: dict[str, set[str] | None] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    peers: set[str] = field(default_factory=set)

    def add(self, other: Erased) -> None:
        self.messages |= other.messages
        self.observations |= other.observations
        self.sessions |= other.sessions
        self.peers |= other.peers
        for ref, facts in other.cards.items():
            known = self.cards.get(ref, set())
            self.cards[ref] = None if facts is None or known is None else known | facts


@dataclass(frozen=True)
class _Gone:
    """An observation that was deleted, as the rest of the pair may have copied it."""

    id: str
    observer_id: str
    observed_id: str
    content: str
    level: str


_GONE_COLUMNS = (
    Observation.id,
    Observation.observer_id,
    Observation.observed_id,
    Observation.content,
    Observation.level,
)


async def erase_message(
    db: AsyncSession,
    *,
    workspace_id: str,
    session_id: str,
    message_id: str,
    reasoning: ReasoningDefaults,
) -> Erased:
    """Delete one message and what was derived only from it."""
    row = (
        await db.execute(
            delete(Message)
            .where(
                Message.workspace_id == workspace_id,
                Message.session_id == session_id,
                Message.id == message_id,
            )
            .returning(Message.seq, Message.id, Message.session_id, Message.peer_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"Message {message_id} not found in session {session_id}")
    erased = Erased(messages={row.id})
    await _drop_derive_work(db, workspace_id, [row.seq])
    gone = await _unlink_from_messages(db, workspace_id, {row.peer_id}, {row.id})
    erased.add(await _after_observations(db, workspace_id, gone, reasoning))
    await _stale_summaries(db, workspace_id, {row.session_id: row.seq}, reasoning)
    return erased


async def erase_peer(
    db: AsyncSession,
    *,
    workspace_id: str,
    peer_id: str,
    reasoning: ReasoningDefaults,
    with_sessions: Sequence[str] = (),
) -> Erased:
    """Delete a peer with its messages, memberships, observations (held by it or about it),
    cards and queue items; the summaries that covered its messages are written again.
    `with_sessions`: sessions deleted whole with it (the peer's data agent threads), locked
    before the peer, as the worker locks sessions before peers."""
    sessions = sorted(set(with_sessions))
    if sessions:
        await db.execute(
            select(Session.id)
            .where(Session.workspace_id == workspace_id, Session.id.in_(sessions))
            .with_for_update()
        )
    found = await db.scalar(
        select(Peer.id)
        .where(Peer.workspace_id == workspace_id, Peer.id == peer_id)
        .with_for_update()
    )
    if found is None:
        raise NotFound(f"Peer {peer_id} not found in workspace {workspace_id}")
    erased = Erased(peers={peer_id})
    for session_id in sessions:
        if await db.get(Session, (workspace_id, session_id)) is not None:
            erased.add(
                await erase_session(
                    db,
                    workspace_id=workspace_id,
                    session_id=session_id,
                    reasoning=reasoning,
                    spare=peer_id,
                )
            )
    mine = (Message.workspace_id == workspace_id, Message.peer_id == peer_id)
    erased.messages |= set(await db.scalars(select(Message.id).where(*mine)))
    first_seqs = dict(
        (
            await db.execute(
                select(Message.session_id, func.min(Message.seq))
                .where(*mine)
                .group_by(Message.session_id)
            )
        ).all()
    )
    involved = (Observation.observer_id == peer_id) | (Observation.observed_id == peer_id)
    erased.observations |= set(
        await db.scalars(
            select(Observation.id).where(Observation.workspace_id == workspace_id, involved)
        )
    )
    cards = (
        await db.execute(
            select(PeerCard.observer_id, PeerCard.observed_id).where(
                PeerCard.workspace_id == workspace_id,
                (PeerCard.observer_id == peer_id) | (PeerCard.observed_id == peer_id),
            )
        )
    ).all()
    erased.add(Erased(cards={card_ref(o, p): None for o, p in cards}))
    # the cascade takes its messages (and their embeddings and full-text rows), memberships,
    # observations and cards
    await db.execute(delete(Peer).where(Peer.workspace_id == workspace_id, Peer.id == peer_id))
    await db.execute(
        delete(WorkItem).where(
            WorkItem.workspace_id == workspace_id,
            or_(WorkItem.sender_id == peer_id, WorkItem.observer_id == peer_id),
        )
    )
    await _stale_summaries(db, workspace_id, first_seqs, reasoning)
    db.expunge_all()
    return erased


async def erase_session(
    db: AsyncSession,
    *,
    workspace_id: str,
    session_id: str,
    reasoning: ReasoningDefaults,
    spare: str | None = None,
) -> Erased:
    """Delete the session with its messages, memberships and everything derived from them;
    deductions elsewhere that rested only on its observations go too, and cards made from its
    facts are rebuilt. `spare`: a peer deleted in the same transaction, whose observations and
    cards its own delete takes (touching them here would lock them before the peer)."""
    if await db.get(Session, (workspace_id, session_id)) is None:
        raise NotFound(f"Session {session_id} not found in workspace {workspace_id}")
    in_session = (Message.workspace_id == workspace_id, Message.session_id == session_id)
    message_ids = set(await db.scalars(select(Message.id).where(*in_session)))
    gone = [
        _Gone(*row)
        for row in (
            await db.execute(
                select(*_GONE_COLUMNS).where(
                    Observation.workspace_id == workspace_id,
                    Observation.session_id == session_id,
                )
            )
        ).all()
    ]
    await db.execute(
        delete(Session).where(Session.workspace_id == workspace_id, Session.id == session_id)
    )
    db.expunge_all()
    gone_elsewhere = [
        g for g in gone if spare is None or spare not in (g.observer_id, g.observed_id)
    ]
    erased = Erased(messages=message_ids, sessions={session_id})
    erased.observations |= {g.id for g in gone}
    erased.add(await _after_observations(db, workspace_id, gone_elsewhere, reasoning))
    return erased


async def erase_observation(
    db: AsyncSession, *, workspace_id: str, observation_id: str, reasoning: ReasoningDefaults
) -> Erased:
    await _keep_history_chains(db, [observation_id])
    row = (
        await db.execute(
            delete(Observation)
            .where(Observation.workspace_id == workspace_id, Observation.id == observation_id)
            .returning(*_GONE_COLUMNS)
        )
    ).first()
    if row is None:
        raise NotFound(f"Observation {observation_id} not found in workspace {workspace_id}")
    return await _after_observations(db, workspace_id, [_Gone(*row)], reasoning)


# --- what goes with them ------------------------------------------------------------------


async def _drop_derive_work(db: AsyncSession, workspace_id: str, seqs: Sequence[int]) -> None:
    """The deriver's items for deleted messages, whatever their status: nothing is left to
    reason over, and the queue status stops counting them."""
    for part in chunks(seqs):
        await db.execute(
            delete(WorkItem).where(
                WorkItem.workspace_id == workspace_id,
                WorkItem.task_type == DERIVE,
                WorkItem.message_seq.in_(part),
            )
        )


async def _unlink_from_messages(
    db: AsyncSession, workspace_id: str, senders: set[str], message_ids: set[str]
) -> list[_Gone]:
    """Observations citing the deleted messages lose them; those left citing none are
    deleted. An observation is about the sender of the messages it cites."""
    rows = (
        await db.execute(
            select(*_GONE_COLUMNS, Observation.message_ids).where(
                Observation.workspace_id == workspace_id,
                Observation.observed_id.in_(sorted(senders)),
            )
        )
    ).all()
    return await _drop_sources(db, rows, "message_ids", message_ids)


async def _drop_sources(
    db: AsyncSession, rows: Sequence[Row[*tuple[Any, ...]]], column: str, removed: set[str]
) -> list[_Gone]:
    """Each row whose `column` list (its cited messages, or its premises) holds some of
    `removed` loses them; a row left with none is deleted and returned."""
    gone: list[_Gone] = []
    kept: list[dict[str, Any]] = []
    for row in rows:
        sources = list(getattr(row, column) or [])
        if not removed.intersection(sources):
            continue
        left = [s for s in sources if s not in removed]
        if left:
            kept.append({"b_id": row.id, "b_left": left})
        else:
            gone.append(_Gone(row.id, row.observer_id, row.observed_id, row.content, row.level))
    await _delete_observations(db, [g.id for g in gone])
    if kept:
        await db.execute(
            update(OBSERVATIONS)
            .where(OBSERVATIONS.c.id == bindparam("b_id"))
            .values({column: bindparam("b_left")}),
            kept,
        )
    return gone


async def _delete_observations(db: AsyncSession, ids: Sequence[str]) -> None:
    await _keep_history_chains(db, ids)
    for part in chunks(ids):
        await db.execute(delete(OBSERVATIONS).where(OBSERVATIONS.c.id.in_(part)))


async def _keep_history_chains(db: AsyncSession, ids: Sequence[str]) -> None:
    """Before rows go: what a row superseded is superseded by that row's own successor, so a
    chain of changed facts skips the deleted link. Rows with no successor need nothing here:
    the foreign key's ON DELETE SET NULL makes what they superseded current again."""
    for part in chunks(ids):
        links = (
            await db.execute(
                select(Observation.id, Observation.superseded_by).where(
                    Observation.id.in_(part), Observation.superseded_by.is_not(None)
                )
            )
        ).all()
        for link in links:
            await db.execute(
                update(OBSERVATIONS)
                .where(OBSERVATIONS.c.superseded_by == link.id)
                .values(superseded_by=link.superseded_by)
            )


async def _after_observations(
    db: AsyncSession, workspace_id: str, gone: list[_Gone], reasoning: ReasoningDefaults
) -> Erased:
    """After observations went: deductions of their pairs lose the premises that were their
    texts (and go when none is left, and so on), and the cards of pairs that lost an explicit
    observation are taken down to be rebuilt."""
    erased = Erased()
    lost_explicit: set[tuple[str, str]] = set()
    while gone:
        erased.observations |= {g.id for g in gone}
        lost_explicit |= {(g.observer_id, g.observed_id) for g in gone if g.level == "explicit"}
        texts: dict[tuple[str, str], set[str]] = {}
        for g in gone:
            texts.setdefault((g.observer_id, g.observed_id), set()).add(g.content)
        gone = await _strip_premises(db, workspace_id, texts)
    if reasoning.cards_possible:
        for observer_id, observed_id in sorted(lost_explicit):
            removed = await execute_dml(
                db,
                delete(PeerCard).where(
                    PeerCard.workspace_id == workspace_id,
                    PeerCard.observer_id == observer_id,
                    PeerCard.observed_id == observed_id,
                ),
            )
            if removed.rowcount:
                erased.cards[card_ref(observer_id, observed_id)] = None
            if await db.get(Peer, (workspace_id, observer_id)) is not None:
                await enqueue_card_rebuild(
                    db, workspace_id=workspace_id, observer_id=observer_id, observed_id=observed_id
                )
    return erased


async def _strip_premises(
    db: AsyncSession, workspace_id: str, texts: dict[tuple[str, str], set[str]]
) -> list[_Gone]:
    """Observations of each pair whose premises include the gone texts lose them; those that
    had premises and are left with none are deleted (and returned)."""
    gone: list[_Gone] = []
    for (observer_id, observed_id), contents in sorted(texts.items()):
        rows = (
            await db.execute(
                select(*_GONE_COLUMNS, Observation.premises).where(
                    Observation.workspace_id == workspace_id,
                    Observation.observer_id == observer_id,
                    Observation.observed_id == observed_id,
                )
            )
        ).all()
        gone += await _drop_sources(db, rows, "premises", contents)
    return gone


async def _stale_summaries(
    db: AsyncSession,
    workspace_id: str,
    first_seqs: dict[str, int],
    reasoning: ReasoningDefaults,
) -> None:
    """Summaries roll up everything before them, so each one at or after a session's first
    deleted message covered it: they are deleted, and the newest of each kind is queued to be
    written again (from the summary before, over the messages that remain)."""
    for session_id, first in sorted(first_seqs.items()):
        removed = (
            await db.execute(
                delete(SessionSummary)
                .where(
                    SessionSummary.workspace_id == workspace_id,
                    SessionSummary.session_id == session_id,
                    SessionSummary.message_seq >= first,
                )
                .returning(SessionSummary.kind, SessionSummary.message_seq)
            )
        ).all()
        if not removed or not reasoning.summaries_possible:
            continue
        if await db.get(Session, (workspace_id, session_id)) is None:
            continue
        upto_of: dict[str, int] = {}
        for kind, seq in removed:
            upto_of[kind] = max(seq, upto_of.get(kind, 0))
        work = []
        for kind, upto in sorted(upto_of.items()):
            last = await db.scalar(
                select(func.max(Message.seq)).where(
                    Message.workspace_id == workspace_id,
                    Message.session_id == session_id,
                    Message.seq <= upto,
                )
            )
            if last is not None:
                work.append(
                    summary_work(
                        workspace_id=workspace_id, session_id=session_id, kind=kind, upto_seq=last
                    )
                )
        await enqueue(db, workspace_id, work)
