"""/v2/workspaces"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body

from parley.api import honcho_ops as ops
from parley.api.access import check_workspace_create
from parley.api.deps import (
    DataChange,
    KeyChange,
    Name,
    PageNumber,
    PageSize,
    ReadDb,
    Scope,
    WriteDb,
    requires,
)
from parley.api.honcho_v2.routing import family_router
from parley.api.honcho_v2.schemas import (
    Filters,
    Page,
    Workspace,
    WorkspaceCreate,
    WorkspaceUpdate,
    config_dict,
    page_of,
    workspace_out,
)
from parley.auth.keys import Principal
from parley.memory import workspaces as service

router = family_router(tags=["workspaces"])


@router.post("/workspaces", response_model=Workspace)
async def get_or_create_workspace(
    body: WorkspaceCreate,
    db: WriteDb,
    principal: Annotated[Principal, requires(Scope.AUTHENTICATED)],
) -> dict[str, Any]:
    changes = bool(body.metadata) or body.configuration is not None
    check_workspace_create(principal, body.id, changes=changes)
    row = await service.get_or_create_workspace(
        db=db,
        workspace_id=body.id,
        metadata=body.metadata or None,
        configuration=config_dict(body.configuration),
    )
    return workspace_out(row)


@router.post("/workspaces/list", response_model=Page[Workspace])
async def list_workspaces(
    db: ReadDb,
    principal: Annotated[Principal, requires(Scope.ADMIN)],
    body: Annotated[Filters | None, Body()] = None,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await ops.list_workspaces(db=db, principal=principal, body=body, page=page, size=size)
    return page_of(result, workspace_out)


@router.put("/workspaces/{workspace_id}", response_model=Workspace)
async def update_workspace(
    workspace_id: Name,
    body: WorkspaceUpdate,
    db: WriteDb,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
) -> dict[str, Any]:
    row = await service.update_workspace(
        db=db,
        workspace_id=workspace_id,
        metadata=body.metadata,
        configuration=config_dict(body.configuration),
    )
    return workspace_out(row)


@router.delete("/workspaces/{workspace_id}", response_model=Workspace)
async def delete_workspace(
    workspace_id: Name,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
    __: DataChange,  # a workspace may be a Peaka project: its catalogs and keys go with it
    ___: KeyChange,
    db: WriteDb,
) -> dict[str, Any]:
    return workspace_out(await service.delete_workspace(db=db, workspace_id=workspace_id))
