"""/v3/workspaces/{workspace_id}/peers: the resource routes (chat, representation, card,
context and search come with their own modules)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Response

from parley.api import honcho_ops as ops
from parley.api.access import check_peer_create
from parley.api.deps import Name, PageNumber, PageSize, ReadDb, Scope, WriteDb, requires
from parley.api.honcho_v2.schemas import (
    Filters,
    Page,
    Peer,
    Session,
    page_of,
    peer_out,
)
from parley.api.honcho_v3.created import answer_created, created_responses, existed
from parley.api.honcho_v3.routing import family_router
from parley.api.honcho_v3.schemas import V3PeerCreate, V3PeerUpdate, session_out
from parley.api.honcho_v3.workspaces import Reverse
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
    reverse: Reverse = False,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await ops.list_peers(
        db=db, workspace_id=workspace_id, body=body, page=page, size=size, reverse=reverse
    )
    return page_of(result, peer_out)


@router.post("", response_model=Peer, responses=created_responses(Peer))
async def get_or_create_peer(
    workspace_id: Name,
    body: V3PeerCreate,
    response: Response,
    db: WriteDb,
    principal: Annotated[Principal, requires(Scope.WORKSPACE_MEMBER)],
) -> dict[str, Any]:
    check_peer_create(principal, body.id)
    was = await existed(service.get_peer(db=db, workspace_id=workspace_id, peer_id=body.id))
    row = await service.get_or_create_peer(
        db=db,
        workspace_id=workspace_id,
        peer_id=body.id,
        metadata=body.metadata,
        configuration=body.configuration,
    )
    answer_created(response, existed=was)
    return peer_out(row)


@router.put("/{peer_id}", response_model=Peer)
async def update_peer(
    workspace_id: Name,
    peer_id: Name,
    body: V3PeerUpdate,
    db: WriteDb,
    _: Annotated[Principal, requires(Scope.PEER)],
) -> dict[str, Any]:
    """Get-or-creates the peer (and its workspace), as in Honcho."""
    row = await service.get_or_create_peer(
        db=db,
        workspace_id=workspace_id,
        peer_id=peer_id,
        metadata=body.metadata,
        configuration=body.configuration,
    )
    return peer_out(row)


@router.post("/{peer_id}/sessions", response_model=Page[Session])
async def list_peer_sessions(
    workspace_id: Name,
    peer_id: Name,
    db: ReadDb,
    _: Annotated[Principal, requires(Scope.PEER)],
    body: Annotated[Filters | None, Body()] = None,
    reverse: Reverse = False,
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
        reverse=reverse,
    )
    return page_of(result, session_out)
