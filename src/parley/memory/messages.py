"""Messages: what peers said in sessions. Stored in batches; the order of arrival is `seq`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import NotFound
from parley.ids import new_public_id
from parley.memory.configuration import ReasoningDefaults
from parley.memory.filters import FilterField, Kind, compile_filters
from parley.memory.pages import Page, paginate
from parley.memory.reasoning import plan_message_work
from parley.memory.sessions import PeerConfig, get_or_create_session
from parley.store.models import Message, Session, utcnow
from parley.tokens import count_tokens_batch

MAX_CONTENT_CHARS = 25_000
MAX_BATCH = 100

# Honcho's filter columns for messages (src/utils/filter.py): no `id`, no `content`.
FILTER_FIELDS = {
    "workspace_id": FilterField(Message.workspace_id, Kind.TEXT),
    "session_id": FilterField(Message.session_id, Kind.TEXT),
    "peer_id": FilterField(Message.peer_id, Kind.TEXT),
    "token_count": FilterField(Message.token_count, Kind.INT),
    "metadata": FilterField(Message.metadata_, Kind.JSON),
    "created_at": FilterField(Message.created_at, Kind.DATETIME),
}


@dataclass(frozen=True)
class StoredMessage:
    """A message just written, with the attribute names of the `Message` row it became
    (building ORM objects for a 100-message batch costs more than the INSERT)."""

    id: str
    workspace_id: str
    session_id: str
    peer_id: str
    content: str
    metadata_: dict[str, Any]
    internal_metadata: dict[str, Any]
    token_count: int
    created_at: datetime


@dataclass(frozen=True)
class NewMessage:
    content: str
    peer_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    configuration: dict[str, Any] | None = None
    created_at: datetime | None = None
    internal_metadata: dict[str, Any] = field(default_factory=dict)


async def create_messages(
    *,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    messages: list[NewMessage],
    reasoning: ReasoningDefaults | None,
) -> list[StoredMessage]:
    """Store a batch in one transaction. The session and the senders are created if missing,
    and each sender joins the session (existing memberships keep their settings). With
    `reasoning`, the reasoning work the batch causes is enqueued in the same transaction."""
    # Count tokens before the first statement: on SQLite that opens the write transaction.
    token_counts = await asyncio.to_thread(count_tokens_batch, [m.content for m in messages])
    senders = {m.peer_id: PeerConfig() for m in messages}
    await get_or_create_session(
        db=db, workspace_id=workspace_id, session_id=session_id, peers=senders
    )
    if reasoning is not None and db.get_bind().dialect.name == "postgresql":
        # Writers to one session take turns, so seqs, work item ids and the message count
        # that triggers summaries agree (SQLite has one writer at a time anyway).
        await db.execute(
            select(Session.id)
            .where(Session.workspace_id == workspace_id, Session.id == session_id)
            .with_for_update()
        )
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": new_public_id(),
            "workspace_id": workspace_id,
            "session_id": session_id,
            "peer_id": m.peer_id,
            "content": m.content,
            "metadata_": m.metadata,
            "internal_metadata": _internal(m),
            "token_count": tokens,
            "created_at": m.created_at or now,
        }
        for m, tokens in zip(messages, token_counts, strict=True)
    ]
    # One executemany, no RETURNING: every value the response needs is known here (SQLite
    # would otherwise run one INSERT per row to return rows in order).
    await db.execute(insert(Message), rows)
    stored = [StoredMessage(**row) for row in rows]
    if reasoning is not None:
        await plan_message_work(
            db,
            defaults=reasoning,
            workspace_id=workspace_id,
            session_id=session_id,
            messages=stored,
        )
    return stored


async def list_messages(
    *,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    filters: dict[str, Any] | None,
    reverse: bool,
    page: int,
    size: int,
) -> Page[Message]:
    """The session's messages in order; an unknown session has none (as in Honcho)."""
    where = await compile_filters(filters, FILTER_FIELDS, db.get_bind().dialect.name)
    stmt = (
        select(Message)
        .where(Message.workspace_id == workspace_id, Message.session_id == session_id, where)
        .order_by(Message.seq.desc() if reverse else Message.seq)
    )
    return await paginate(db, stmt, page=page, size=size)


async def get_message(
    *, db: AsyncSession, workspace_id: str, session_id: str, message_id: str
) -> Message:
    message = await db.scalar(
        select(Message).where(
            Message.workspace_id == workspace_id,
            Message.session_id == session_id,
            Message.id == message_id,
        )
    )
    if message is None:
        raise NotFound(f"Message {message_id} not found in session {session_id}")
    return message


async def update_message(
    *,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    message_id: str,
    metadata: dict[str, Any] | None,
) -> Message:
    message = await get_message(
        db=db, workspace_id=workspace_id, session_id=session_id, message_id=message_id
    )
    if metadata is not None:
        message.metadata_ = metadata
        await db.flush()
    return message


def _internal(message: NewMessage) -> dict[str, Any]:
    internal = dict(message.internal_metadata)
    if message.configuration:
        internal["configuration"] = message.configuration
    return internal
