"""Projects: a Peaka project is a memory workspace with the same id, plus a name."""

from __future__ import annotations

import secrets
import string

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.organizations import place_project
from parley.errors import Conflict, NotFound
from parley.memory.workspaces import get_or_create_workspace
from parley.store.data_models import Project
from parley.store.models import Workspace

_ALPHABET = string.ascii_letters + string.digits


def new_project_id() -> str:
    """Eight letters and digits, like Peaka's project ids."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


async def create_project(
    *,
    db: AsyncSession,
    name: str,
    description: str | None,
    project_id: str | None = None,
    organization_id: str | None = None,
    org_workspace_id: str | None = None,
) -> Project:
    """Create the project, and its workspace unless a workspace of that id exists already
    (a memory workspace becomes a project too, keeping what it holds). It lives in Peaka's
    `org_workspace_id`, or else in the default one of `organization_id` (None: the default
    organization), see `parley.data.organizations`."""
    project_id = project_id or new_project_id()
    if await db.get(Project, project_id) is not None:
        raise Conflict(f"Project {project_id} already exists")
    await get_or_create_workspace(db=db, workspace_id=project_id)
    project = Project(id=project_id, name=name, description=description)
    db.add(project)
    await db.flush()
    await place_project(
        db=db,
        project_id=project_id,
        organization_id=organization_id,
        workspace_id=org_workspace_id,
    )
    return project


async def get_project(*, db: AsyncSession, project_id: str) -> Project:
    project = await db.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} not found")
    return project


async def list_projects(*, db: AsyncSession) -> list[Project]:
    return list(await db.scalars(select(Project).order_by(Project.created_at, Project.id)))


async def update_project(
    *, db: AsyncSession, project_id: str, name: str, description: str | None
) -> Project:
    project = await get_project(db=db, project_id=project_id)
    project.name = name
    if description is not None:
        project.description = description
    await db.flush()
    return project


async def delete_project(*, db: AsyncSession, project_id: str) -> None:
    """Delete the project with its workspace and, through cascades, all it holds."""
    await get_project(db=db, project_id=project_id)
    await db.execute(delete(Workspace).where(Workspace.id == project_id))
