"""What reasoning work new messages cause, enqueued in the transaction that stores them.

- derive: one item per (message, observer). The sender's own view is always an observer when
  the sender is observed (`observe_me`: session membership, then the peer's configuration, then
  true); every other member with `observe_others` is one too. Items of one (workspace, session,
  sender) form one work unit, so a sender's messages are reasoned over in order, in batches.
- summary: when the session's message count crosses a multiple of the short or long interval,
  one item that summarizes up to the message at that count.
- card: a peer card rebuilt from the pair's explicit observations, after a delete took some
  of the facts it was made from (see `memory/erase.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.memory.configuration import ReasoningDefaults, resolve
from parley.store.models import Message, Peer, Session, SessionPeer, WorkItem, Workspace
from parley.store.queue import PENDING, NewWork, enqueue

DERIVE, SUMMARY, DREAM, CARD = "derive", "summary", "dream", "card"
REASONING = (DERIVE, SUMMARY, DREAM, CARD)  # the task types the deriver status counts


def derive_key(workspace_id: str, session_id: str, sender_id: str) -> str:
    return f"{workspace_id}/{DERIVE}/{session_id}/{sender_id}"


def summary_key(workspace_id: str, session_id: str) -> str:
    return f"{workspace_id}/{SUMMARY}/{session_id}"


def dream_key(workspace_id: str, observer_id: str, observed_id: str) -> str:
    return f"{workspace_id}/{DREAM}/{observer_id}/{observed_id}"


def card_key(workspace_id: str, observer_id: str, observed_id: str) -> str:
    return f"{workspace_id}/{CARD}/{observer_id}/{observed_id}"


async def plan_message_work(
    db: AsyncSession,
    *,
    defaults: ReasoningDefaults,
    workspace_id: str,
    session_id: str,
    messages: Sequence[Any],
) -> None:
    """Enqueue the work for `messages` (rows just inserted: `id`, `peer_id`,
    `internal_metadata`), in the caller's transaction."""
    workspace = await db.get(Workspace, workspace_id)
    session = await db.get(Session, (workspace_id, session_id))
    assert workspace is not None and session is not None  # created in this transaction
    seqs = dict(
        (
            await db.execute(
                select(Message.id, Message.seq).where(Message.id.in_([m.id for m in messages]))
            )
        ).all()
    )
    members = (
        await db.execute(
            select(
                SessionPeer.peer_id,
                SessionPeer.observe_me,
                SessionPeer.observe_others,
                SessionPeer.left_at,
                Peer.configuration,
            )
            .join(
                Peer,
                (Peer.workspace_id == SessionPeer.workspace_id) & (Peer.id == SessionPeer.peer_id),
            )
            .where(SessionPeer.workspace_id == workspace_id, SessionPeer.session_id == session_id)
        )
    ).all()
    # Honcho's deriver (src/deriver/enqueue.py) reads every membership for the sender's
    # observe_me, and only members that have not left observe others
    observed = {m.peer_id: _observe_me(m.observe_me, m.configuration) for m in members}
    watchers = sorted(m.peer_id for m in members if m.observe_others and m.left_at is None)
    work: list[NewWork] = []
    for message in messages:
        config = resolve(
            defaults,
            workspace=workspace.configuration,
            session=session.configuration,
            message=message.internal_metadata.get("configuration"),
        )
        sender = message.peer_id
        if not config.deriver_enabled or not observed.get(sender, True):
            continue
        for observer in [sender, *(w for w in watchers if w != sender)]:
            work.append(
                NewWork(
                    task_type=DERIVE,
                    work_unit_key=derive_key(workspace_id, session_id, sender),
                    session_id=session_id,
                    sender_id=sender,
                    observer_id=observer,
                    message_seq=seqs[message.id],
                )
            )
    work.extend(
        await _summary_work(db, defaults, workspace, session, [seqs[m.id] for m in messages])
    )
    await enqueue(db, workspace_id, work)


def _observe_me(membership: bool | None, peer_configuration: dict[str, Any]) -> bool:
    if membership is not None:
        return membership
    value = (peer_configuration or {}).get("observe_me")
    return value if isinstance(value, bool) else True


def summary_work(*, workspace_id: str, session_id: str, kind: str, upto_seq: int) -> NewWork:
    """Summarize the session, in `kind`, up to the message `upto_seq`."""
    return NewWork(
        task_type=SUMMARY,
        work_unit_key=summary_key(workspace_id, session_id),
        session_id=session_id,
        payload={"kind": kind, "upto_seq": upto_seq},
    )


async def _summary_work(
    db: AsyncSession,
    defaults: ReasoningDefaults,
    workspace: Workspace,
    session: Session,
    new_seqs: list[int],
) -> list[NewWork]:
    config = resolve(defaults, workspace=workspace.configuration, session=session.configuration)
    if not config.summary_enabled or not new_seqs:
        return []
    total = await db.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.workspace_id == session.workspace_id, Message.session_id == session.id)
    )
    before = int(total or 0) - len(new_seqs)
    ordered = sorted(new_seqs)
    work = []
    for position in range(before + 1, before + len(ordered) + 1):
        for kind, every in (
            ("short", config.short_summary_every),
            ("long", config.long_summary_every),
        ):
            if position % every == 0:
                upto = ordered[position - before - 1]
                work.append(
                    summary_work(
                        workspace_id=session.workspace_id,
                        session_id=session.id,
                        kind=kind,
                        upto_seq=upto,
                    )
                )
    return work


async def enqueue_dream(
    db: AsyncSession,
    *,
    workspace_id: str,
    observer_id: str,
    observed_id: str,
    session_id: str | None = None,
) -> bool:
    """A consolidation pass over what `observer_id` knows about `observed_id`; False when one
    is already waiting (it will see everything known by the time it runs). `session_id`: the
    session whose `dream` configuration applies besides the workspace's (Honcho 3's
    `schedule_dream`)."""
    key = dream_key(workspace_id, observer_id, observed_id)
    waiting = await db.scalar(
        select(WorkItem.id)
        .where(WorkItem.work_unit_key == key, WorkItem.status == PENDING)
        .limit(1)
    )
    if waiting is not None:
        return False
    await enqueue(
        db,
        workspace_id,
        [
            NewWork(
                task_type=DREAM,
                work_unit_key=dream_key(workspace_id, observer_id, observed_id),
                session_id=session_id,
                sender_id=observed_id,
                observer_id=observer_id,
                payload={"observer": observer_id, "observed": observed_id},
            )
        ],
    )
    return True


async def enqueue_card_rebuild(
    db: AsyncSession, *, workspace_id: str, observer_id: str, observed_id: str
) -> None:
    """Rebuild `observer_id`'s card of `observed_id` from what is known now, unless a rebuild
    is waiting already (it will read everything known by the time it runs)."""
    key = card_key(workspace_id, observer_id, observed_id)
    waiting = await db.scalar(
        select(WorkItem.id)
        .where(WorkItem.work_unit_key == key, WorkItem.status == PENDING)
        .limit(1)
    )
    if waiting is not None:
        return
    await enqueue(
        db,
        workspace_id,
        [
            NewWork(
                task_type=CARD,
                work_unit_key=key,
                sender_id=observed_id,
                observer_id=observer_id,
                payload={"observer": observer_id, "observed": observed_id},
            )
        ],
    )
