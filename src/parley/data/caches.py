"""Cached tables and materialized queries: their settings, runs and statuses (Peaka's Data --
Cache and Materialized Queries). The refreshes themselves run on the work queue
(`parley.data.cache_jobs`); here they are asked for, in the transaction that records the run,
so a refresh asked for is never lost.

One work unit per cache (`<projectId>/cache/<cacheId>`): its refreshes run one at a time, in
the order asked. A run is PENDING until a worker takes it, then RUNNING, and ends COMPLETED,
FAILED or CANCELLED.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.cache_files import project_folder, remove_unused
from parley.data.cache_schedule import next_run, query_schedule, table_schedule
from parley.data.connections import DataServices
from parley.data.projects import get_project
from parley.errors import BadRequest, Conflict, NotFound
from parley.store.cache_models import QUERY, TABLE, CacheRun, DataCache
from parley.store.data_models import DataCatalog, DataColumn, DataTable, SavedQuery
from parley.store.models import WorkItem, utcnow
from parley.store.queue import PENDING as ITEM_PENDING
from parley.store.queue import NewWork, enqueue

CACHE_REFRESH = "cache_refresh"
FULL, INCREMENTAL = "FULL_REFRESH", "INCREMENTAL"
PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
)
OPEN_RUNS = (PENDING, RUNNING)
NOT_INITIALIZED = "NOT_INITIALIZED"
KEY_TYPES = ("int", "serial", "timestamp", "datetime", "date", "numeric", "decimal", "real")


class TableNotCacheable(BadRequest):
    error_code = "TABLE_NOT_CACHEABLE"


class IncrementalKeyMissing(BadRequest):
    error_code = "INCREMENTAL_KEY_REQUIRED"


class NotMaterialized(BadRequest):
    error_code = "QUERY_NOT_MATERIALIZED"


def unit_key(project_id: str, cache_id: str) -> str:
    return f"{project_id}/cache/{cache_id}"


@dataclass(frozen=True)
class TableTarget:
    catalog_id: str
    schema_name: str
    table_name: str
    incremental_column: str | None = None


async def _table(db: AsyncSession, project_id: str, target: TableTarget) -> DataTable:
    catalog = await db.get(DataCatalog, target.catalog_id)
    if catalog is None or catalog.project_id != project_id:
        raise BadRequest(f"Catalog {target.catalog_id} not found in this project")
    table = await db.scalar(
        select(DataTable).where(
            DataTable.catalog_id == target.catalog_id,
            DataTable.schema_name == target.schema_name,
            DataTable.table_name == target.table_name,
        )
    )
    if table is None:
        raise BadRequest(
            f"table {target.schema_name}.{target.table_name} is not in catalog "
            f"{target.catalog_id} (refresh the catalog if it is new)"
        )
    return table


async def _key_column(db: AsyncSession, table: DataTable, asked: str | None) -> str | None:
    """The column incremental refreshes page by: the one asked for, else the table's one
    primary-key column if it is of an ordered type (numbers, times); None if there is none."""
    columns = list(await db.scalars(select(DataColumn).where(DataColumn.table_id == table.id)))
    if not columns:
        raise TableNotCacheable(f"table {table.schema_name}.{table.table_name} has no columns")
    if asked is not None:
        if asked not in {c.name for c in columns}:
            raise BadRequest(f"incrementalColumn {asked} is not a column of {table.table_name}")
        return asked
    primary = [c for c in columns if c.is_primary]
    if len(primary) == 1 and any(k in primary[0].data_type.lower() for k in KEY_TYPES):
        return primary[0].name
    return None


def _next_times(cache: DataCache, now: datetime) -> None:
    cache.next_full_at = next_run(cache.full_schedule, now)
    cache.next_incremental_at = next_run(cache.incremental_schedule, now)


async def start_run(
    db: AsyncSession, cache: DataCache, mode: str, *, scheduled: bool = False
) -> CacheRun:
    """Record a PENDING run and queue it, in the caller's transaction."""
    run = CacheRun(
        id=str(uuid.uuid4()),
        cache_id=cache.id,
        project_id=cache.project_id,
        mode=mode,
        status=PENDING,
        scheduled=scheduled,
        cancel_requested=False,
        cached_records=0,
        inserted_records=0,
    )
    db.add(run)
    await db.flush()
    work = NewWork(
        task_type=CACHE_REFRESH,
        work_unit_key=unit_key(cache.project_id, cache.id),
        payload={"cache_id": cache.id, "run_id": run.id},
    )
    await enqueue(db, cache.project_id, [work])
    return run


