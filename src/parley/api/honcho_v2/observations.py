"""/v2/workspaces/{workspace_id}/observations, also served as `/conclusions` (the name later
honcho-core releases call)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Query
from pydantic import AliasChoices, BaseModel, Field

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
from parley.api.honcho_v2.routing import family_router
from parley.api.honcho_v2.schemas import CreateName, Page, page_of
from parley.api.storable import Storable, StoredJson, StoredText
from parley.memory import observations as service
from parley.memory.observations import NewObservation

router = family_router(prefix="/workspaces/{workspace_id}", tags=["observations"])

PATHS = ("/observations", "/conclusions")


class ObservationCreate(BaseModel):
    content: StoredText = Field(min_length=1, max_length=service.MAX_CONTENT_CHARS)
    observer_id: CreateName
    observed_id: CreateName
    session_id: CreateName
    # Parley's additions, for imports: how the fact was reached, and from what
    level: Literal["explicit", "deductive", "inductive", "contradiction"] = "explicit"
    premises: list[Annotated[str, Field(max_length=service.MAX_CONTENT_CHARS), Storable]] = Field(
        default_factory=list, max_length=50
    )


class ObservationBatchCreate(BaseModel):
    # honcho-core 1.7+ posts `{"conclusions": [...]}` to `/conclusions`
    observations: list[ObservationCreate] = Field(
        min_length=1,
        max_length=service.MAX_BATCH,
        validation_alias=AliasChoices("observations", "conclusions"),
    )


class ObservationGet(BaseModel):
    filters: StoredJson | None = None


class ObservationQuery(BaseModel):
    query: StoredText = Field(max_length=service.MAX_CONTENT_CHARS)
    top_k: int = Field(default=10, ge=1, le=service.MAX_TOP_K)
    distance: float | None = Field(default=None, ge=0.0, le=1.0)
    filters: StoredJson | None = None


class Observation(BaseModel):
    id: str
    content: str
    observer_id: str
    observed_id: str
    session_id: str | None  # None: a conclusion /v3 made without a session
    created_at: datetime
    # Parley's additions: how the fact was reached and how often, and what replaced it when
    # it changed (lists show current ones, with null here, unless a filter asks for history)
    level: str
    premises: list[str]
    message_ids: list[str]
    times_derived: int
    superseded_by: str | None = None


def observation_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "content": row.content,
        "observer_id": row.observer_id,
        "observed_id": row.observed_id,
        "session_id": row.session_id,
        "created_at": row.created_at,
        "level": row.level,
        "premises": list(row.premises),
        "message_ids": list(row.message_ids),
        "times_derived": row.times_derived,
        "superseded_by": row.superseded_by,
    }


async def create_observations(
    workspace_id: Name, body: ObservationBatchCreate, state: StateDep, _: WorkspaceAccess
) -> list[dict[str, Any]]:
    rows = await service.create_observations(
        database=state.database,
        embedder=state.embedder,
        observation_index=state.observation_index,
        workspace_id=workspace_id,
        observations=[
            NewObservation(
                content=o.content,
                observer_id=o.observer_id,
                observed_id=o.observed_id,
                session_id=o.session_id,
                level=o.level,
                premises=list(o.premises),
            )
            for o in body.observations
        ],
    )
    return [observation_out(row) for row in rows]


async def list_observations(
    workspace_id: Name,
    db: ReadDb,
    _: WorkspaceAccess,
    body: Annotated[ObservationGet | None, Body()] = None,
    reverse: Annotated[bool | None, Query()] = False,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await service.list_observations(
        db=db,
        workspace_id=workspace_id,
        filters=body.filters if body else None,
        reverse=bool(reverse),
        page=page,
        size=size,
    )
    return page_of(result, observation_out)


async def query_observations(
    workspace_id: Name, body: ObservationQuery, state: StateDep, _: WorkspaceAccess
) -> list[dict[str, Any]]:
    rows = await service.query_observations(
        database=state.database,
        embedder=state.embedder,
        workspace_id=workspace_id,
        query=body.query,
        top_k=body.top_k,
        max_distance=body.distance,
        filters=body.filters,
    )
    return [observation_out(row) for row in rows]


async def delete_observation(
    workspace_id: Name, observation_id: Name, db: WriteDb, state: StateDep, _: WorkspaceAccess
) -> dict[str, str]:
    """Deletes the observation, the deductions resting only on it, and its copies."""
    await erasure.delete_observation(
        db, reasoning=state.reasoning, workspace_id=workspace_id, observation_id=observation_id
    )
    return {"message": "Observation deleted successfully"}


ROUTES: tuple[tuple[str, Any, str, Any], ...] = (
    ("", create_observations, "POST", list[Observation]),
    ("/list", list_observations, "POST", Page[Observation]),
    ("/query", query_observations, "POST", list[Observation]),
    ("/{observation_id}", delete_observation, "DELETE", None),
)

for _path in PATHS:
    for _suffix, _handler, _method, _model in ROUTES:
        router.add_api_route(
            f"{_path}{_suffix}",
            _handler,
            methods=[_method],
            response_model=_model,
            include_in_schema=_path == "/observations",  # /conclusions is an alias
        )
