"""/api/v1/data/projects/{projectId}/cache...: Peaka's Data -- Cache (cached tables: settings,
refreshes, cancels, status and history, roll-ups per project, catalog and schema) and
/materialized-queries (a materialized saved query's status, refresh and cancel)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import BackgroundTasks, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from parley.api.deps import Name, OwnProject, ReadDb, StateDep, WriteDb
from parley.api.errors import peaka_errors
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import Body
from parley.api.state import AppState
from parley.data import caches as service
from parley.errors import ParleyError
from parley.store.cache_models import QUERY, CacheRun, DataCache
from parley.store.data_models import SavedQuery

router = family_router(tags=["cache"])
BASE = "/data/projects/{project_id}/cache"
ONE = BASE + "/{cache_id}"
MATERIALIZED = "/data/projects/{project_id}/materialized-queries"
CacheId = Annotated[str, Field(min_length=1, max_length=36)]


class Schedule(Body):
    type: Annotated[str, Field(max_length=20)] | None = None
    expression: Annotated[str, Field(max_length=100)] | None = None


class CacheRequest(Body):
    id: Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_-]+$")] | None = (
        None
    )
    catalogId: Annotated[str, Field(min_length=1, max_length=21)]
    schemaName: Annotated[str, Field(min_length=1, max_length=200)]
    tableName: Annotated[str, Field(min_length=1, max_length=200)]
    incrementalCacheSchedule: Schedule | None = None
    fullRefreshCacheSchedule: Schedule | None = None
    # beyond Peaka's shape: the column incremental refreshes page by (default: the primary key)
    incrementalColumn: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class CacheSettingsUpdateRequest(Body):
    incrementalCacheSchedule: Schedule | None = None
    fullRefreshCacheSchedule: Schedule | None = None


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleOut(Answer):
    type: str
    expression: str | None


class Cache(Answer):
    id: str
    catalogId: str | None
    schemaName: str | None
    tableName: str | None
    incrementalCacheSchedule: ScheduleOut
    fullRefreshCacheSchedule: ScheduleOut
    projectId: str
    incrementalColumn: str | None


class CacheCreateStatus(Answer):
    success: bool
    error: str | None
    cache: Cache | None


class CacheExecutionProgress(Answer):
    numberOfCachedRecords: int
    numberOfInsertedRecords: int
    numberOfUpdatedRecords: int
    numberOfDeletedRecords: int
    lastOffset: str | None
    lastCacheTxId: str | None


class CacheExecutionInfo(Answer):
    id: str
    executionMode: str
    status: str
    error: dict[str, Any] | None
    progress: CacheExecutionProgress
    createdAt: datetime
    updatedAt: datetime
    finishedAt: datetime | None


class CacheActionRecord(Answer):
    timestamp: datetime
    action: str
    message: str
    cacheType: str
    isScheduled: bool


class CacheStatus(Answer):
    id: str
    status: str
    catalogId: str | None
    schemaName: str | None
    tableName: str | None
    lastIncrementalCacheExecution: CacheExecutionInfo | None
    lastFullRefreshCacheExecution: CacheExecutionInfo | None
    cacheActionLogs: list[CacheActionRecord] | None
    projectId: str
    # beyond Peaka's shape: the copy queries read
    numberOfRows: int
    sizeInBytes: int
    refreshedAt: datetime | None


class RefreshStarted(Answer):
    cacheId: str
    executionId: str
    executionMode: str
    status: str


class MaterializedQuerySchedule(Answer):
    type: str
    cronExpression: str | None
    repeatDuration: str | None
    timezone: str | None


class MaterializedQueryStatusView(Answer):
    queryId: str
    queryName: str
    scheduleSettings: MaterializedQuerySchedule
    nextExecutionStartTime: datetime | None
    status: str
    lastExecutionStartTime: datetime | None
    lastUpdateTime: datetime | None


def _schedule(raw: Schedule | None) -> dict[str, Any] | None:
    return None if raw is None else raw.model_dump()


def _schedule_out(stored: dict[str, Any] | None) -> dict[str, Any]:
    if stored is None:
        return {"type": "NONE", "expression": None}
    return {"type": stored["type"], "expression": stored.get("expression")}


def cache_out(cache: DataCache) -> dict[str, Any]:
    return {
        "id": cache.id,
        "catalogId": cache.catalog_id,
        "schemaName": cache.schema_name,
        "tableName": cache.table_name,
        "incrementalCacheSchedule": _schedule_out(cache.incremental_schedule),
        "fullRefreshCacheSchedule": _schedule_out(cache.full_schedule),
        "projectId": cache.project_id,
        "incrementalColumn": cache.incremental_column,
    }


def execution_out(run: CacheRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "executionMode": run.mode,
        "status": run.status,
        "error": run.error,
        "progress": {
            "numberOfCachedRecords": run.cached_records,
            "numberOfInsertedRecords": run.inserted_records,
            "numberOfUpdatedRecords": 0,
            "numberOfDeletedRecords": 0,
            "lastOffset": run.last_offset,
            "lastCacheTxId": None,
        },
        "createdAt": run.created_at,
        "updatedAt": run.updated_at,
        "finishedAt": run.finished_at,
    }


def _logs(runs: list[CacheRun]) -> list[dict[str, Any]]:
    """What happened to the cache, latest first: each run's start and its end."""
    logs: list[dict[str, Any]] = []
    for run in runs:
        common = {"cacheType": run.mode, "isScheduled": run.scheduled}
        if run.finished_at is not None:
            message = (
                (run.error or {}).get("message", "")
                if run.status == service.FAILED
                else f"{run.cached_records} records cached"
                if run.status == service.COMPLETED
                else "cancelled"
            )
            logs.append(
                {"timestamp": run.finished_at, "action": run.status, "message": message, **common}
            )
        if run.started_at is not None:
            logs.append({"timestamp": run.started_at, "action": "STARTED", "message": "", **common})
        else:
            logs.append(
                {"timestamp": run.created_at, "action": "REQUESTED", "message": "", **common}
            )
    return logs


