"""Peers: the participants (users, agents) a workspace remembers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import NotFound
from parley.memory.filters import FilterField, Kind, compile_filters
from parley.memory.pages import Page, ordered, paginate
from parley.memory.workspaces import apply_changes, ensure_workspace
from parley.store.engine import Database
from parley.store.models import Peer, SessionPeer
from parley.store.upsert import insert_missing

FILTER_FIELDS = {
    "id": FilterField(Peer.id, Kind.TEXT),
    "workspace_id": FilterField(Peer.workspace_id, Kind.TEXT),
    "metadata": FilterField(Peer.metadata_, Kind.JSON),
    "created_at": FilterField(Peer.created_at, Kind.DATETIME),
}


async def get_peer(*, db: AsyncSession, workspace_id: str, peer_id: str) -> Peer:
    peer = await db.get(Peer, (workspace_id, peer_id))
    if peer is None:
        raise NotFound(f"Peer {peer_id} not found in workspace {workspace_id}")
    return peer


async def ensure_peers(*, db: AsyncSession, workspace_id: str, peer_ids: Iterable[str]) -> None:
    """Create the peers that do not exist yet, and their workspace if needed."""
    await ensure_workspace(db=db, workspace_id=workspace_id)
    rows = [
        {"workspace_id": workspace_id, "id": p, "metadata_": {}, "configuration": {}}
        for p in dict.fromkeys(peer_ids)
    ]
    await insert_missing(db, Peer, rows)


async def ensure_peer(*, database: Database, workspace_id: str, peer_id: str) -> None:
    """Create the peer (and its workspace) if it does not exist. A read first: the peer
    usually exists, and a write would queue behind every other writer (on SQLite, behind the
    worker's commits) for nothing."""
    async with database.read() as db:
        if await db.get(Peer, (workspace_id, peer_id)) is not None:
            return
    async with database.write() as db:
        await ensure_peers(db=db, workspace_id=workspace_id, peer_ids=[peer_id])


async def get_or_create_peer(
    *,
    db: AsyncSession,
    workspace_id: str,
    peer_id: str,
    metadata: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
) -> Peer:
    await ensure_peers(db=db, workspace_id=workspace_id, peer_ids=[peer_id])
    peer = await get_peer(db=db, workspace_id=workspace_id, peer_id=peer_id)
    apply_changes(peer, metadata, configuration, merge_configuration=False)
    await db.flush()
    return peer


async def list_peers(
    *,
    db: AsyncSession,
    workspace_id: str,
    filters: dict[str, Any] | None,
    page: int,
    size: int,
    reverse: bool = False,
) -> Page[Peer]:
    """The workspace's peers, oldest first (newest first with `reverse`); an unknown
    workspace has none (as in Honcho)."""
    where = await compile_filters(filters, FILTER_FIELDS, db.get_bind().dialect.name)
    stmt = (
        select(Peer)
        .where(Peer.workspace_id == workspace_id, where)
        .order_by(*ordered(reverse, Peer.created_at, Peer.id))
    )
    return await paginate(db, stmt, page=page, size=size)


async def list_session_peers(
    *, db: AsyncSession, workspace_id: str, session_id: str, page: int, size: int
) -> Page[Peer]:
    stmt = (
        select(Peer)
        .join(
            SessionPeer,
            (SessionPeer.workspace_id == Peer.workspace_id) & (SessionPeer.peer_id == Peer.id),
        )
        .where(
            SessionPeer.workspace_id == workspace_id,
            SessionPeer.session_id == session_id,
            SessionPeer.current(),  # members now, not those that left (as in Honcho)
        )
        .order_by(SessionPeer.joined_at, Peer.id)
    )
    return await paginate(db, stmt, page=page, size=size)
