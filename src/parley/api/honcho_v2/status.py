"""/v2/workspaces/{workspace_id}/deriver/status, and its later name /queue/status.

Counts of the durable work queue (every reasoning task is a work unit), overall and per
session; Parley adds the failures kept past their attempts, whether a model reasons at all, and
the embedding backlog: messages not yet findable by meaning, each also a pending unit, so that
"nothing pending" means everything written is searchable (an observer filter leaves them out:
a vector is its sender's).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from parley.api.deps import Name, ReadDb, Scope, StateDep, requires
from parley.api.honcho_v2.routing import family_router
from parley.api.honcho_v2.schemas import DeriverStatus, SessionDeriverStatus, WorkFailure
from parley.auth.keys import Principal
from parley.memory.queue_status import Counts, queue_status

router = family_router(prefix="/workspaces/{workspace_id}", tags=["workspaces"])

OptionalId = Annotated[str | None, Query(max_length=512)]


def _counts(counts: Counts) -> dict[str, int]:
    return {
        "total_work_units": counts.total,
        "completed_work_units": counts.completed,
        "in_progress_work_units": counts.in_progress,
        "pending_work_units": counts.pending,
        "failed_work_units": counts.failed,
        "embedding_backlog": counts.embedding_backlog,
    }


@router.get("/deriver/status", response_model=DeriverStatus)
@router.get("/queue/status", response_model=DeriverStatus, include_in_schema=False)
async def get_deriver_status(
    workspace_id: Name,
    db: ReadDb,
    state: StateDep,
    _: Annotated[Principal, requires(Scope.WORKSPACE)],
    observer_id: OptionalId = None,
    sender_id: OptionalId = None,
    session_id: OptionalId = None,
) -> DeriverStatus:
    # As in Honcho: an empty id is no filter, and unknown ids have no work (zero counts).
    observer_id, sender_id, session_id = observer_id or None, sender_id or None, session_id or None
    status = await queue_status(
        db,
        workspace_id=workspace_id,
        observer_id=observer_id,
        sender_id=sender_id,
        session_id=session_id,
        embedded_through=state.indexer.embedded_through,
    )
    models = state.models
    notes = []
    if models.deriver is None:
        notes.append(
            "No deriver model is configured: each sentence a peer writes is kept as a dated "
            "explicit observation; no deductions and no peer cards are made."
        )
    if models.summary is None:
        notes.append("No summary model is configured: session summaries are skipped.")
    return DeriverStatus(
        **_counts(status.overall),
        # as in Honcho: none with a session filter, and none (not {}) when there is no work
        sessions=None
        if session_id is not None or not status.sessions
        else {
            sid: SessionDeriverStatus(session_id=sid, **_counts(counts))
            for sid, counts in status.sessions.items()
        },
        failures=[WorkFailure(**vars(f)) for f in status.failures],
        reasoning_mode="model" if models.deriver is not None else "retrieval_only",
        notes=notes,
    )