def status_out(state: service.CacheState, *, logs: bool) -> dict[str, Any]:
    cache = state.cache
    return {
        "id": cache.id,
        "status": state.status,
        "catalogId": cache.catalog_id,
        "schemaName": cache.schema_name,
        "tableName": cache.table_name,
        "lastIncrementalCacheExecution": execution_out(state.last_incremental),
        "lastFullRefreshCacheExecution": execution_out(state.last_full),
        "cacheActionLogs": _logs(state.recent) if logs else None,
        "projectId": cache.project_id,
        "numberOfRows": cache.row_count,
        "sizeInBytes": cache.bytes,
        "refreshedAt": cache.refreshed_at,
    }


LOGS = 20


async def _statuses(db: Any, rows: list[DataCache]) -> list[dict[str, Any]]:
    return [status_out(s, logs=True) for s in await service.states(db, rows, logs=LOGS)]


async def _create(state: AppState, project_id: str, body: CacheRequest) -> DataCache:
    async with state.database.write() as db:
        return await service.create_cache(
            db=db,
            project_id=project_id,
            target=service.TableTarget(
                body.catalogId, body.schemaName, body.tableName, body.incrementalColumn
            ),
            full_schedule=_schedule(body.fullRefreshCacheSchedule),
            incremental_schedule=_schedule(body.incrementalCacheSchedule),
            cache_id=body.id,
        )


def _wake(state: AppState) -> None:
    """A refresh was queued: an embedded worker looks at once."""
    if state.worker is not None:
        state.worker.notify()


@router.post(BASE, responses=peaka_errors(400, 409), response_model=Cache)
async def create_cache(
    project_id: Name, body: CacheRequest, state: StateDep, _: OwnProject
) -> dict[str, Any]:
    """Caches a table (a local columnar copy, read by queries while fresh); its first refresh
    is queued at once."""
    cache = await _create(state, project_id, body)
    _wake(state)
    return cache_out(cache)


@router.post(BASE + "/batch", response_model=list[CacheCreateStatus])
async def create_batch_cache(
    project_id: Name,
    body: Annotated[list[CacheRequest], Field(max_length=200)],
    state: StateDep,
    _: OwnProject,
) -> list[dict[str, Any]]:
    """Each cache is made on its own: one that fails says why, the others are made."""
    results: list[dict[str, Any]] = []
    for request in body:
        try:
            cache = await _create(state, project_id, request)
        except ParleyError as err:
            results.append({"success": False, "error": err.detail, "cache": None})
            continue
        results.append({"success": True, "error": None, "cache": cache_out(cache)})
    _wake(state)
    return results


@router.get(BASE + "/status", response_model=list[CacheStatus])
async def project_cache_status(project_id: Name, db: ReadDb, _: OwnProject) -> list[dict[str, Any]]:
    return await _statuses(db, await service.list_caches(db=db, project_id=project_id))


