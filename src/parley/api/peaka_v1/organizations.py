"""/api/v1/organizations: Peaka's partner hierarchy (organization -> workspaces -> projects),
partner keys only. A partner key reaches its own organization (`deps._partner_reach`); an
admin key every organization. Projects here are the projects of `/api/v1/projects` (same ids,
keys, catalogs); only their `workspaceId` differs: here it is the organization workspace's id,
there (unchanged) the memory workspace's, which is the project's own id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Response
from pydantic import Field

from parley.api.deps import (
    DataChange,
    KeyChange,
    Name,
    ReadDb,
    Scope,
    WriteDb,
    requires,
)
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.projects import remove_project
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import Body as RequestBody
from parley.api.peaka_v1.schemas import ProjectRequest, ShortText, project_out
from parley.api.storable import Storable
from parley.auth.keys import Principal
from parley.data import organizations as service
from parley.data import projects
from parley.store.data_models import Project
from parley.store.org_models import Organization, OrgWorkspace

router = family_router(tags=["organizations"])
Partner = Annotated[Principal, requires(Scope.ADMIN)]
ORG = "/organizations/{organization_id}"
WORKSPACE = ORG + "/workspaces/{workspace_id}"


class OrganizationOut(out.Answer):
    id: str
    name: str
    owner: str | None
    createdAt: str | None
    iconFileId: str | None
    description: str | None


class WorkspaceOut(out.Answer):
    id: str
    name: str
    createdBy: str | None
    organizationId: str
    description: str | None
    createdAt: str | None
    defaultWorkspace: bool


class WorkspaceRequest(RequestBody):
    name: ShortText
    description: Annotated[str, Field(max_length=10_000), Storable] | None = None


class WorkspaceUpdate(RequestBody):
    """PUT: what is given changes, what is left out stays."""

    name: ShortText | None = None
    description: Annotated[str, Field(max_length=10_000), Storable] | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def organization_out(row: Organization) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "owner": row.owner,
        "createdAt": _iso(row.created_at),
        "iconFileId": row.icon_file_id,
        "description": row.description,
    }


def workspace_out(row: OrgWorkspace) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "createdBy": row.created_by,
        "organizationId": row.organization_id,
        "description": row.description,
        "createdAt": _iso(row.created_at),
        "defaultWorkspace": row.is_default,
    }


def placed_project_out(row: Project, workspace_id: str) -> dict[str, Any]:
    return project_out(row) | {"workspaceId": workspace_id}


@router.get("/organizations", response_model=list[OrganizationOut])
async def list_organizations(db: ReadDb, principal: Partner) -> list[dict[str, Any]]:
    """A partner key sees its own organization; an admin key every organization."""
    only = None
    if principal.is_partner_key:
        only = principal.organization or await service.default_organization_id(db=db) or ""
    return [organization_out(o) for o in await service.list_organizations(db=db, only=only)]


@router.get(ORG, response_model=OrganizationOut)
async def read_organization(organization_id: Name, db: ReadDb, _: Partner) -> dict[str, Any]:
    return organization_out(await service.get_organization(db=db, organization_id=organization_id))


# --- workspaces ---------------------------------------------------------------------------


@router.get(ORG + "/workspaces", response_model=list[WorkspaceOut])
async def list_workspaces(organization_id: Name, db: ReadDb, _: Partner) -> list[dict[str, Any]]:
    rows = await service.list_workspaces(db=db, organization_id=organization_id)
    return [workspace_out(w) for w in rows]


@router.post(ORG + "/workspaces", response_model=WorkspaceOut)
async def create_workspace(
    organization_id: Name, body: WorkspaceRequest, db: WriteDb, principal: Partner
) -> dict[str, Any]:
    row = await service.create_workspace(
        db=db,
        organization_id=organization_id,
        name=body.name,
        description=body.description,
        created_by=principal.key_id,
    )
    return workspace_out(row)


@router.get(WORKSPACE, response_model=WorkspaceOut)
async def read_workspace(
    organization_id: Name, workspace_id: Name, db: ReadDb, _: Partner
) -> dict[str, Any]:
    row = await service.get_workspace(
        db=db, organization_id=organization_id, workspace_id=workspace_id
    )
    return workspace_out(row)


@router.put(WORKSPACE, response_model=WorkspaceOut)
async def update_workspace(
    organization_id: Name, workspace_id: Name, body: WorkspaceUpdate, db: WriteDb, _: Partner
) -> dict[str, Any]:
    row = await service.update_workspace(
        db=db,
        organization_id=organization_id,
        workspace_id=workspace_id,
        name=body.name,
        description=body.description,
    )
    return workspace_out(row)


@router.delete(
    WORKSPACE,
    response_class=Response,
    responses={200: {"description": "Workspace deleted"}, **peaka_errors(409)},
)
async def delete_workspace(
    organization_id: Name, workspace_id: Name, db: WriteDb, _: Partner
) -> Response:
    """Refused with a 409 while the workspace holds projects (they are never deleted with
    it), and for the organization's default workspace."""
    await service.delete_workspace(
        db=db, organization_id=organization_id, workspace_id=workspace_id
    )
    return Response(status_code=200)


