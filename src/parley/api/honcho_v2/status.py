"""/v2/workspaces/{workspace_id}/deriver/status, and its later name /queue/status.

No reasoning work exists before the durable queue lands (the reasoning-pipeline issue), so the
true state is empty: zero work units of every kind. The counts will come from the queue table.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from parley.api.deps import Name, ReadDb, Scope, requires
from parley.api.honcho_v2.schemas import DeriverStatus, SessionDeriverStatus
from parley.auth.keys import Principal
from parley.memory.peers import get_peer
from parley.memory.sessions import get_session
from parley.memory.workspaces import get_workspace

router = APIRouter(prefix="/workspaces/{workspace_id}", tags=["workspaces"])

OptionalId = Annotated[str | None, Query(max_length=512)]


@router.get("/deriver/status", response_model=DeriverStatus)
@router.get("/queue/status", response_model=DeriverStatus, include_in_schema=False)
async def get_deriver_status(
    workspace_id: Name,
    db: ReadDb,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
    observer_id: OptionalId = None,
    sender_id: OptionalId = None,
    session_id: OptionalId = None,
) -> DeriverStatus:
    await get_workspace(db=db, workspace_id=workspace_id)
    for peer_id in {observer_id, sender_id} - {None}:
        await get_peer(db=db, workspace_id=workspace_id, peer_id=peer_id)
    if session_id is not None:
        await get_session(db=db, workspace_id=workspace_id, session_id=session_id)
        return DeriverStatus(
            total_work_units=0,
            completed_work_units=0,
            in_progress_work_units=0,
            pending_work_units=0,
        )
    empty: dict[str, SessionDeriverStatus] = {}
    return DeriverStatus(
        total_work_units=0,
        completed_work_units=0,
        in_progress_work_units=0,
        pending_work_units=0,
        sessions=empty,
    )