@router.get(
    "/data/projects/{project_id}/catalog/{catalog_id}/cache/status",
    response_model=list[CacheStatus],
)
async def catalog_cache_status(
    project_id: Name, catalog_id: CacheId, db: ReadDb, _: OwnProject
) -> list[dict[str, Any]]:
    rows = await service.list_caches(db=db, project_id=project_id, catalog_id=catalog_id)
    return await _statuses(db, rows)


@router.get(
    "/data/projects/{project_id}/catalog/{catalog_id}/schema/{schema_name}/cache/status",
    response_model=list[CacheStatus],
)
async def schema_cache_status(
    project_id: Name, catalog_id: CacheId, schema_name: str, db: ReadDb, _: OwnProject
) -> list[dict[str, Any]]:
    rows = await service.list_caches(
        db=db, project_id=project_id, catalog_id=catalog_id, schema_name=schema_name
    )
    return await _statuses(db, rows)


@router.get(ONE, responses=peaka_errors(404), response_model=Cache)
async def get_cache_settings(
    project_id: Name, cache_id: CacheId, db: ReadDb, _: OwnProject
) -> dict[str, Any]:
    return cache_out(await service.get_cache(db=db, project_id=project_id, cache_id=cache_id))


@router.put(ONE, responses=peaka_errors(400, 404), response_model=Cache)
async def update_cache_settings(
    project_id: Name,
    cache_id: CacheId,
    body: CacheSettingsUpdateRequest,
    db: WriteDb,
    _: OwnProject,
) -> dict[str, Any]:
    """Only the schedules sent change; `{"type": "NONE"}` turns one off."""
    changes: dict[str, dict[str, Any] | None] = {}
    if "incrementalCacheSchedule" in body.model_fields_set:
        changes["incremental"] = _schedule(body.incrementalCacheSchedule)
    if "fullRefreshCacheSchedule" in body.model_fields_set:
        changes["full"] = _schedule(body.fullRefreshCacheSchedule)
    cache = await service.update_schedules(
        db=db, project_id=project_id, cache_id=cache_id, changes=changes
    )
    return cache_out(cache)


@router.delete(
    ONE,
    response_class=Response,
    responses={**peaka_errors(404), 200: {"description": "Cache deleted"}},
)
async def delete_cache(
    project_id: Name,
    cache_id: CacheId,
    db: WriteDb,
    data: DataDep,
    after: BackgroundTasks,
    _: OwnProject,
) -> Response:
    """Deletes the cache, its history and its queued refreshes, and then (once that has
    committed) its files; queries read the source again at once."""
    cache = await service.delete_cache(db=db, project_id=project_id, cache_id=cache_id)
    after.add_task(service.remove_files, data, service.CopyFiles.of(cache))
    return Response(status_code=200)


async def _refresh(state: AppState, project_id: str, cache_id: str, mode: str) -> dict[str, Any]:
    async with state.database.write() as db:
        run = await service.refresh(db=db, project_id=project_id, cache_id=cache_id, mode=mode)
        answer = {
            "cacheId": cache_id,
            "executionId": run.id,
            "executionMode": mode,
            "status": run.status,
        }
    _wake(state)
    return answer


@router.post(ONE + "/fullRefreshUpdate", responses=peaka_errors(404), response_model=RefreshStarted)
async def full_refresh(
    project_id: Name, cache_id: CacheId, state: StateDep, _: OwnProject
) -> dict[str, Any]:
    """Queues a full refresh: the whole table is read again into a new copy, which replaces
    the current one when it is complete."""
    return await _refresh(state, project_id, cache_id, service.FULL)


@router.post(
    ONE + "/incrementalUpdate", responses=peaka_errors(400, 404), response_model=RefreshStarted
)
async def incremental_update(
    project_id: Name, cache_id: CacheId, state: StateDep, _: OwnProject
) -> dict[str, Any]:
    """Queues an incremental refresh: the rows past the last key value seen are appended."""
    return await _refresh(state, project_id, cache_id, service.INCREMENTAL)


async def _cancel(state: AppState, project_id: str, cache_id: str, mode: str) -> Response:
    async with state.database.write() as db:
        await service.cancel(db=db, project_id=project_id, cache_id=cache_id, mode=mode)
    return Response(status_code=200)


@router.post(
    ONE + "/cancelFullRefreshUpdate",
    response_class=Response,
    responses={**peaka_errors(404), 200: {"description": "Cancellation signal sent"}},
)
async def cancel_full_refresh(
    project_id: Name, cache_id: CacheId, state: StateDep, _: OwnProject
) -> Response:
    return await _cancel(state, project_id, cache_id, service.FULL)


