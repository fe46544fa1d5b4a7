"""/v3 message search over a workspace, one peer's messages, or one session: /v2's search
(api/honcho_v2/search.py), with Honcho 3's one change to the body: NUL characters are dropped
from the query instead of reaching the search."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import field_validator

from parley.api.deps import Name, Scope, StateDep, requires
from parley.api.honcho_v2.schemas import Message
from parley.api.honcho_v2.search import MessageSearchOptions, run_search
from parley.api.honcho_v3.routing import family_router
from parley.auth.keys import Principal
from parley.memory.search import SearchScope

router = family_router(prefix="/workspaces/{workspace_id}")  # tagged as in Honcho 3


class V3MessageSearchOptions(MessageSearchOptions):
    @field_validator("query", mode="after")
    @classmethod
    def _drop_nul(cls, query: str) -> str:
        return query.replace("\x00", "")


@router.post("/search", response_model=list[Message], tags=["workspaces"])
async def search_workspace(
    workspace_id: Name,
    body: V3MessageSearchOptions,
    state: StateDep,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
) -> list[dict[str, Any]]:
    return await run_search(state, SearchScope(workspace_id), body)


@router.post("/peers/{peer_id}/search", response_model=list[Message], tags=["peers"])
async def search_peer(
    workspace_id: Name,
    peer_id: Name,
    body: V3MessageSearchOptions,
    state: StateDep,
    _: Annotated[Principal, requires(Scope.PEER)],
) -> list[dict[str, Any]]:
    return await run_search(state, SearchScope(workspace_id, peer_id=peer_id), body)


@router.post("/sessions/{session_id}/search", response_model=list[Message], tags=["sessions"])
async def search_session(
    workspace_id: Name,
    session_id: Name,
    body: V3MessageSearchOptions,
    state: StateDep,
    _: Annotated[Principal, requires(Scope.SESSION)],
) -> list[dict[str, Any]]:
    return await run_search(state, SearchScope(workspace_id, session_id=session_id), body)
