"""Counts of the reasoning queue for `deriver/status` (alias `queue/status`), per session too,
and the failures kept past their attempts; and the whole queue's depth for `/metrics`.

A message not embedded yet is findable by its words but not by its meaning, so it counts as a
pending unit too (and apart, as the embedding backlog): a client that waits for "nothing
pending" waits until what it wrote is searchable every way, not only until reasoning is done."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.memory.reasoning import REASONING
from parley.store.models import Message, MessageEmbedding, WorkItem
from parley.store.queue import DONE, FAILED, IN_PROGRESS, PENDING

MAX_FAILURES_SHOWN = 20


@dataclass
class Counts:
    total: int = 0
    completed: int = 0
    in_progress: int = 0
    pending: int = 0
    failed: int = 0
    embedding_backlog: int = 0  # messages waiting for their vector (pending units too)

    def add_embedding_backlog(self, count: int) -> None:
        self.total += count
        self.pending += count
        self.embedding_backlog += count

    def add(self, status: str, count: int) -> None:
        self.total += count
        if status == DONE:
            self.completed += count
        elif status == IN_PROGRESS:
            self.in_progress += count
        elif status == PENDING:
            self.pending += count
        elif status == FAILED:
            self.failed += count


@dataclass(frozen=True)
class Failure:
    task_type: str
    session_id: str | None
    sender_id: str | None
    observer_id: str | None
    attempts: int
    error: str
    failed_at: datetime | None


@dataclass
class QueueStatus:
    overall: Counts
    sessions: dict[str, Counts] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)


async def queue_status(
    db: AsyncSession,
    *,
    workspace_id: str,
    observer_id: str | None = None,
    sender_id: str | None = None,
    session_id: str | None = None,
    embedded_through: int | None = None,
) -> QueueStatus:
    """`embedded_through`: the indexer's watermark (every message up to that seq has been seen
    embedded), so only the tail above it is read; None leaves embeddings out."""
    # reasoning only: webhook deliveries and catalog refreshes show in /metrics
    where = [WorkItem.workspace_id == workspace_id, WorkItem.task_type.in_(REASONING)]
    # Honcho's rule: an observer and a sender together match work of either
    peers = [WorkItem.observer_id == observer_id] if observer_id is not None else []
    if sender_id is not None:
        peers.append(WorkItem.sender_id == sender_id)
    if peers:
        where.append(or_(*peers))
    if session_id is not None:
        where.append(WorkItem.session_id == session_id)
    rows = (
        await db.execute(
            select(WorkItem.session_id, WorkItem.status, func.count())
            .where(*where)
            .group_by(WorkItem.session_id, WorkItem.status)
        )
    ).all()
    overall = Counts()
    sessions: dict[str, Counts] = defaultdict(Counts)
    for session, status, count in rows:
        overall.add(status, count)
        if session is not None:
            sessions[session].add(status, count)
    if embedded_through is not None and observer_id is None:
        # an observer's work is reasoning; a message's vector belongs to its sender
        backlog = await _embedding_backlog(
            db,
            workspace_id=workspace_id,
            sender_id=sender_id,
            session_id=session_id,
            above=embedded_through,
        )
        for session, count in backlog.items():
            overall.add_embedding_backlog(count)
            sessions[session].add_embedding_backlog(count)
    failures = (
        await db.scalars(
            select(WorkItem)
            .where(*where, WorkItem.status == FAILED)
            .order_by(WorkItem.id.desc())
            .limit(MAX_FAILURES_SHOWN)
        )
    ).all()
    return QueueStatus(
        overall=overall,
        sessions=dict(sessions),
        failures=[
            Failure(
                task_type=f.task_type,
                session_id=f.session_id,
                sender_id=f.sender_id,
                observer_id=f.observer_id,
                attempts=f.attempts,
                error=f.last_error or "",
                failed_at=f.finished_at,
            )
            for f in failures
        ],
    )


async def _embedding_backlog(
    db: AsyncSession,
    *,
    workspace_id: str,
    sender_id: str | None,
    session_id: str | None,
    above: int,
) -> dict[str, int]:
    """Session -> messages above seq `above` that have no vector yet."""
    where = [
        Message.workspace_id == workspace_id,
        Message.seq > above,
        MessageEmbedding.seq.is_(None),
    ]
    if sender_id is not None:
        where.append(Message.peer_id == sender_id)
    if session_id is not None:
        where.append(Message.session_id == session_id)
    rows = (
        await db.execute(
            select(Message.session_id, func.count())
            .outerjoin(MessageEmbedding, MessageEmbedding.seq == Message.seq)
            .where(*where)
            .group_by(Message.session_id)
        )
    ).all()
    return {session: count for session, count in rows}


async def queue_depth(db: AsyncSession) -> dict[tuple[str, str], int]:
    """(task_type, status) -> items, over every workspace, for the work not done: pending,
    in progress and failed (done items are left out: they pile up until retention)."""
    rows = (
        await db.execute(
            select(WorkItem.task_type, WorkItem.status, func.count())
            .where(WorkItem.status.in_((PENDING, IN_PROGRESS, FAILED)))
            .group_by(WorkItem.task_type, WorkItem.status)
        )
    ).all()
    return {(task_type, status): count for task_type, status, count in rows}