@router.post(
    ONE + "/cancelIncrementalUpdate",
    response_class=Response,
    responses={**peaka_errors(404), 200: {"description": "Cancellation signal sent"}},
)
async def cancel_incremental(
    project_id: Name, cache_id: CacheId, state: StateDep, _: OwnProject
) -> Response:
    return await _cancel(state, project_id, cache_id, service.INCREMENTAL)


@router.get(
    ONE + "/executionHistory",
    responses=peaka_errors(404),
    response_model=list[CacheExecutionInfo],
)
async def execution_history(
    project_id: Name,
    cache_id: CacheId,
    db: ReadDb,
    _: OwnProject,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[dict[str, Any] | None]:
    cache = await service.get_cache(db=db, project_id=project_id, cache_id=cache_id)
    runs = await service.history(db=db, cache=cache, limit=limit, offset=offset)
    return [execution_out(r) for r in runs]


@router.get(ONE + "/status", responses=peaka_errors(404), response_model=CacheStatus)
async def cache_status(
    project_id: Name,
    cache_id: CacheId,
    db: ReadDb,
    _: OwnProject,
    excludeLogs: bool = False,  # noqa: N803 - Peaka's query parameter name
) -> dict[str, Any]:
    cache = await service.get_cache(db=db, project_id=project_id, cache_id=cache_id)
    (found,) = await service.states(db, [cache], logs=LOGS)
    return status_out(found, logs=not excludeLogs)


# --- materialized queries -------------------------------------------------------------------


def _materialized_out(
    query: SavedQuery, found: service.CacheState, schedule: dict[str, Any]
) -> dict[str, Any]:
    cache = found.cache
    last = found.last_full
    status = found.status
    return {
        "queryId": query.id,
        "queryName": query.name,
        "scheduleSettings": schedule,
        "nextExecutionStartTime": cache.next_full_at,
        "status": status,
        "lastExecutionStartTime": (last.started_at or last.created_at) if last else None,
        "lastUpdateTime": last.updated_at if last else None,
    }


@router.get(MATERIALIZED + "/status", response_model=list[MaterializedQueryStatusView])
async def materialized_statuses(
    project_id: Name, db: ReadDb, _: OwnProject
) -> list[dict[str, Any]]:
    rows = await service.list_caches(db=db, project_id=project_id, kind=QUERY)
    found = await service.states(db, rows, logs=0)
    ids = [r.query_id for r in rows if r.query_id is not None]
    queries = {q.id: q for q in await db.scalars(select(SavedQuery).where(SavedQuery.id.in_(ids)))}
    schedules = await service.query_schedules(db=db, project_id=project_id)
    return [
        _materialized_out(queries[q], s, schedules[q])
        for s in found
        if (q := s.cache.query_id) is not None and q in queries
    ]


@router.get(
    MATERIALIZED + "/{query_id}/status",
    responses=peaka_errors(400, 404),
    response_model=MaterializedQueryStatusView,
)
async def materialized_status(
    project_id: Name, query_id: CacheId, db: ReadDb, _: OwnProject
) -> dict[str, Any]:
    cache = await service.materialized_cache(db=db, project_id=project_id, query_id=query_id)
    query = await db.get(SavedQuery, query_id)
    assert query is not None
    (found,) = await service.states(db, [cache], logs=0)
    schedules = await service.query_schedules(db=db, project_id=project_id, query_ids=[query_id])
    return _materialized_out(query, found, schedules[query_id])


@router.post(
    MATERIALIZED + "/{query_id}/refresh",
    response_class=Response,
    responses={**peaka_errors(400, 404), 200: {"description": "Refresh request accepted"}},
)
async def refresh_materialized(
    project_id: Name, query_id: CacheId, state: StateDep, _: OwnProject
) -> Response:
    """Queues a refresh now (a scheduled query keeps its schedule)."""
    async with state.database.write() as db:
        cache = await service.materialized_cache(db=db, project_id=project_id, query_id=query_id)
        await service.start_run(db, cache, service.FULL)
    _wake(state)
    return Response(status_code=200)


@router.post(
    MATERIALIZED + "/{query_id}/cancel",
    response_class=Response,
    responses={**peaka_errors(400, 404), 200: {"description": "Cancel request accepted"}},
)
async def cancel_materialized(
    project_id: Name, query_id: CacheId, state: StateDep, _: OwnProject
) -> Response:
    """Cancels the refresh in progress, if any (the copy it would replace stays)."""
    async with state.database.write() as db:
        cache = await service.materialized_cache(db=db, project_id=project_id, query_id=query_id)
        await service.cancel(db=db, project_id=project_id, cache_id=cache.id, mode=None, kind=QUERY)
    return Response(status_code=200)
