"""Peer cards: the short list of stable facts an observer keeps about a peer.

A card is bounded. When an update runs over the bound, facts that are new in this update are
kept before old ones, so a new preference replaces an old one instead of being dropped because
the card was full."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.store.models import PeerCard, utcnow
from parley.store.upsert import conflict_insert

MAX_FACT_CHARS = 1000


async def get_card(
    db: AsyncSession, workspace_id: str, observer_id: str, observed_id: str
) -> list[str] | None:
    return await db.scalar(
        select(PeerCard.facts).where(
            PeerCard.workspace_id == workspace_id,
            PeerCard.observer_id == observer_id,
            PeerCard.observed_id == observed_id,
        )
    )


async def get_cards(
    db: AsyncSession, workspace_id: str, observer_ids: Sequence[str], observed_id: str
) -> dict[str, list[str]]:
    """The cards several observers keep about one peer, in one read (observers without one
    are absent)."""
    rows = await db.execute(
        select(PeerCard.observer_id, PeerCard.facts).where(
            PeerCard.workspace_id == workspace_id,
            PeerCard.observer_id.in_(list(observer_ids)),
            PeerCard.observed_id == observed_id,
        )
    )
    return {observer: facts for observer, facts in rows.all()}


async def set_card(
    db: AsyncSession, workspace_id: str, observer_id: str, observed_id: str, facts: list[str]
) -> None:
    await set_cards(db, workspace_id, observed_id, {observer_id: facts})


async def set_cards(
    db: AsyncSession, workspace_id: str, observed_id: str, cards: dict[str, list[str]]
) -> None:
    """Write the cards of several observers about one peer, in one statement."""
    if not cards:
        return
    now = utcnow()
    stmt = conflict_insert(db, cast(Table, PeerCard.__table__))  # no ORM layer: plain rows
    stmt = stmt.on_conflict_do_update(
        index_elements=[PeerCard.workspace_id, PeerCard.observer_id, PeerCard.observed_id],
        set_={"facts": stmt.excluded.facts, "updated_at": stmt.excluded.updated_at},
    )
    await db.execute(
        stmt,
        [
            {
                "workspace_id": workspace_id,
                "observer_id": observer_id,
                "observed_id": observed_id,
                "facts": facts,
                "updated_at": now,
            }
            for observer_id, facts in sorted(cards.items())
        ],
    )


def bounded(old: Sequence[str], proposed: Sequence[str], max_facts: int) -> list[str]:
    """The proposed card without blanks and repeats, cut to `max_facts` keeping new facts
    first; order as proposed."""
    card = list(dict.fromkeys(f.strip()[:MAX_FACT_CHARS] for f in proposed if f.strip()))
    if len(card) <= max_facts:
        return card
    previous = set(old)
    fresh = [f for f in card if f not in previous][:max_facts]
    kept = [f for f in card if f in previous][: max_facts - len(fresh)]
    allowed = set(fresh) | set(kept)
    return [f for f in card if f in allowed]


def rebase(
    read: Sequence[str], ours: Sequence[str], current: Sequence[str], max_facts: int
) -> list[str]:
    """Our update of the card as it was `read`, applied to the card as it is now (`current`):
    facts others added meanwhile are kept and facts they removed stay removed."""
    if list(current) == list(read):
        return list(ours)
    added = [f for f in current if f not in read]
    removed = set(read) - set(current)
    merged = [f for f in ours if f not in removed] + [f for f in added if f not in ours]
    return bounded(current, merged, max_facts)