async def create_cache(
    *,
    db: AsyncSession,
    project_id: str,
    target: TableTarget,
    full_schedule: dict[str, Any] | None,
    incremental_schedule: dict[str, Any] | None,
    cache_id: str | None = None,
) -> DataCache:
    """A new cache of a table, and its first refresh queued: incremental when only an
    incremental schedule is given, full otherwise (Peaka's rule)."""
    await get_project(db=db, project_id=project_id)
    table = await _table(db, project_id, target)
    full = table_schedule(full_schedule)
    incremental = table_schedule(incremental_schedule)
    key = await _key_column(db, table, target.incremental_column)
    if incremental is not None and key is None:
        raise IncrementalKeyMissing(
            f"table {table.table_name} has no single ordered primary key for incremental "
            "refreshes: give incrementalColumn (a column whose values only grow)"
        )
    clash = await db.scalar(
        select(DataCache.id).where(
            DataCache.project_id == project_id,
            DataCache.catalog_id == target.catalog_id,
            DataCache.schema_name == target.schema_name,
            DataCache.table_name == target.table_name,
        )
    )
    if clash is not None:
        raise Conflict(f"a cache exists for this table: {clash}")
    if cache_id is not None and await db.get(DataCache, cache_id) is not None:
        raise Conflict(f"a cache with id {cache_id} exists")
    now = utcnow()
    cache = DataCache(
        id=cache_id or str(uuid.uuid4()),
        project_id=project_id,
        kind=TABLE,
        catalog_id=target.catalog_id,
        schema_name=target.schema_name,
        table_name=target.table_name,
        incremental_column=key,
        full_schedule=full,
        incremental_schedule=incremental,
        row_count=0,
        bytes=0,
        created_at=now,
        updated_at=now,
    )
    _next_times(cache, now)
    db.add(cache)
    await db.flush()
    first = INCREMENTAL if incremental is not None and full is None else FULL
    await start_run(db, cache, first)
    return cache


async def get_cache(
    *, db: AsyncSession, project_id: str, cache_id: str, kind: str = TABLE
) -> DataCache:
    cache = await db.get(DataCache, cache_id)
    if cache is None or cache.project_id != project_id or cache.kind != kind:
        raise NotFound(f"Cache {cache_id} not found")
    return cache


async def update_schedules(
    *,
    db: AsyncSession,
    project_id: str,
    cache_id: str,
    changes: dict[str, dict[str, Any] | None],
) -> DataCache:
    """Change the schedules named in `changes` (`full`, `incremental`); each starts again
    from now."""
    cache = await get_cache(db=db, project_id=project_id, cache_id=cache_id)
    if "incremental" in changes:
        incremental = table_schedule(changes["incremental"])
        if incremental is not None and cache.incremental_column is None:
            raise IncrementalKeyMissing(
                f"table {cache.table_name} has no incremental key column: recreate the cache "
                "with incrementalColumn to refresh it incrementally"
            )
        cache.incremental_schedule = incremental
    if "full" in changes:
        cache.full_schedule = table_schedule(changes["full"])
    now = utcnow()
    _next_times(cache, now)
    cache.updated_at = now
    await db.flush()
    return cache


async def refresh(*, db: AsyncSession, project_id: str, cache_id: str, mode: str) -> CacheRun:
    cache = await get_cache(db=db, project_id=project_id, cache_id=cache_id)
    if mode == INCREMENTAL and cache.incremental_column is None:
        raise IncrementalKeyMissing(
            f"table {cache.table_name} has no incremental key column: recreate the cache with "
            "incrementalColumn, or run a full refresh"
        )
    return await start_run(db, cache, mode)


