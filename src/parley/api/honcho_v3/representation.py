"""/v3/workspaces/{workspace_id}/peers/{peer_id}: representation, card and context.

The same representations, cards and selection as /v2 (memory/representation.py,
memory/peer_cards.py); what v3 changes is the answer and a few names:

- a representation is Honcho 3's markdown text (`format_as_markdown`: a section per level,
  `[2025-01-01 12:00:00] fact` lines, a deduction's premises under it), not /v2's lists;
- `include_most_frequent` and `max_conclusions` are /v2's `include_most_derived` and
  `max_observations`;
- a `session_id` or a `filters.session_id` allowlist serves explicit conclusions of those
  sessions only;
- a card's observer must exist to be read (404), and is created when a card is set.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, BaseModel, Field

from parley import erasure
from parley.api import honcho_ops
from parley.api.deps import Name, OptionalName, PeerAccess, ReadDb, StateDep, WriteDb
from parley.api.honcho_v2 import reasoning as v2_reasoning
from parley.api.honcho_v2.dialectic import IdField
from parley.api.honcho_v2.reasoning import MAX_CARD_FACTS, PeerCardResponse
from parley.api.honcho_v3.markdown import representation_markdown
from parley.api.honcho_v3.routing import family_router
from parley.api.honcho_v3.schemas import _strip_nul
from parley.api.honcho_v3.session_filters import check_sessions, session_allowlist
from parley.api.storable import Storable, StoredJson
from parley.memory.peers import ensure_peers, get_peer
from parley.memory.representation import (
    SERVER_MAX_OBSERVATIONS,
    RepresentationRequest,
)

router = family_router(prefix="/workspaces/{workspace_id}/peers/{peer_id}", tags=["peers"])

MAX_SESSION_ALLOWLIST = 1000  # Honcho 3's MAX_SESSION_ALLOWLIST_ENTRIES


class V3PeerRepresentationGet(BaseModel):
    session_id: IdField | None = None
    filters: StoredJson | None = None
    target: IdField | None = None
    search_query: Annotated[str, Field(max_length=10_000), Storable] | None = None
    search_top_k: Annotated[int, Field(ge=1, le=100)] | None = None
    search_max_distance: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    include_most_frequent: bool | None = None
    max_conclusions: Annotated[int, Field(ge=1, le=100)] | None = 25


class RepresentationResponse(BaseModel):
    representation: str


class V3PeerCardSet(BaseModel):
    peer_card: list[
        Annotated[str, Field(max_length=1000), AfterValidator(_strip_nul), Storable]
    ] = Field(max_length=MAX_CARD_FACTS)


class V3PeerContext(BaseModel):
    peer_id: str
    target_id: str
    representation: str | None = None
    peer_card: list[str] | None = None


@router.post("/representation", response_model=RepresentationResponse)
async def get_representation(
    workspace_id: Name,
    peer_id: Name,
    body: V3PeerRepresentationGet,
    state: StateDep,
    principal: PeerAccess,
) -> RepresentationResponse:
    """Unknown peers or sessions: an empty representation (`""`), as in Honcho 3."""
    allowlist = session_allowlist(body.filters, body.session_id, limit=MAX_SESSION_ALLOWLIST)
    sessions = [body.session_id] if body.session_id is not None else allowlist
    await check_sessions(principal, state.database, workspace_id, sessions or ())
    representation = await honcho_ops.representation(
        state,
        workspace_id,
        RepresentationRequest(
            observer=peer_id,
            observed=body.target or peer_id,
            session_ids=tuple(sessions) if sessions is not None else None,
            search_query=body.search_query,
            search_top_k=body.search_top_k,
            search_max_distance=body.search_max_distance,
            include_most_derived=bool(body.include_most_frequent),
            max_observations=body.max_conclusions or SERVER_MAX_OBSERVATIONS,
        ),
    )
    return RepresentationResponse(representation=representation_markdown(representation))


@router.get("/card", response_model=PeerCardResponse)
async def get_peer_card(
    workspace_id: Name,
    peer_id: Name,
    db: ReadDb,
    principal: PeerAccess,
    target: OptionalName = None,
) -> PeerCardResponse:
    """404 for an unknown observer (Honcho 3 reads the card from it); null for no card."""
    await get_peer(db=db, workspace_id=workspace_id, peer_id=peer_id)
    return await v2_reasoning.get_peer_card(workspace_id, peer_id, db, principal, target)


@router.put("/card", response_model=PeerCardResponse)
async def set_peer_card(
    workspace_id: Name,
    peer_id: Name,
    body: V3PeerCardSet,
    db: WriteDb,
    state: StateDep,
    _: PeerAccess,
    target: OptionalName = None,
) -> PeerCardResponse:
    """Creates the observer (and its workspace) as needed, as Honcho 3 does; otherwise as
    /v2's: the facts the card no longer holds leave the data agent's turns that showed them."""
    await ensure_peers(db=db, workspace_id=workspace_id, peer_ids=[peer_id])
    await erasure.replace_card(
        db,
        reasoning=state.reasoning,
        workspace_id=workspace_id,
        observer_id=peer_id,
        observed_id=target or peer_id,
        facts=list(body.peer_card),
    )
    return PeerCardResponse(peer_card=list(body.peer_card))


@router.get("/context", response_model=V3PeerContext)
async def get_peer_context(
    workspace_id: Name,
    peer_id: Name,
    state: StateDep,
    _: PeerAccess,
    target: OptionalName = None,
    search_query: Annotated[str | None, Query(max_length=10_000)] = None,
    search_top_k: Annotated[int | None, Query(ge=1, le=100)] = None,
    search_max_distance: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    include_most_frequent: bool = True,
    max_conclusions: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> V3PeerContext:
    """The representation (not scoped to a session) and the card, of `target` (else the
    peer itself) as the peer sees it; 404 for an unknown observer, as in Honcho 3."""
    async with state.database.read() as db:
        await get_peer(db=db, workspace_id=workspace_id, peer_id=peer_id)
    read = await honcho_ops.peer_context(
        state,
        workspace_id,
        peer_id,
        target=target,
        search_query=search_query,
        search_top_k=search_top_k,
        search_max_distance=search_max_distance,
        include_most_derived=include_most_frequent,
        max_observations=max_conclusions,
    )
    return V3PeerContext(
        peer_id=peer_id,
        target_id=read.observed,
        representation=representation_markdown(read.representation),
        peer_card=read.card,
    )
