"""/v2/workspaces/{workspace_id}/peers"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body

from parley import erasure
from parley.api import honcho_ops as ops
from parley.api.access import check_peer_create
from parley.api.deps import (
    Name,
    PageNumber,
    PageSize,
    ReadDb,
    Scope,
    StateDep,
    WriteDb,
    requires,
)
from parley.api.honcho_v2.routing import family_router
from parley.api.honcho_v2.schemas import (
    Filters,
    Page,
    Peer,
    PeerCreate,
    PeerUpdate,
    Session,
    page_of,
    peer_out,
    session_out,
)
from parley.auth.keys import Principal
from parley.memory import peers as service
from parley.memory import sessions as session_service

router = family_router(prefix="/workspaces/{workspace_id}/peers", tags=["peers"])


@router.post("/list", response_model=Page[Peer])
async def list_peers(
    workspace_id: Name,
    db: ReadDb,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
    body: Annotated[Filters | None, Body()] = None,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await ops.list_peers(db=db, workspace_id=workspace_id, body=body, page=page, size=size)
    return page_of(result, peer_out)


@router.post("", response_model=Peer)
async def get_or_create_peer(
    workspace_id: Name,
    body: PeerCreate,
    db: WriteDb,
    principal: Annotated[Principal, requires(Scope.WORKSPACE_MEMBER)],
) -> dict[str, Any]:
    check_peer_create(principal, body.id)
    row = await service.get_or_create_peer(
        db=db,
        workspace_id=workspace_id,
        peer_id=body.id,
        metadata=body.metadata,
        configuration=body.configuration,
    )
    return peer_out(row)


@router.put("/{peer_id}", response_model=Peer)
async def update_peer(
    workspace_id: Name,
    peer_id: Name,
    body: PeerUpdate,
    db: WriteDb,
    _: Annotated[Principal, requires(Scope.PEER)],
) -> dict[str, Any]:
    row = await service.get_or_create_peer(
        db=db,
        workspace_id=workspace_id,
        peer_id=peer_id,
        metadata=body.metadata,
        configuration=body.configuration,
    )
    return peer_out(row)


@router.delete("/{peer_id}")
async def delete_peer(
    workspace_id: Name,
    peer_id: Name,
    db: WriteDb,
    state: StateDep,
    _: Annotated[Principal, requires(Scope.PEER)],
) -> dict[str, str]:
    """Parley's extension (Honcho has no peer delete): deletes the peer before answering,
    with its messages (and all that goes with a message), its memberships, the observations
    it holds and those held about it, its peer cards, its queue items and the data agent
    threads it asked in. Workspace keys and the peer's own key may."""
    await erasure.delete_peer(
        db, reasoning=state.reasoning, workspace_id=workspace_id, peer_id=peer_id
    )
    return {"message": "Peer deleted successfully"}


@router.post("/{peer_id}/sessions", response_model=Page[Session])
async def list_peer_sessions(
    workspace_id: Name,
    peer_id: Name,
    db: ReadDb,
    _: Annotated[Principal, requires(Scope.PEER)],
    body: Annotated[Filters | None, Body()] = None,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await session_service.list_sessions(  # an unknown peer has none
        db=db,
        workspace_id=workspace_id,
        filters=body.filters if body else None,
        page=page,
        size=size,
        peer_id=peer_id,
    )
    return page_of(result, session_out)