async def cancel(
    *, db: AsyncSession, project_id: str, cache_id: str, mode: str | None, kind: str = TABLE
) -> list[CacheRun]:
    """Cancel the open runs (of `mode`, or any): a pending one at once, a running one at its
    next page (its partial copy is discarded; the current copy stays). NotFound when the
    cache has none (tables; a materialized query's cancel is accepted either way)."""
    cache = await get_cache(db=db, project_id=project_id, cache_id=cache_id, kind=kind)
    stmt = select(CacheRun).where(CacheRun.cache_id == cache.id, CacheRun.status.in_(OPEN_RUNS))
    if mode is not None:
        stmt = stmt.where(CacheRun.mode == mode)
    runs = list(await db.scalars(stmt))
    if not runs and kind == TABLE:
        what = "full refresh" if mode == FULL else "incremental update"
        raise NotFound(f"no {what} of cache {cache_id} is running")
    now = utcnow()
    for run in runs:
        if run.status == PENDING:
            run.status, run.finished_at = CANCELLED, now
        else:
            run.cancel_requested = True
        run.updated_at = now
    await db.flush()
    return runs


async def delete_cache(
    *, db: AsyncSession, project_id: str, cache_id: str, kind: str = TABLE
) -> DataCache:
    """Delete the cache, its history and its queued refreshes; a refresh running now stops at
    its next page. The caller removes the files once this has committed."""
    cache = await get_cache(db=db, project_id=project_id, cache_id=cache_id, kind=kind)
    await db.execute(
        delete(WorkItem).where(
            WorkItem.workspace_id == project_id,
            WorkItem.work_unit_key == unit_key(project_id, cache_id),
            WorkItem.status == ITEM_PENDING,
        )
    )
    await db.execute(delete(CacheRun).where(CacheRun.cache_id == cache.id))
    await db.delete(cache)
    await db.flush()
    return cache


async def list_caches(
    *,
    db: AsyncSession,
    project_id: str,
    catalog_id: str | None = None,
    schema_name: str | None = None,
    kind: str = TABLE,
) -> list[DataCache]:
    await get_project(db=db, project_id=project_id)
    stmt = select(DataCache).where(DataCache.project_id == project_id, DataCache.kind == kind)
    if catalog_id is not None:
        stmt = stmt.where(DataCache.catalog_id == catalog_id)
    if schema_name is not None:
        stmt = stmt.where(DataCache.schema_name == schema_name)
    return list(await db.scalars(stmt.order_by(DataCache.created_at, DataCache.id)))


