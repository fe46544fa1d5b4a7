"""/v3/workspaces/{workspace_id}/conclusions: v3's name for observations, on the same rows as
/v2's `/observations` (a conclusion made here is an observation there, and the reverse).

Where v3 differs from /v2: a create answers 201 and takes no `level` (a manual conclusion is
explicit), a delete answers 204 with no body, a conclusion shows v3's fields only, and a list
or query in a workspace nobody made is empty (Honcho 3 reads no workspace there)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Response
from pydantic import AfterValidator, AliasChoices, BaseModel, Field

from parley import erasure
from parley.api.deps import (
    Name,
    PageNumber,
    PageSize,
    ReadDb,
    StateDep,
    WorkspaceAccess,
    WriteDb,
)
from parley.api.honcho_v2.observations import ObservationGet, ObservationQuery, observation_out
from parley.api.honcho_v2.schemas import CreateName, Page, page_of
from parley.api.honcho_v3.routing import family_router
from parley.api.honcho_v3.schemas import _strip_nul
from parley.api.honcho_v3.workspaces import Reverse
from parley.api.storable import Storable
from parley.errors import NotFound
from parley.memory import observations as service
from parley.memory.observations import NewObservation
from parley.memory.pages import Page as DomainPage

router = family_router(prefix="/workspaces/{workspace_id}/conclusions", tags=["conclusions"])


class ConclusionCreate(BaseModel):
    content: Annotated[
        str,
        Field(min_length=1, max_length=service.MAX_CONTENT_CHARS),
        AfterValidator(_strip_nul),  # dropped, as Honcho 3 does
        Storable,
    ]
    observer_id: CreateName
    observed_id: CreateName
    session_id: CreateName | None = None  # none: the pair's, in no session


class ConclusionBatchCreate(BaseModel):
    conclusions: list[ConclusionCreate] = Field(
        min_length=1,
        max_length=service.MAX_BATCH,
        validation_alias=AliasChoices("conclusions", "observations"),
    )


class Conclusion(BaseModel):
    """Honcho 3's view of an observation (its Parley-only fields are /v2's)."""

    id: str
    content: str
    observer_id: str
    observed_id: str
    session_id: str | None = None
    level: Literal["explicit", "deductive", "inductive", "contradiction"] = "explicit"
    created_at: datetime


def conclusion_out(row: Any) -> dict[str, Any]:
    return observation_out(row)  # the response model keeps v3's fields


@router.post("", response_model=list[Conclusion], status_code=201)
async def create_conclusions(
    workspace_id: Name, body: ConclusionBatchCreate, state: StateDep, _: WorkspaceAccess
) -> list[dict[str, Any]]:
    """One explicit observation per input, as given; unknown peers or sessions are a 404
    before anything is stored."""
    rows = await service.create_observations(
        database=state.database,
        embedder=state.embedder,
        observation_index=state.observation_index,
        workspace_id=workspace_id,
        observations=[
            NewObservation(
                content=c.content,
                observer_id=c.observer_id,
                observed_id=c.observed_id,
                session_id=c.session_id,
            )
            for c in body.conclusions
        ],
    )
    return [conclusion_out(row) for row in rows]


@router.post("/list", response_model=Page[Conclusion])
async def list_conclusions(
    workspace_id: Name,
    db: ReadDb,
    _: WorkspaceAccess,
    body: Annotated[ObservationGet | None, Body()] = None,
    reverse: Reverse = False,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    try:
        result = await service.list_observations(
            db=db,
            workspace_id=workspace_id,
            filters=body.filters if body else None,
            reverse=reverse,
            page=page,
            size=size,
        )
    except NotFound:  # the workspace (its only read that can miss): it has none
        result = DomainPage(items=[], total=0, page=page, size=size)
    return page_of(result, conclusion_out)


@router.post("/query", response_model=list[Conclusion])
async def query_conclusions(
    workspace_id: Name, body: ObservationQuery, state: StateDep, _: WorkspaceAccess
) -> list[dict[str, Any]]:
    """The nearest of one observer/observed pair, named in the filters (else 422)."""
    try:
        rows = await service.query_observations(
            database=state.database,
            embedder=state.embedder,
            workspace_id=workspace_id,
            query=body.query,
            top_k=body.top_k,
            max_distance=body.distance,
            filters=body.filters,
        )
    except NotFound:  # the workspace (its only read that can miss): nothing matches
        return []
    return [conclusion_out(row) for row in rows]


@router.delete("/{conclusion_id}", status_code=204, response_model=None)
async def delete_conclusion(
    workspace_id: Name, conclusion_id: Name, db: WriteDb, state: StateDep, _: WorkspaceAccess
) -> Response:
    """As /v2's observation delete (what rests only on it goes too), answering 204."""
    await erasure.delete_observation(
        db, reasoning=state.reasoning, workspace_id=workspace_id, observation_id=conclusion_id
    )
    return Response(status_code=204)
