"""Messages: what peers said in sessions. Stored in batches; the order of arrival is `seq`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import NotFound
from parley.ids import new_public_id
from parley.memory.filters import Field, Kind, compile_filters
from parley.memory.pages import Page, paginate
from parley.memory.sessions import PeerConfig, get_or_create_session, get_session
from parley.store.models import Message, utcnow
from parley.tokens import count_tokens

MAX_CONTENT_CHARS = 25_000
MAX_BATCH = 100

FILTER_FIELDS = {
    "id": Field(Message.id, Kind.TEXT),
    "workspace_id": Field(Message.workspace_id, Kind.TEXT),
    "session_id": Field(Message.session_id, Kind.TEXT),
    "peer_id": Field(Message.peer_id, Kind.TEXT),
    "content": Field(Message.content, Kind.TEXT),
    "token_count": Field(Message.token_count, Kind.INT),
    "metadata": Field(Message.metadata_, Kind.JSON),
    "created_at": Field(Message.created_at, Kind.DATETIME),
}


@dataclass(frozen=True)
class NewMessage:
    content: str
    peer_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    configuration: dict[str, Any] | None = None
    created_at: datetime | None = None
    internal_metadata: dict[str, Any] = field(default_factory=dict)


async def create_messages(
    *, db: AsyncSession, workspace_id: str, session_id: str, messages: list[NewMessage]
) -> list[Message]:
    """Store a batch in one transaction. The session and the senders are created if missing,
    and each sender joins the session (existing memberships keep their settings)."""
    senders = {m.peer_id: PeerConfig() for m in messages}
    await get_or_create_session(
        db=db, workspace_id=workspace_id, session_id=session_id, peers=senders
    )
    now = utcnow()
    rows = [
        {
            "id": new_public_id(),
            "workspace_id": workspace_id,
            "session_id": session_id,
            "peer_id": m.peer_id,
            "content": m.content,
            "metadata_": m.metadata,
            "internal_metadata": _internal(m),
            "token_count": count_tokens(m.content),
            "created_at": m.created_at or now,
        }
        for m in messages
    ]
    stored = await db.scalars(
        insert(Message).returning(Message, sort_by_parameter_order=True), rows
    )
    return list(stored.all())


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
    await get_session(db=db, workspace_id=workspace_id, session_id=session_id)
    where = compile_filters(filters, FILTER_FIELDS, db.bind.dialect.name)
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
