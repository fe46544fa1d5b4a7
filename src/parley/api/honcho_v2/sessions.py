"""/v2/workspaces/{workspace_id}/sessions and their peers.

Clone answers GET (2.5.1) and POST (what honcho-core 1.7+ sends)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query

from parley import erasure
from parley.api import honcho_ops as ops
from parley.api.access import check_not_peer_key
from parley.api.deps import (
    Name,
    PageNumber,
    PageSize,
    ReadDb,
    Scope,
    SessionAccess,
    StateDep,
    WriteDb,
    requires,
)
from parley.api.honcho_v2.routing import family_router
from parley.api.honcho_v2.schemas import (
    CreateName,
    Filters,
    Page,
    Peer,
    Session,
    SessionCreate,
    SessionPeerConfig,
    SessionUpdate,
    config_dict,
    page_of,
    peer_out,
    session_out,
)
from parley.auth.keys import Principal
from parley.memory import peers as peer_service
from parley.memory import sessions as service

router = family_router(prefix="/workspaces/{workspace_id}/sessions", tags=["sessions"])

PeerConfigs = Annotated[dict[CreateName, SessionPeerConfig], Body()]


@router.post("", response_model=Session)
async def get_or_create_session(
    workspace_id: Name,
    body: SessionCreate,
    db: WriteDb,
    principal: Annotated[Principal, requires(Scope.WORKSPACE_MEMBER)],
) -> dict[str, Any]:
    row = await ops.get_or_create_session(
        principal=principal,
        db=db,
        workspace_id=workspace_id,
        session_id=body.id,
        metadata=body.metadata,
        configuration=config_dict(body.configuration),
        peers=body.peers,
    )
    return session_out(row)


@router.post("/list", response_model=Page[Session])
async def list_sessions(
    workspace_id: Name,
    db: ReadDb,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
    body: Annotated[Filters | None, Body()] = None,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await service.list_sessions(
        db=db,
        workspace_id=workspace_id,
        filters=body.filters if body else None,
        page=page,
        size=size,
    )
    return page_of(result, session_out)


@router.put("/{session_id}", response_model=Session)
async def update_session(
    workspace_id: Name, session_id: Name, body: SessionUpdate, db: WriteDb, _: SessionAccess
) -> dict[str, Any]:
    row = await service.get_or_create_session(
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        metadata=body.metadata,
        configuration=config_dict(body.configuration),
    )
    return session_out(row)


@router.delete("/{session_id}", status_code=202)
async def delete_session(
    workspace_id: Name, session_id: Name, db: WriteDb, state: StateDep, principal: SessionAccess
) -> dict[str, str]:
    """Deletes the session before answering, with everything derived from it (and the data
    agent thread it is the memory of, if any)."""
    check_not_peer_key(principal, f"delete session {session_id}")
    await erasure.delete_session(
        db, reasoning=state.reasoning, workspace_id=workspace_id, session_id=session_id
    )
    return {"message": "Session deleted successfully"}  # Honcho's words


@router.get("/{session_id}/clone", response_model=Session)
@router.post("/{session_id}/clone", response_model=Session, include_in_schema=False)
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


@router.get("/{session_id}/peers", response_model=Page[Peer])
async def list_session_peers(
    workspace_id: Name,
    session_id: Name,
    db: ReadDb,
    _: SessionAccess,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await peer_service.list_session_peers(  # an unknown session has none
        db=db, workspace_id=workspace_id, session_id=session_id, page=page, size=size
    )
    return page_of(result, peer_out)


@router.get("/{session_id}/peers/{peer_id}/config", response_model=SessionPeerConfig)
async def get_peer_config(
    workspace_id: Name, session_id: Name, peer_id: Name, db: ReadDb, _: SessionAccess
) -> SessionPeerConfig:
    await service.get_session(db=db, workspace_id=workspace_id, session_id=session_id)
    config = await service.get_peer_config(
        db=db, workspace_id=workspace_id, session_id=session_id, peer_id=peer_id
    )
    return SessionPeerConfig(observe_me=config.observe_me, observe_others=config.observe_others)


@router.post("/{session_id}/peers/{peer_id}/config", response_model=SessionPeerConfig)
async def set_peer_config(
    workspace_id: Name,
    session_id: Name,
    peer_id: Name,
    body: SessionPeerConfig,
    db: WriteDb,
    principal: SessionAccess,
) -> SessionPeerConfig:
    await ops.set_session_peer_config(
        principal=principal,
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        peer_id=peer_id,
        config=body,
    )
    return await get_peer_config(workspace_id, session_id, peer_id, db, principal)
