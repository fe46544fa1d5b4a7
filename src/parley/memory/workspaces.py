"""Workspaces: the tenant boundary of the memory domain (a Peaka project is one too)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import NotFound
from parley.memory.filters import Field, Kind, compile_filters
from parley.memory.pages import Page, paginate
from parley.store.models import Workspace
from parley.store.upsert import insert_missing

FILTER_FIELDS = {
    "id": Field(Workspace.id, Kind.TEXT),
    "metadata": Field(Workspace.metadata_, Kind.JSON),
    "created_at": Field(Workspace.created_at, Kind.DATETIME),
}


async def get_workspace(*, db: AsyncSession, workspace_id: str) -> Workspace:
    workspace = await db.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"Workspace {workspace_id} not found")
    return workspace


async def get_or_create_workspace(
    *,
    db: AsyncSession,
    workspace_id: str,
    metadata: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
) -> Workspace:
    """Return the workspace, creating it if needed; given metadata/configuration overwrite."""
    await insert_missing(
        db,
        Workspace,
        [{"id": workspace_id, "metadata_": metadata or {}, "configuration": configuration or {}}],
    )
    workspace = await get_workspace(db=db, workspace_id=workspace_id)
    overwrite_metadata_and_configuration(workspace, metadata, configuration)
    await db.flush()
    return workspace


async def update_workspace(
    *,
    db: AsyncSession,
    workspace_id: str,
    metadata: dict[str, Any] | None,
    configuration: dict[str, Any] | None,
) -> Workspace:
    return await get_or_create_workspace(
        db=db, workspace_id=workspace_id, metadata=metadata, configuration=configuration
    )


async def delete_workspace(*, db: AsyncSession, workspace_id: str) -> Workspace:
    """Delete the workspace and, through cascading keys, everything stored in it."""
    workspace = await get_workspace(db=db, workspace_id=workspace_id)
    await db.execute(delete(Workspace).where(Workspace.id == workspace_id))
    db.expunge(workspace)
    return workspace


async def list_workspaces(
    *, db: AsyncSession, filters: dict[str, Any] | None, page: int, size: int
) -> Page[Workspace]:
    where = compile_filters(filters, FILTER_FIELDS, db.bind.dialect.name)
    stmt = select(Workspace).where(where).order_by(Workspace.created_at, Workspace.id)
    return await paginate(db, stmt, page=page, size=size)


def overwrite_metadata_and_configuration(
    row: Any, metadata: dict[str, Any] | None, configuration: dict[str, Any] | None
) -> None:
    """Get-or-create semantics of Honcho: given values replace the stored ones."""
    if metadata is not None:
        row.metadata_ = metadata
    if configuration is not None:
        row.configuration = configuration