# --- projects -----------------------------------------------------------------------------


@router.get(WORKSPACE + "/projects", response_model=list[out.Project])
async def list_projects(
    organization_id: Name, workspace_id: Name, db: ReadDb, _: Partner
) -> list[dict[str, Any]]:
    await service.get_workspace(db=db, organization_id=organization_id, workspace_id=workspace_id)
    rows = await service.list_projects_in(db=db, workspace_id=workspace_id)
    return [placed_project_out(p, workspace_id) for p in rows]


@router.post(WORKSPACE + "/projects", responses=peaka_errors(409), response_model=out.Project)
async def create_project(
    organization_id: Name, workspace_id: Name, body: ProjectRequest, db: WriteDb, _: Partner
) -> dict[str, Any]:
    """The same project as `POST /api/v1/projects` makes, in this workspace."""
    await service.get_workspace(db=db, organization_id=organization_id, workspace_id=workspace_id)
    row = await projects.create_project(
        db=db,
        name=body.name,
        description=body.description,
        project_id=body.id,
        org_workspace_id=workspace_id,
    )
    return placed_project_out(row, workspace_id)


@router.get(WORKSPACE + "/projects/{project_id}", response_model=out.Project)
async def read_project(
    organization_id: Name, workspace_id: Name, project_id: Name, db: ReadDb, _: Partner
) -> dict[str, Any]:
    row = await service.get_workspace_project(
        db=db, organization_id=organization_id, workspace_id=workspace_id, project_id=project_id
    )
    return placed_project_out(row, workspace_id)


@router.put(WORKSPACE + "/projects/{project_id}", response_model=out.Project)
async def update_project(
    organization_id: Name,
    workspace_id: Name,
    project_id: Name,
    body: ProjectRequest,
    db: WriteDb,
    _: Partner,
) -> dict[str, Any]:
    await service.get_workspace_project(
        db=db, organization_id=organization_id, workspace_id=workspace_id, project_id=project_id
    )
    row = await projects.update_project(
        db=db, project_id=project_id, name=body.name, description=body.description
    )
    return placed_project_out(row, workspace_id)


@router.delete(
    WORKSPACE + "/projects/{project_id}",
    response_class=Response,
    responses={200: {"description": "Project deleted"}},
)
async def delete_project(
    organization_id: Name,
    workspace_id: Name,
    project_id: Name,
    _: Partner,
    __: DataChange,
    ___: KeyChange,
    db: WriteDb,
    data: DataDep,
) -> Response:
    """What `DELETE /api/v1/projects/{projectId}` does, for a project of this workspace."""
    await service.get_workspace_project(
        db=db, organization_id=organization_id, workspace_id=workspace_id, project_id=project_id
    )
    await remove_project(db=db, data=data, project_id=project_id)
    return Response(status_code=200)
