"""The operations /v2 and /v3 both serve, written once: the access checks and service calls of
each, returning rows. A family's handler parses its own request model and shapes the rows its
way (`session_out`, `page_of`, status codes), so the two never differ in behaviour. (An
operation that is one service call, such as clone or a message's update, has its one body in
the memory service already.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.api.access import check_membership_change, check_not_peer_key, check_session_write
from parley.api.honcho_v2.schemas import Filters, SessionPeerConfig
from parley.api.state import AppState
from parley.auth.keys import Principal
from parley.data import organizations
from parley.memory import peer_cards
from parley.memory import peers as peer_service
from parley.memory import sessions as session_service
from parley.memory import workspaces as workspace_service
from parley.memory.context import ContextRequest, SessionContext, session_context
from parley.memory.pages import Page
from parley.memory.representation import (
    SERVER_MAX_OBSERVATIONS,
    Representation,
    RepresentationRequest,
    build_representation,
)
from parley.memory.sessions import PeerConfig
from parley.store.models import Peer, Session, Workspace


def peer_config(config: SessionPeerConfig) -> PeerConfig:
    return PeerConfig(observe_me=config.observe_me, observe_others=config.observe_others)


def peer_configs(peers: Mapping[str, SessionPeerConfig] | None) -> dict[str, PeerConfig]:
    """The request's per-peer settings, for the service (/v2 and /v3 send the same shape)."""
    return {peer_id: peer_config(config) for peer_id, config in (peers or {}).items()}


def _filters(body: Filters | None) -> dict[str, Any] | None:
    return body.filters if body else None


# --- workspaces ------------------------------------------------------------------------------


async def list_workspaces(
    *,
    db: AsyncSession,
    principal: Principal,
    body: Filters | None,
    page: int,
    size: int,
    reverse: bool = False,
) -> Page[Workspace]:
    """A partner key does not see another organization's projects."""
    hidden = None
    if principal.is_partner_key:
        hidden = await organizations.projects_outside(db=db, organization_id=principal.organization)
    return await workspace_service.list_workspaces(
        db=db, filters=_filters(body), page=page, size=size, reverse=reverse, hidden=hidden
    )


# --- peers -----------------------------------------------------------------------------------


async def list_peers(
    *,
    db: AsyncSession,
    workspace_id: str,
    body: Filters | None,
    page: int,
    size: int,
    reverse: bool = False,
) -> Page[Peer]:
    """An unknown workspace has none."""
    return await peer_service.list_peers(
        db=db,
        workspace_id=workspace_id,
        filters=_filters(body),
        page=page,
        size=size,
        reverse=reverse,
    )


# --- sessions and their peers ----------------------------------------------------------------


async def get_or_create_session(
    *,
    principal: Principal,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    metadata: dict[str, Any] | None,
    configuration: dict[str, Any] | None,
    peers: Mapping[str, SessionPeerConfig] | None,
) -> Session:
    """`configuration` as stored (each family renames its own sections first)."""
    check_membership_change(principal, (peers or {}).keys())
    await check_session_write(
        principal,
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        joining_peers=(peers or {}).keys(),
    )
    return await session_service.get_or_create_session(
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        metadata=metadata,
        configuration=configuration,
        peers=peer_configs(peers),
    )


async def add_session_peers(
    *,
    principal: Principal,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    peers: Mapping[str, SessionPeerConfig],
) -> Session:
    """Get-or-creates the session (what `session.add_peers()` sends on first use)."""
    check_membership_change(principal, peers)
    await check_session_write(
        principal, db=db, workspace_id=workspace_id, session_id=session_id, joining_peers=peers
    )
    return await session_service.get_or_create_session(
        db=db, workspace_id=workspace_id, session_id=session_id, peers=peer_configs(peers)
    )


async def set_session_peers(
    *,
    principal: Principal,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    peers: Mapping[str, SessionPeerConfig],
) -> Session:
    check_not_peer_key(principal, f"replace the peers of session {session_id}")
    row = await session_service.get_session(db=db, workspace_id=workspace_id, session_id=session_id)
    await session_service.set_peers(
        db=db, workspace_id=workspace_id, session_id=session_id, peers=peer_configs(peers)
    )
    return row


async def remove_session_peers(
    *,
    principal: Principal,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    peer_ids: list[str],
) -> Session:
    check_membership_change(principal, peer_ids)
    row = await session_service.get_session(db=db, workspace_id=workspace_id, session_id=session_id)
    await session_service.remove_peers(
        db=db, workspace_id=workspace_id, session_id=session_id, peer_ids=peer_ids
    )
    return row


async def set_session_peer_config(
    *,
    principal: Principal,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    peer_id: str,
    config: SessionPeerConfig,
) -> None:
    """A peer that is not a member joins with these settings, as in Honcho."""
    check_membership_change(principal, [peer_id])
    await session_service.get_session(db=db, workspace_id=workspace_id, session_id=session_id)
    await session_service.set_peer_config(
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        peer_id=peer_id,
        config=peer_config(config),
    )


# --- representations and context -------------------------------------------------------------


async def representation(
    state: AppState, workspace_id: str, request: RepresentationRequest
) -> Representation:
    return await build_representation(
        database=state.database,
        embedder=state.embedder,
        observation_index=state.observation_index,
        workspace_id=workspace_id,
        request=request,
    )


@dataclass(frozen=True)
class PeerContextRead:
    observed: str  # `target`, else the peer itself
    representation: Representation
    card: list[str] | None


async def peer_context(
    state: AppState,
    workspace_id: str,
    peer_id: str,
    *,
    target: str | None,
    search_query: str | None,
    search_top_k: int | None,
    search_max_distance: float | None,
    include_most_derived: bool,
    max_observations: int | None,
) -> PeerContextRead:
    """The peer's representation of `target` (else of itself), not scoped to a session, and
    its card of them. /v3 names the last two `include_most_frequent` and `max_conclusions`."""
    observed = target or peer_id
    found = await representation(
        state,
        workspace_id,
        RepresentationRequest(
            observer=peer_id,
            observed=observed,
            search_query=search_query,
            search_top_k=search_top_k,
            search_max_distance=search_max_distance,
            include_most_derived=include_most_derived,
            max_observations=max_observations or SERVER_MAX_OBSERVATIONS,
        ),
    )
    async with state.database.read() as db:
        card = await peer_cards.get_card(db, workspace_id, peer_id, observed)
    return PeerContextRead(observed, found, card)


async def session_context_for(
    state: AppState, principal: Principal, workspace_id: str, request: ContextRequest
) -> SessionContext:
    """A session's context as this key may read it. A session or peer key sees the session,
    not what its peers concluded elsewhere: its observations come from this session only
    (Honcho lets any key of the workspace read every session's observations here)."""
    if not (principal.admin or principal.is_workspace_key):
        request = replace(request, limit_to_session=True)
    return await session_context(
        database=state.database,
        embedder=state.embedder,
        observation_index=state.observation_index,
        workspace_id=workspace_id,
        request=request,
    )
