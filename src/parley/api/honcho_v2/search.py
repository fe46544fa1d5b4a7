"""Hybrid message search over a workspace, one peer's messages, or one session."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from parley.api.deps import Name, Scope, StateDep, requires
from parley.api.honcho_v2.routing import family_router
from parley.api.honcho_v2.schemas import Message, message_out
from parley.api.storable import StoredJson
from parley.auth.keys import Principal
from parley.memory.search import SearchScope

router = family_router(prefix="/workspaces/{workspace_id}", tags=["search"])


class MessageSearchOptions(BaseModel):
    query: str = Field(max_length=10_000)
    filters: StoredJson | None = None
    limit: int = Field(default=10, ge=1, le=100)


async def run_search(
    state: Any, scope: SearchScope, body: MessageSearchOptions
) -> list[dict[str, Any]]:
    """The search every family's routes answer with (/v3's body is a MessageSearchOptions)."""
    rows = await state.search.search(scope, body.query, filters=body.filters, limit=body.limit)
    return [message_out(row) for row in rows]


@router.post("/search", response_model=list[Message])
async def search_workspace(
    workspace_id: Name,
    body: MessageSearchOptions,
    state: StateDep,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
) -> list[dict[str, Any]]:
    return await run_search(state, SearchScope(workspace_id), body)


@router.post("/peers/{peer_id}/search", response_model=list[Message])
async def search_peer(
    workspace_id: Name,
    peer_id: Name,
    body: MessageSearchOptions,
    state: StateDep,
    _: Annotated[Principal, requires(Scope.PEER)],
) -> list[dict[str, Any]]:
    return await run_search(state, SearchScope(workspace_id, peer_id=peer_id), body)


@router.post("/sessions/{session_id}/search", response_model=list[Message])
async def search_session(
    workspace_id: Name,
    session_id: Name,
    body: MessageSearchOptions,
    state: StateDep,
    _: Annotated[Principal, requires(Scope.SESSION)],
) -> list[dict[str, Any]]:
    return await run_search(state, SearchScope(workspace_id, session_id=session_id), body)
