"""/v3/workspaces"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query, Response

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
from parley.api.errors import detail_errors
from parley.api.honcho_v2.schemas import Filters, Page, Workspace, page_of
from parley.api.honcho_v3.created import answer_created, created_responses, existed
from parley.api.honcho_v3.routing import family_router
from parley.api.honcho_v3.schemas import (
    V3WorkspaceCreate,
    V3WorkspaceUpdate,
    to_stored,
    workspace_out,
)
from parley.auth.keys import Principal
from parley.memory import workspaces as service

router = family_router(tags=["workspaces"])

Reverse = Annotated[bool, Query(description="Newest first")]


@router.post("/workspaces", response_model=Workspace, responses=created_responses(Workspace))
async def get_or_create_workspace(
    body: V3WorkspaceCreate,
    response: Response,
    db: WriteDb,
    principal: Annotated[Principal, requires(Scope.AUTHENTICATED)],
) -> dict[str, Any]:
    changes = bool(body.metadata) or body.configuration is not None
    check_workspace_create(principal, body.id, changes=changes)
    was = await existed(service.get_workspace(db=db, workspace_id=body.id))
    row = await service.get_or_create_workspace(
        db=db,
        workspace_id=body.id,
        metadata=body.metadata or None,
        configuration=to_stored(body.configuration),
    )
    answer_created(response, existed=was)
    return workspace_out(row)


@router.post("/workspaces/list", response_model=Page[Workspace])
async def list_workspaces(
    db: ReadDb,
    principal: Annotated[Principal, requires(Scope.ADMIN)],
    body: Annotated[Filters | None, Body()] = None,
    reverse: Reverse = False,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await ops.list_workspaces(
        db=db, principal=principal, body=body, page=page, size=size, reverse=reverse
    )
    return page_of(result, workspace_out)


@router.put("/workspaces/{workspace_id}", response_model=Workspace)
async def update_workspace(
    workspace_id: Name,
    body: V3WorkspaceUpdate,
    db: WriteDb,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
) -> dict[str, Any]:
    row = await service.update_workspace(
        db=db,
        workspace_id=workspace_id,
        metadata=body.metadata,
        configuration=to_stored(body.configuration),
    )
    return workspace_out(row)


@router.delete("/workspaces/{workspace_id}", status_code=202, responses=detail_errors(409))
async def delete_workspace(
    workspace_id: Name,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
    __: DataChange,  # a workspace may be a Peaka project: its catalogs and keys go with it
    ___: KeyChange,
    db: WriteDb,
) -> dict[str, str]:
    """As in Honcho 3: 409 while the workspace has sessions (delete them first). Parley
    deletes the workspace, with everything in it, before answering."""
    await service.get_workspace(db=db, workspace_id=workspace_id)
    await service.check_no_active_sessions(db=db, workspace_id=workspace_id)
    await service.delete_workspace(db=db, workspace_id=workspace_id)
    return {"message": "Workspace deletion accepted"}