async def history(*, db: AsyncSession, cache: DataCache, limit: int, offset: int) -> list[CacheRun]:
    rows = await db.scalars(
        select(CacheRun)
        .where(CacheRun.cache_id == cache.id)
        .order_by(CacheRun.created_at.desc(), CacheRun.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows)


@dataclass(frozen=True)
class CacheState:
    cache: DataCache
    status: str
    last_full: CacheRun | None
    last_incremental: CacheRun | None
    recent: list[CacheRun]


def overall_status(runs: Sequence[CacheRun]) -> str:
    """Peaka's top-level status: RUNNING while any run is open, else the latest run's."""
    if not runs:
        return NOT_INITIALIZED
    if any(r.status in OPEN_RUNS for r in runs):
        return RUNNING
    return runs[0].status


async def states(db: AsyncSession, caches: Sequence[DataCache], *, logs: int) -> list[CacheState]:
    """Each cache's status, its last run of each mode and its `logs` latest runs."""
    if not caches:
        return []
    ids = [c.id for c in caches]
    # the latest runs of each cache: its open ones and its last few (history stays short)
    rows = list(
        await db.scalars(
            select(CacheRun)
            .where(CacheRun.cache_id.in_(ids))
            .order_by(CacheRun.created_at.desc(), CacheRun.id.desc())
        )
    )
    by_cache: dict[str, list[CacheRun]] = {}
    for row in rows:
        by_cache.setdefault(row.cache_id, []).append(row)
    found = []
    for cache in caches:
        runs = by_cache.get(cache.id, [])
        found.append(
            CacheState(
                cache=cache,
                status=overall_status(runs),
                last_full=next((r for r in runs if r.mode == FULL), None),
                last_incremental=next((r for r in runs if r.mode == INCREMENTAL), None),
                recent=runs[:logs],
            )
        )
    return found


async def prune_history(db: AsyncSession, cache_id: str, keep: int) -> None:
    """Keep a cache's `keep` latest finished runs (and every open one)."""
    total = await db.scalar(select(func.count()).where(CacheRun.cache_id == cache_id))
    if not total or total <= keep:
        return
    old = (
        select(CacheRun.id)
        .where(CacheRun.cache_id == cache_id, CacheRun.status.not_in(OPEN_RUNS))
        .order_by(CacheRun.created_at.desc(), CacheRun.id.desc())
        .offset(keep)
    )
    await db.execute(delete(CacheRun).where(CacheRun.id.in_(old.scalar_subquery())))


# --- materialized queries: a saved query's result kept as a copy ---------------------------


async def materialize(
    *, db: AsyncSession, query: SavedQuery, schedule: dict[str, Any] | None, refresh_now: bool
) -> DataCache:
    """Make (or update) the copy of a MATERIALIZED saved query, in the caller's transaction;
    `refresh_now` queues a refresh (on create, and when its SQL changed)."""
    cache = await db.scalar(
        select(DataCache).where(
            DataCache.project_id == query.project_id, DataCache.query_id == query.id
        )
    )
    checked = query_schedule(schedule)
    now = utcnow()
    if cache is None:
        cache = DataCache(
            id=str(uuid.uuid4()),
            project_id=query.project_id,
            kind=QUERY,
            query_id=query.id,
            full_schedule=checked,
            row_count=0,
            bytes=0,
            created_at=now,
            updated_at=now,
        )
        db.add(cache)
        refresh_now = True
    elif schedule is not None:
        cache.full_schedule = checked
    cache.next_full_at = next_run(cache.full_schedule, now)
    cache.updated_at = now
    await db.flush()
    if refresh_now:
        await start_run(db, cache, FULL)
    return cache


async def materialized_cache(*, db: AsyncSession, project_id: str, query_id: str) -> DataCache:
    query = await db.get(SavedQuery, query_id)
    if query is None or query.project_id != project_id:
        raise NotFound(f"Query {query_id} not found")
    cache = await db.scalar(
        select(DataCache).where(DataCache.project_id == project_id, DataCache.query_id == query_id)
    )
    if cache is None:
        raise NotMaterialized(f"query {query_id} is not a MATERIALIZED query")
    return cache


@dataclass(frozen=True)
class CopyFiles:
    """Where a deleted cache's files are, for `remove_files` once the delete has committed."""

    project_id: str
    cache_id: str
    file: str | None

    @classmethod
    def of(cls, cache: DataCache) -> CopyFiles:
        return cls(cache.project_id, cache.id, cache.file)


async def remove_files(services: DataServices, files: CopyFiles) -> None:
    """Close the readers over a deleted cache's copy and delete its files."""
    if services.cache_dir is None:
        return
    folder = project_folder(services.cache_dir, files.project_id)
    if files.file is not None:
        for reader in services.copies.forget(folder / files.file):
            await reader.close()
    await asyncio.to_thread(remove_unused, folder, files.cache_id, set())


async def query_copy(*, db: AsyncSession, project_id: str, query_id: str) -> CopyFiles | None:
    """The copy of a saved query being deleted (its row goes with the query), if it has one."""
    cache = await db.scalar(
        select(DataCache).where(DataCache.project_id == project_id, DataCache.query_id == query_id)
    )
    return None if cache is None else CopyFiles.of(cache)


async def query_schedules(
    *, db: AsyncSession, project_id: str, query_ids: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The schedules of a project's materialized queries (of `query_ids`, or all), by query id,
    in Peaka's MaterializedQuerySchedule shape (`{"type": "none"}` for none)."""
    stmt = select(DataCache.query_id, DataCache.full_schedule).where(
        DataCache.project_id == project_id, DataCache.kind == QUERY
    )
    if query_ids is not None:
        stmt = stmt.where(DataCache.query_id.in_(list(query_ids)))
    found: dict[str, dict[str, Any]] = {}
    for query_id, stored in (await db.execute(stmt)).all():
        stored = stored or {"type": "none"}
        found[query_id] = {
            "type": stored["type"],
            "cronExpression": stored.get("cronExpression"),
            "repeatDuration": stored.get("repeatDuration"),
            "timezone": stored.get("timezone"),
        }
    return found
