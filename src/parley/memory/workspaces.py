"""Workspaces: the tenant boundary of the memory domain (a Peaka project is one too)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import Conflict, NotFound
from parley.memory.filters import FilterField, Kind, compile_filters
from parley.memory.pages import Page, ordered, paginate
from parley.store.models import Session, Workspace
from parley.store.upsert import insert_missing

FILTER_FIELDS = {
    "id": FilterField(Workspace.id, Kind.TEXT),
    "metadata": FilterField(Workspace.metadata_, Kind.JSON),
    "created_at": FilterField(Workspace.created_at, Kind.DATETIME),
}


async def get_workspace(*, db: AsyncSession, workspace_id: str) -> Workspace:
    workspace = await db.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"Workspace {workspace_id} not found")
    return workspace


async def ensure_workspace(*, db: AsyncSession, workspace_id: str) -> None:
    """Create the workspace if it does not exist: as in Honcho, storing a peer, a session or a
    message in a workspace creates it on first use."""
    row = {"id": workspace_id, "metadata_": {}, "configuration": {}}
    await insert_missing(db, Workspace, [row])


async def get_or_create_workspace(
    *,
    db: AsyncSession,
    workspace_id: str,
    metadata: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
) -> Workspace:
    """Return the workspace, creating it with `metadata` and `configuration` if needed. An
    existing workspace is returned as it is (Honcho 2.5.1: only PUT changes a workspace)."""
    await insert_missing(
        db,
        Workspace,
        [{"id": workspace_id, "metadata_": metadata or {}, "configuration": configuration or {}}],
    )
    return await get_workspace(db=db, workspace_id=workspace_id)


async def update_workspace(
    *,
    db: AsyncSession,
    workspace_id: str,
    metadata: dict[str, Any] | None,
    configuration: dict[str, Any] | None,
) -> Workspace:
    """Create the workspace if needed; given metadata replaces the stored metadata, given
    configuration is merged into the stored one."""
    workspace = await get_or_create_workspace(db=db, workspace_id=workspace_id)
    apply_changes(workspace, metadata, configuration, merge_configuration=True)
    await db.flush()
    return workspace


async def delete_workspace(*, db: AsyncSession, workspace_id: str) -> Workspace:
    """Delete the workspace and, through cascading keys, everything stored in it."""
    workspace = await get_workspace(db=db, workspace_id=workspace_id)
    await db.execute(delete(Workspace).where(Workspace.id == workspace_id))
    db.expunge(workspace)
    return workspace


async def check_no_active_sessions(*, db: AsyncSession, workspace_id: str) -> None:
    """Honcho 3's rule before a workspace is deleted: its sessions go first."""
    active = exists().where(Session.workspace_id == workspace_id, Session.is_active.is_(True))
    if await db.scalar(select(active)):
        raise Conflict(
            f"Cannot delete workspace '{workspace_id}': active session(s) remain. "
            "Delete all sessions first."
        )


async def list_workspaces(
    *,
    db: AsyncSession,
    filters: dict[str, Any] | None,
    page: int,
    size: int,
    reverse: bool = False,
    hidden: Select[str] | None = None,
) -> Page[Workspace]:
    """`hidden`: ids of workspaces left out (another organization's projects)."""
    where = await compile_filters(filters, FILTER_FIELDS, db.get_bind().dialect.name)
    order = ordered(reverse, Workspace.created_at, Workspace.id)
    stmt = select(Workspace).where(where).order_by(*order)
    if hidden is not None:
        stmt = stmt.where(Workspace.id.not_in(hidden))
    return await paginate(db, stmt, page=page, size=size)


def apply_changes(
    row: Any,
    metadata: dict[str, Any] | None,
    configuration: dict[str, Any] | None,
    *,
    merge_configuration: bool,
) -> None:
    """Honcho's update rules: given metadata replaces the stored metadata; given configuration
    replaces it too (peers) or is merged into it key by key at the top level (workspaces,
    sessions), so that setting `summary` keeps an earlier `deriver` setting."""
    if metadata is not None:
        row.metadata_ = metadata
    if configuration is not None:
        row.configuration = (
            {**row.configuration, **configuration} if merge_configuration else configuration
        )
