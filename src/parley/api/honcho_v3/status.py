"""/v3/workspaces/{workspace_id}/queue/status and /schedule_dream.

The queue status is /v2's handler: Honcho 3's `QueueStatus` has the fields of 2.5.1's
`DeriverStatus` (Parley adds the same failures and reasoning mode to both). `schedule_dream`
is v3's name for `trigger_dream`, with v3's dream types: `omni` is a dream, `card_refresh`
rebuilds the peer card from the observations there are (what Honcho 3 calls `rebuild`; Parley's
rebuild never reads the old card, so `rebuild` changes nothing)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import BackgroundTasks, Response
from pydantic import BaseModel, Field

from parley.api.deps import Name, Scope, StateDep, WriteDb, requires
from parley.api.honcho_v2.reasoning import queue_dream
from parley.api.honcho_v2.schemas import DeriverStatus
from parley.api.honcho_v2.status import get_deriver_status
from parley.api.honcho_v3.routing import family_router
from parley.auth.keys import Principal

router = family_router(prefix="/workspaces/{workspace_id}", tags=["workspaces"])

router.add_api_route(
    "/queue/status", get_deriver_status, methods=["GET"], response_model=DeriverStatus
)

# Honcho 3 takes any string: an id that is no peer dreams of nothing
PeerId = Annotated[str, Field(max_length=512)]


class DreamType(StrEnum):
    omni = "omni"
    card_refresh = "card_refresh"


class ScheduleDreamRequest(BaseModel):
    observer: PeerId
    observed: PeerId | None = None
    dream_type: DreamType
    # its `dream` configuration applies; the dream itself spans the pair's sessions
    session_id: Annotated[str | None, Field(max_length=512)] = None
    rebuild: bool = False


@router.post("/schedule_dream", status_code=204, response_model=None)
async def schedule_dream(
    workspace_id: Name,
    body: ScheduleDreamRequest,
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
        observed_id=body.observer if body.observed is None else body.observed,
        card_only=body.dream_type is DreamType.card_refresh,
        session_id=body.session_id,
    )
    return Response(status_code=204)
