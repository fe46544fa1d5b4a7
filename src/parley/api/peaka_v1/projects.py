"""/api/v1/projects and their API keys (partner keys only, like Peaka)."""

from __future__ import annotations

import asyncio
import shutil
from typing import Annotated, Any

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from parley.api.deps import (
    DataChange,
    KeyChange,
    Name,
    OwnProject,
    ReadDb,
    Scope,
    WriteDb,
    requires,
)
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import (
    ApiKeyRequest,
    ProjectRequest,
    api_key_out,
    project_out,
)
from parley.auth import peaka_keys
from parley.auth.keys import Principal
from parley.data import organizations
from parley.data import projects as service
from parley.data.cache_files import project_folder
from parley.data.connections import DataServices, list_connections
from parley.data.exports import remove_project_files
from parley.data.internal.service import remove_project_file

router = family_router(tags=["projects"])
Partner = Annotated[Principal, requires(Scope.ADMIN)]


@router.get("/projects", response_model=list[out.Project])
async def list_projects(db: ReadDb, principal: Partner) -> list[dict[str, Any]]:
    """A partner key lists its organization's projects; an admin key every project."""
    if principal.is_partner_key:
        own = principal.organization or await organizations.default_organization_id(db=db)
        rows = await organizations.list_projects_of_organization(db=db, organization_id=own or "")
    else:
        rows = await service.list_projects(db=db)
    return [project_out(p) for p in rows]


@router.post("/projects", responses=peaka_errors(409), response_model=out.Project)
async def create_project(body: ProjectRequest, db: WriteDb, principal: Partner) -> dict[str, Any]:
    """The project lands in the default workspace of the partner's organization."""
    row = await service.create_project(
        db=db,
        name=body.name,
        description=body.description,
        project_id=body.id,
        organization_id=principal.organization,
    )
    return project_out(row)


@router.get("/projects/{project_id}", response_model=out.Project)
async def read_project(project_id: Name, db: ReadDb, _: OwnProject) -> dict[str, Any]:
    return project_out(await service.get_project(db=db, project_id=project_id))


@router.put("/projects/{project_id}", response_model=out.Project)
async def update_project(
    project_id: Name, body: ProjectRequest, db: WriteDb, _: Partner
) -> dict[str, Any]:
    row = await service.update_project(
        db=db, project_id=project_id, name=body.name, description=body.description
    )
    return project_out(row)


@router.delete(
    "/projects/{project_id}",
    response_class=Response,
    responses={200: {"description": "Project deleted"}},
)
async def delete_project(
    project_id: Name, _: Partner, __: DataChange, ___: KeyChange, db: WriteDb, data: DataDep
) -> Response:
    """Deletes the project's workspace and everything in it, closes its open connectors and
    removes its uploaded files."""
    await remove_project(db=db, data=data, project_id=project_id)
    return Response(status_code=200)


async def remove_project(*, db: AsyncSession, data: DataServices, project_id: str) -> None:
    """What deleting a project does (also under /organizations/.../projects)."""
    connections = await list_connections(db=db, project_id=project_id)
    await service.delete_project(db=db, project_id=project_id)
    for connection in connections:
        await data.pool.forget(connection.id)
    uploads = data.pool.env.for_project(project_id).project_uploads()
    if uploads is not None:
        shutil.rmtree(uploads, ignore_errors=True)
    await asyncio.to_thread(remove_project_file, data, project_id)
    remove_project_files(data.exports_dir, project_id)
    if data.cache_dir is not None:  # its cached copies (their rows went with the project)
        shutil.rmtree(project_folder(data.cache_dir, project_id), ignore_errors=True)


@router.get("/projects/{project_id}/apiKeys", response_model=list[out.ApiKey])
async def list_api_keys(project_id: Name, db: ReadDb, _: Partner) -> list[dict[str, Any]]:
    await service.get_project(db=db, project_id=project_id)
    return [api_key_out(k) for k in await peaka_keys.list_api_keys(db=db, project_id=project_id)]


@router.post("/projects/{project_id}/apiKeys", response_model=out.ApiKey)
async def create_api_key(
    project_id: Name, body: ApiKeyRequest, db: WriteDb, _: Partner
) -> dict[str, Any]:
    """The key's clear text is in this response only; Parley keeps its hash."""
    await service.get_project(db=db, project_id=project_id)
    row, token = await peaka_keys.create_api_key(
        db=db, project_id=project_id, name=body.name, expires_at=body.expiresAt
    )
    return api_key_out(row, token)


@router.delete(
    "/projects/{project_id}/apiKeys/{api_key_id}",
    response_class=Response,
    responses={200: {"description": "API key deleted"}},
)
async def delete_api_key(
    project_id: Name, api_key_id: str, _: Partner, __: KeyChange, db: WriteDb
) -> Response:
    await peaka_keys.delete_api_key(db=db, project_id=project_id, key_id=api_key_id)
    return Response(status_code=200)
