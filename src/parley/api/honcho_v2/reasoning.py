"""The products of background reasoning: peer cards, session summaries, dreams on demand, and
model usage (a Parley addition)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import BackgroundTasks, Response
from pydantic import BaseModel, Field

from parley import erasure
from parley.api.deps import Name, OptionalName, ReadDb, Scope, StateDep, WriteDb, requires
from parley.api.honcho_v2.routing import family_router
from parley.api.storable import Storable
from parley.auth.keys import Principal
from parley.errors import NotFound
from parley.memory import peer_cards, summaries
from parley.memory.peers import get_peer
from parley.memory.reasoning import enqueue_card_rebuild, enqueue_dream
from parley.memory.usage import workspace_usage
from parley.memory.workspaces import get_workspace
from parley.store.models import SessionSummary

router = family_router(prefix="/workspaces/{workspace_id}")

MAX_CARD_FACTS = 500


class PeerCardResponse(BaseModel):
    peer_card: list[str] | None = None


class PeerCardSet(BaseModel):
    peer_card: list[Annotated[str, Field(max_length=1000), Storable]] = Field(
        max_length=MAX_CARD_FACTS
    )


class Summary(BaseModel):
    content: str
    message_id: str
    summary_type: str
    created_at: str
    token_count: int


class SessionSummaries(BaseModel):
    id: str
    short_summary: Summary | None = None
    long_summary: Summary | None = None


class DreamType(StrEnum):
    consolidate = "consolidate"
    agent = "agent"


class TriggerDreamRequest(BaseModel):
    observer: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-zA-Z0-9_-]+$")]
    observed: (
        Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-zA-Z0-9_-]+$")] | None
    ) = None
    dream_type: DreamType


class ModelUsage(BaseModel):
    role: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int


class WorkspaceUsage(BaseModel):
    workspace_id: str
    items: list[ModelUsage]


@router.get("/peers/{peer_id}/card", response_model=PeerCardResponse, tags=["peers"])
async def get_peer_card(
    workspace_id: Name,
    peer_id: Name,
    db: ReadDb,
    _: Annotated[Principal, requires(Scope.PEER)],
    target: OptionalName = None,
) -> PeerCardResponse:
    observed = target or peer_id  # unknown peers have no card: null, as in Honcho
    return PeerCardResponse(
        peer_card=await peer_cards.get_card(db, workspace_id, peer_id, observed)
    )


@router.put("/peers/{peer_id}/card", response_model=PeerCardResponse, tags=["peers"])
async def set_peer_card(
    workspace_id: Name,
    peer_id: Name,
    body: PeerCardSet,
    db: WriteDb,
    state: StateDep,
    _: Annotated[Principal, requires(Scope.PEER)],
    target: OptionalName = None,
) -> PeerCardResponse:
    """Replaces the card; facts it no longer holds are taken out of the data agent's turns
    that showed them."""
    await erasure.replace_card(
        db,
        reasoning=state.reasoning,
        workspace_id=workspace_id,
        observer_id=peer_id,
        observed_id=target or peer_id,
        facts=list(body.peer_card),
    )
    return PeerCardResponse(peer_card=list(body.peer_card))


# Honcho's names of the two kinds, and its timestamps: UTC to the second, with a Z
SUMMARY_TYPES = {"short": "honcho_chat_summary_short", "long": "honcho_chat_summary_long"}


def iso_seconds(when: datetime) -> str:
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def summary_out(row: SessionSummary | None) -> Summary | None:
    if row is None:
        return None
    return Summary(
        content=row.content,
        message_id=row.message_id,
        summary_type=SUMMARY_TYPES[row.kind],
        created_at=iso_seconds(row.created_at),
        token_count=row.token_count,
    )


@router.get("/sessions/{session_id}/summaries", response_model=SessionSummaries, tags=["sessions"])
async def get_session_summaries(
    workspace_id: Name,
    session_id: Name,
    db: ReadDb,
    _: Annotated[Principal, requires(Scope.SESSION)],
) -> SessionSummaries:
    return SessionSummaries(  # an unknown session has none, as in Honcho
        id=session_id,
        short_summary=summary_out(await summaries.latest(db, workspace_id, session_id, "short")),
        long_summary=summary_out(await summaries.latest(db, workspace_id, session_id, "long")),
    )


async def _peers_exist(db: Any, workspace_id: str, peer_ids: set[str]) -> bool:
    for peer_id in peer_ids:
        try:
            await get_peer(db=db, workspace_id=workspace_id, peer_id=peer_id)
        except NotFound:
            return False
    return True


async def queue_dream(
    db: Any,
    *,
    state: Any,
    background: BackgroundTasks,
    workspace_id: str,
    observer_id: str,
    observed_id: str,
    card_only: bool = False,
    session_id: str | None = None,
) -> None:
    """What `trigger_dream` (/v2) and `schedule_dream` (/v3) do: a dream, or only the peer
    card rebuilt from what is known (`card_only`). Honcho answers 204 whatever the peers;
    unknown peers have nothing to dream about, so nothing is queued for them. `session_id`:
    whose `dream` configuration applies besides the workspace's (the dream spans sessions)."""
    if not await _peers_exist(db, workspace_id, {observer_id, observed_id}):
        return
    pair = {"workspace_id": workspace_id, "observer_id": observer_id, "observed_id": observed_id}
    if card_only:
        await enqueue_card_rebuild(db, **pair)
    else:
        await enqueue_dream(db, **pair, session_id=session_id)
    if state.worker is not None:
        background.add_task(state.worker.notify)  # after the commit


@router.post("/trigger_dream", status_code=204, tags=["workspaces"])
async def trigger_dream(
    workspace_id: Name,
    body: TriggerDreamRequest,
    db: WriteDb,
    state: StateDep,
    background: BackgroundTasks,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
) -> Response:
    await queue_dream(
        db,
        state=state,
        background=background,
        workspace_id=workspace_id,
        observer_id=body.observer,
        observed_id=body.observed or body.observer,
    )
    return Response(status_code=204)


@router.get("/usage", response_model=WorkspaceUsage, tags=["workspaces"])
async def get_workspace_usage(
    workspace_id: Name,
    db: ReadDb,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
) -> dict[str, Any]:
    """Model calls and tokens spent on this workspace, per role and model (Parley only)."""
    await get_workspace(db=db, workspace_id=workspace_id)
    rows = await workspace_usage(db, workspace_id)
    return {
        "workspace_id": workspace_id,
        "items": [
            ModelUsage(
                role=r.role,
                model=r.model,
                calls=r.calls,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
            )
            for r in rows
        ],
    }
