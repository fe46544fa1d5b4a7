"""Peaka's partner hierarchy: an organization holds workspaces, a workspace holds projects.

Every project lives in exactly one workspace (`org_workspace_projects`). A project made without
naming one (`POST /api/v1/projects`, the demo) lands in the default workspace of its partner's
organization, made when first needed; a project that predates the hierarchy and somehow has no
row counts as the default organization's. A partner key belongs to one organization (no row in
`organization_keys`: the default one). A workspace that holds projects is not deleted: its
projects would go with it, so the delete is refused until they are moved or deleted.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import Conflict, NotFound
from parley.store.data_models import Project
from parley.store.org_models import Organization, OrganizationKey, OrgWorkspace, OrgWorkspaceProject

DEFAULT_ORGANIZATION = "Default Organization"
DEFAULT_WORKSPACE = "Default Workspace"


async def default_organization(*, db: AsyncSession) -> Organization:
    """The default organization (made by the migration; made again here if it is missing)."""
    found = await db.scalar(
        select(Organization).where(Organization.is_default.is_(True)).order_by(Organization.id)
    )
    if found is not None:
        return found
    return await create_organization(
        db=db, name=DEFAULT_ORGANIZATION, description=DEFAULT_ORGANIZATION, is_default=True
    )


async def create_organization(
    *, db: AsyncSession, name: str, description: str | None = None, is_default: bool = False
) -> Organization:
    """A new organization (Peaka has no route for it: `parley keys partner create
    --new-organization`, or a deployment's own tooling)."""
    """A new organization, with its default workspace."""
    row = Organization(
        id=str(uuid.uuid4()), name=name, description=description, is_default=is_default
    )
    db.add(row)
    await db.flush()
    await default_workspace(db=db, organization_id=row.id)
    return row


async def default_organization_id(*, db: AsyncSession) -> str | None:
    """The default organization's id, read only (None if it is missing)."""
    found: str | None = await db.scalar(
        select(Organization.id).where(Organization.is_default.is_(True)).order_by(Organization.id)
    )
    return found


async def projects_outside(*, db: AsyncSession, organization_id: str | None) -> Select[str]:
    """The ids of the projects of every organization but `organization_id` (None: the default
    one), as a subquery: what a partner key must not see of memory workspaces."""
    default = await default_organization_id(db=db)
    own = organization_id or default
    placed_elsewhere = (
        select(OrgWorkspaceProject.project_id)
        .join(OrgWorkspace, OrgWorkspace.id == OrgWorkspaceProject.org_workspace_id)
        .where(OrgWorkspace.organization_id != own)
    )
    if own == default:
        return placed_elsewhere
    # a project placed nowhere is the default organization's
    unplaced = Project.id.not_in(select(OrgWorkspaceProject.project_id))
    return select(Project.id).where(Project.id.in_(placed_elsewhere) | unplaced)


async def resolve_organization(*, db: AsyncSession, organization_id: str | None) -> str:
    """`organization_id`, or the default organization's id when it is None."""
    if organization_id is not None:
        return organization_id
    return (await default_organization(db=db)).id


async def bind_key(*, db: AsyncSession, api_key_id: str, organization_id: str) -> None:
    """Make a partner key belong to `organization_id`."""
    await get_organization(db=db, organization_id=organization_id)
    db.add(OrganizationKey(api_key_id=api_key_id, organization_id=organization_id))
    await db.flush()


async def list_organizations(*, db: AsyncSession, only: str | None) -> list[Organization]:
    stmt = select(Organization).order_by(Organization.created_at, Organization.id)
    if only is not None:
        stmt = stmt.where(Organization.id == only)
    return list(await db.scalars(stmt))


async def get_organization(*, db: AsyncSession, organization_id: str) -> Organization:
    found = await db.get(Organization, organization_id)
    if found is None:
        raise NotFound(f"Organization {organization_id} not found")
    return found


# --- workspaces ---------------------------------------------------------------------------


async def default_workspace(*, db: AsyncSession, organization_id: str) -> OrgWorkspace:
    found = await db.scalar(
        select(OrgWorkspace)
        .where(OrgWorkspace.organization_id == organization_id, OrgWorkspace.is_default.is_(True))
        .order_by(OrgWorkspace.created_at, OrgWorkspace.id)
    )
    if found is not None:
        return found
    return await create_workspace(
        db=db,
        organization_id=organization_id,
        name=DEFAULT_WORKSPACE,
        description=DEFAULT_WORKSPACE,
        created_by=None,
        is_default=True,
    )


async def list_workspaces(*, db: AsyncSession, organization_id: str) -> list[OrgWorkspace]:
    await get_organization(db=db, organization_id=organization_id)
    rows = await db.scalars(
        select(OrgWorkspace)
        .where(OrgWorkspace.organization_id == organization_id)
        .order_by(OrgWorkspace.created_at, OrgWorkspace.id)
    )
    return list(rows)


async def create_workspace(
    *,
    db: AsyncSession,
    organization_id: str,
    name: str,
    description: str | None,
    created_by: str | None,
    is_default: bool = False,
) -> OrgWorkspace:
    await get_organization(db=db, organization_id=organization_id)
    row = OrgWorkspace(
        id=str(uuid.uuid4()),
        organization_id=organization_id,
        name=name,
        description=description,
        created_by=created_by,
        is_default=is_default,
    )
    db.add(row)
    await db.flush()
    return row


async def get_workspace(
    *, db: AsyncSession, organization_id: str, workspace_id: str
) -> OrgWorkspace:
    await get_organization(db=db, organization_id=organization_id)
    found = await db.get(OrgWorkspace, workspace_id)
    if found is None or found.organization_id != organization_id:
        raise NotFound(f"Workspace {workspace_id} not found")
    return found


async def update_workspace(
    *,
    db: AsyncSession,
    organization_id: str,
    workspace_id: str,
    name: str | None,
    description: str | None,
) -> OrgWorkspace:
    row = await get_workspace(db=db, organization_id=organization_id, workspace_id=workspace_id)
    if name is not None:
        row.name = name
    if description is not None:
        row.description = description
    await db.flush()
    return row


async def delete_workspace(*, db: AsyncSession, organization_id: str, workspace_id: str) -> None:
    """Refused (409) for the default workspace and for one that still holds projects."""
    row = await get_workspace(db=db, organization_id=organization_id, workspace_id=workspace_id)
    if row.is_default:
        raise Conflict(
            f"Workspace {workspace_id} is the organization's default workspace (projects made "
            "without a workspace land there); it cannot be deleted"
        )
    held = await db.scalar(
        select(func.count())
        .select_from(OrgWorkspaceProject)
        .where(OrgWorkspaceProject.org_workspace_id == workspace_id)
    )
    if held:
        raise Conflict(
            f"Workspace {workspace_id} holds {held} project(s); delete them first (deleting a "
            "workspace never deletes projects)"
        )
    await db.delete(row)
    await db.flush()


# --- projects -----------------------------------------------------------------------------


async def place_project(
    *, db: AsyncSession, project_id: str, organization_id: str | None, workspace_id: str | None
) -> str:
    """Put a new project in `workspace_id`, or in the default workspace of the organization
    (None: the default organization); answers the workspace's id."""
    if workspace_id is None:
        org = await resolve_organization(db=db, organization_id=organization_id)
        workspace_id = (await default_workspace(db=db, organization_id=org)).id
    db.add(OrgWorkspaceProject(project_id=project_id, org_workspace_id=workspace_id))
    await db.flush()
    return workspace_id


async def workspace_of(*, db: AsyncSession, project_id: str) -> OrgWorkspace | None:
    return await db.scalar(
        select(OrgWorkspace)
        .join(OrgWorkspaceProject, OrgWorkspaceProject.org_workspace_id == OrgWorkspace.id)
        .where(OrgWorkspaceProject.project_id == project_id)
    )


async def organization_of_project(*, db: AsyncSession, project_id: str) -> str | None:
    """The organization a project belongs to (one without a workspace: the default
    organization); None when there is no such project."""
    found = (
        await db.execute(
            select(Project.id, OrgWorkspace.organization_id)
            .outerjoin(OrgWorkspaceProject, OrgWorkspaceProject.project_id == Project.id)
            .outerjoin(OrgWorkspace, OrgWorkspace.id == OrgWorkspaceProject.org_workspace_id)
            .where(Project.id == project_id)
        )
    ).first()
    if found is None:
        return None
    if found.organization_id is not None:
        return str(found.organization_id)
    return await default_organization_id(db=db)


async def list_projects_in(*, db: AsyncSession, workspace_id: str) -> list[Project]:
    rows = await db.scalars(
        select(Project)
        .join(OrgWorkspaceProject, OrgWorkspaceProject.project_id == Project.id)
        .where(OrgWorkspaceProject.org_workspace_id == workspace_id)
        .order_by(Project.created_at, Project.id)
    )
    return list(rows)


async def list_projects_of_organization(*, db: AsyncSession, organization_id: str) -> list[Project]:
    """The organization's projects; the default organization's include unplaced ones."""
    placed = select(OrgWorkspaceProject.project_id).join(
        OrgWorkspace, OrgWorkspace.id == OrgWorkspaceProject.org_workspace_id
    )
    mine: ColumnElement[bool] = Project.id.in_(
        placed.where(OrgWorkspace.organization_id == organization_id)
    )
    if await default_organization_id(db=db) == organization_id:
        mine = mine | Project.id.not_in(placed)
    rows = await db.scalars(select(Project).where(mine).order_by(Project.created_at, Project.id))
    return list(rows)


async def get_workspace_project(
    *, db: AsyncSession, organization_id: str, workspace_id: str, project_id: str
) -> Project:
    await get_workspace(db=db, organization_id=organization_id, workspace_id=workspace_id)
    found = await db.scalar(
        select(Project)
        .join(OrgWorkspaceProject, OrgWorkspaceProject.project_id == Project.id)
        .where(Project.id == project_id, OrgWorkspaceProject.org_workspace_id == workspace_id)
    )
    if found is None:
        raise NotFound(f"Project {project_id} not found in workspace {workspace_id}")
    return found
