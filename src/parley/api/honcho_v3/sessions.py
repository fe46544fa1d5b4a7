"""/v3/workspaces/{workspace_id}/sessions and their peers (context, summaries and search come
with their own modules). Where v3 differs from /v2: get-or-create answers 201 when it created,
clone is a POST answering 201, and a peer's config is set with PUT answering 204."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query, Response

from parley.api import honcho_ops as ops
from parley.api.deps import (
    Name,
    PageNumber,
    PageSize,
    ReadDb,
    Scope,
    SessionAccess,
    WriteDb,
    requires,
)
from parley.api.honcho_v2 import sessions as v2_sessions
from parley.api.honcho_v2.schemas import (
    CreateName,
    Filters,
    Page,
    Peer,
    Session,
    SessionPeerConfig,
    page_of,
)
from parley.api.honcho_v2.sessions import PeerConfigs
from parley.api.honcho_v3.created import answer_created, created_responses, existed
from parley.api.honcho_v3.routing import family_router
from parley.api.honcho_v3.schemas import V3SessionCreate, V3SessionUpdate, session_out, to_stored
from parley.api.honcho_v3.workspaces import Reverse
from parley.auth.keys import Principal
from parley.memory import sessions as service

router = family_router(prefix="/workspaces/{workspace_id}/sessions", tags=["sessions"])


@router.post("", response_model=Session, responses=created_responses(Session))
async def get_or_create_session(
    workspace_id: Name,
    body: V3SessionCreate,
    response: Response,
    db: WriteDb,
    principal: Annotated[Principal, requires(Scope.WORKSPACE_MEMBER)],
) -> dict[str, Any]:
    was = await existed(service.get_session(db=db, workspace_id=workspace_id, session_id=body.id))
    row = await ops.get_or_create_session(
        principal=principal,
        db=db,
        workspace_id=workspace_id,
        session_id=body.id,
        metadata=body.metadata,
        configuration=to_stored(body.configuration),
        peers=body.peers,
    )
    answer_created(response, existed=was)
    return session_out(row)


@router.post("/list", response_model=Page[Session])
async def list_sessions(
    workspace_id: Name,
    db: ReadDb,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
    body: Annotated[Filters | None, Body()] = None,
    reverse: Reverse = False,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await service.list_sessions(
        db=db,
        workspace_id=workspace_id,
        filters=body.filters if body else None,
        page=page,
        size=size,
        reverse=reverse,
    )
    return page_of(result, session_out)


@router.put("/{session_id}", response_model=Session)
async def update_session(
    workspace_id: Name, session_id: Name, body: V3SessionUpdate, db: WriteDb, _: SessionAccess
) -> dict[str, Any]:
    """Get-or-creates the session, as in Honcho."""
    row = await service.get_or_create_session(
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        metadata=body.metadata,
        configuration=to_stored(body.configuration),
    )
    return session_out(row)


# as in /v2: 202, deleted before answering
router.add_api_route(
    "/{session_id}", v2_sessions.delete_session, methods=["DELETE"], status_code=202
)


@router.post("/{session_id}/clone", response_model=Session, status_code=201)
async def clone_session(
    workspace_id: Name,
    session_id: Name,
    db: WriteDb,
    _: SessionAccess,
    message_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    row = await service.clone_session(
        db=db, workspace_id=workspace_id, session_id=session_id, up_to_message_id=message_id
    )
    return session_out(row)


@router.post("/{session_id}/peers", response_model=Session)
async def add_peers(
    workspace_id: Name,
    session_id: Name,
    peers: PeerConfigs,
    db: WriteDb,
    principal: Annotated[Principal, requires(Scope.WORKSPACE_MEMBER)],
) -> dict[str, Any]:
    row = await ops.add_session_peers(
        principal=principal, db=db, workspace_id=workspace_id, session_id=session_id, peers=peers
    )
    return session_out(row)


@router.put("/{session_id}/peers", response_model=Session)
async def set_peers(
    workspace_id: Name, session_id: Name, peers: PeerConfigs, db: WriteDb, principal: SessionAccess
) -> dict[str, Any]:
    row = await ops.set_session_peers(
        principal=principal, db=db, workspace_id=workspace_id, session_id=session_id, peers=peers
    )
    return session_out(row)


@router.delete("/{session_id}/peers", response_model=Session)
async def remove_peers(
    workspace_id: Name,
    session_id: Name,
    peers: Annotated[list[CreateName], Body()],
    db: WriteDb,
    principal: SessionAccess,
) -> dict[str, Any]:
    row = await ops.remove_session_peers(
        principal=principal,
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        peer_ids=peers,
    )
    return session_out(row)


router.add_api_route(
    "/{session_id}/peers",
    v2_sessions.list_session_peers,
    methods=["GET"],
    response_model=Page[Peer],
)


@router.get("/{session_id}/peers/{peer_id}/config", response_model=SessionPeerConfig)
async def get_peer_config(
    workspace_id: Name, session_id: Name, peer_id: Name, db: ReadDb, _: SessionAccess
) -> SessionPeerConfig:
    """404 for a peer that was never a member, as in Honcho."""
    config = await service.get_peer_config(
        db=db, workspace_id=workspace_id, session_id=session_id, peer_id=peer_id
    )
    return SessionPeerConfig(observe_me=config.observe_me, observe_others=config.observe_others)


@router.put("/{session_id}/peers/{peer_id}/config", status_code=204, response_model=None)
async def set_peer_config(
    workspace_id: Name,
    session_id: Name,
    peer_id: Name,
    body: SessionPeerConfig,
    db: WriteDb,
    principal: SessionAccess,
) -> Response:
    await ops.set_session_peer_config(
        principal=principal,
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        peer_id=peer_id,
        config=body,
    )
    return Response(status_code=204)
