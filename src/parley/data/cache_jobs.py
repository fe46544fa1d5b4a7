"""Refreshes of cached tables and materialized queries, run by the durable work queue (task
type `cache_refresh`, one work unit per cache, so one refresh of a cache at a time), and the
schedules that queue them (`CacheScheduler`, ticked by the worker's loop).

A refresh reads the source a page at a time (keyset pages by the cache's key column when it
has one: `WHERE key > last ORDER BY key`), through the SQL guard, into a new Parquet file
written aside; the transaction that finishes the run swaps the cache's `file` to it. Until
then queries read the old copy, and a crash leaves only a stray file, removed by the next
refresh. An incremental refresh appends the rows past the last key it saw to a copy of the
current file, and refuses (FAILED, SOURCE_SCHEMA_CHANGED) when the source's columns are no
longer the copy's. Cancels are seen between pages. A refresh that runs past
PARLEY_CACHE_REFRESH_TIMEOUT_S, or whose copy would put the project past
PARLEY_CACHE_QUOTA_BYTES, fails without retrying; any other error (the source is down) is
retried with the queue's backoff, and past its attempts the run is FAILED (`refresh_failed`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlglot import exp

from parley.data import caches
from parley.data.cache_files import CopyWriter, project_folder, remove_unused
from parley.data.cache_schedule import next_run
from parley.data.caches import (
    CANCELLED,
    COMPLETED,
    FAILED,
    FULL,
    INCREMENTAL,
    OPEN_RUNS,
    PENDING,
    RUNNING,
)
from parley.data.connections import DataServices, open_connector
from parley.data.connectors.base import Connector
from parley.data.connectors.results import ResultCaps, ResultSet
from parley.data.execute import ProjectCatalog, check_sql, load_catalogs
from parley.data.sql_guard import guard
from parley.store.cache_models import QUERY, CacheRun, DataCache
from parley.store.data_models import DataColumn, DataTable, SavedQuery
from parley.store.models import utcnow
from parley.store.queue import Claim, ClaimedItem, Commit, no_writes

log = logging.getLogger("parley.data")
UNLIMITED_BYTES = 2**62
KEEP_RUNS = 200


@dataclass(frozen=True)
class CacheLimits:
    page_rows: int = 50_000
    max_rows: int = 10_000_000  # a copy without a key column is read in one statement
    timeout_s: float = 3600.0
    quota_bytes: int = 10 * 1024**3
    memory_limit_mb: int = 512


class RefreshStopped(Exception):
    """The run was cancelled, or its cache deleted, while it ran."""


class RefreshRefused(Exception):
    """Trying again cannot help: the run is FAILED with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Built:
    name: str  # the new file's name in the project's cache folder
    columns: list[list[str]]
    rows: int
    new_rows: int
    bytes: int
    last_offset: str | None


PageHook = Callable[[int], Awaitable[None]]


class CacheRefreshJob:
    """The handler of `cache_refresh` items. `after_page` (tests) runs after each page is
    written, with the rows written so far."""

    def __init__(self, services: DataServices, limits: CacheLimits) -> None:
        self._services = services
        self._limits = limits
        self.after_page: PageHook | None = None

    @property
    def root(self) -> Path:
        assert self._services.cache_dir is not None, "DataServices.cache_dir is not set"
        return self._services.cache_dir

    async def __call__(self, claim: Claim, _meter: Any) -> Commit:
        item = claim.items[0]
        cache_id, run_id = item.payload["cache_id"], item.payload["run_id"]
        async with self._services.database.write() as db:
            run = await db.get(CacheRun, run_id)
            cache = await db.get(DataCache, cache_id)
            if run is None or cache is None or run.status not in OPEN_RUNS:
                return no_writes  # cancelled before it ran, or deleted
            if run.cancel_requested:
                _finish(run, CANCELLED)
                return no_writes
            run.status, run.started_at, run.updated_at = RUNNING, utcnow(), utcnow()
            snapshot, mode = _Snapshot.of(cache), run.mode
        folder = project_folder(self.root, snapshot.project_id)
        folder.mkdir(parents=True, exist_ok=True)
        # leftovers of a refresh cut off by a crash, and copies older than the current one
        await asyncio.to_thread(
            remove_unused, folder, cache_id, {snapshot.file} if snapshot.file else set()
        )
        try:
            async with asyncio.timeout(self._limits.timeout_s):  # not wait_for: see aio.wait_set
                built = await self._build(snapshot, run_id, folder, mode)
        except RefreshStopped:
            return _settle(run_id, CANCELLED)
        except TimeoutError:
            return _settle(
                run_id,
                FAILED,
                {
                    "errorCode": "REFRESH_TIMEOUT",
                    "message": f"the refresh ran longer than {self._limits.timeout_s:g} s "
                    "(PARLEY_CACHE_REFRESH_TIMEOUT_S) and was stopped",
                },
            )
        except RefreshRefused as err:
            return _settle(run_id, FAILED, {"errorCode": err.code, "message": err.message})
        return self._swap(cache_id, run_id, folder, built)

    def _swap(self, cache_id: str, run_id: str, folder: Path, built: Built) -> Commit:
        quota = self._limits.quota_bytes

        async def commit(db: AsyncSession) -> None:
            run = await db.get(CacheRun, run_id)
            cache = await db.get(DataCache, cache_id)
            if run is None or cache is None or run.cancel_requested:
                (folder / built.name).unlink(missing_ok=True)
                if run is not None:
                    _finish(run, CANCELLED)
                return
            others = await db.scalar(
                select(func.coalesce(func.sum(DataCache.bytes), 0)).where(
                    DataCache.project_id == cache.project_id, DataCache.id != cache.id
                )
            )
            if int(others or 0) + built.bytes > quota:
                (folder / built.name).unlink(missing_ok=True)
                _finish(
                    run,
                    FAILED,
                    {
                        "errorCode": "CACHE_QUOTA_EXCEEDED",
                        "message": f"this copy ({built.bytes} bytes) would put the project's "
                        f"caches past their quota of {quota} bytes (PARLEY_CACHE_QUOTA_BYTES); "
                        "the previous copy is kept",
                    },
                )
                return
            now = utcnow()
            cache.file, cache.columns = built.name, built.columns
            cache.row_count, cache.bytes = built.rows, built.bytes
            cache.last_offset, cache.refreshed_at, cache.updated_at = built.last_offset, now, now
            run.cached_records, run.inserted_records = built.rows, built.new_rows
            run.last_offset = built.last_offset
            _finish(run, COMPLETED)
            await caches.prune_history(db, cache.id, KEEP_RUNS)

        return commit

    async def _check_stop(self, run_id: str) -> None:
        async with self._services.database.read() as db:
            found = await db.execute(select(CacheRun.cancel_requested).where(CacheRun.id == run_id))
            row = found.first()
        if row is None or row[0]:
            raise RefreshStopped(run_id)

    async def _build(self, snap: _Snapshot, run_id: str, folder: Path, mode: str) -> Built:
        final = folder / f"{snap.id}-{run_id}.parquet"
        if snap.kind == QUERY:
            return await self._build_query(snap, run_id, final)
        async with self._services.database.read() as db:
            found = await load_catalogs(
                db=db, project_id=snap.project_id, catalog_id=snap.catalog_id
            )
            types = await _column_types(db, snap)
        if not found:
            raise RefreshRefused("TABLE_NOT_FOUND", f"catalog {snap.catalog_id} is gone")
        catalog = found[0]
        connector = await open_connector(self._services, catalog.connection)
        incremental = mode == INCREMENTAL and snap.file is not None
        base = folder / snap.file if incremental and snap.file else None
        last = json.loads(snap.last_offset) if incremental and snap.last_offset else None
        key = snap.incremental_column
        writer: CopyWriter | None = None
        new_rows = 0
        try:
            while True:
                page = await self._page(catalog, connector, snap, key, last)
                columns = [(name, types.get(name) or (t or "")) for name, t in page.columns]
                if writer is None:
                    if incremental and [c[0] for c in columns] != [c[0] for c in snap.columns]:
                        raise RefreshRefused(
                            "SOURCE_SCHEMA_CHANGED",
                            f"the columns of {snap.schema_name}.{snap.table_name} changed "
                            f"since the copy was made (now {', '.join(c[0] for c in columns)}; "
                            f"the copy has {', '.join(c[0] for c in snap.columns)}): run a "
                            "full refresh",
                        )
                    stored = snap.columns if incremental else [list(c) for c in columns]
                    writer = await asyncio.to_thread(
                        CopyWriter,
                        final,
                        [(c[0], c[1]) for c in stored],
                        base=base,
                        memory_limit_mb=self._limits.memory_limit_mb,
                    )
                    made_columns = stored
                await asyncio.to_thread(writer.add, page.rows)
                new_rows += len(page.rows)
                if key is not None and page.rows:
                    last = page.rows[-1][[c[0] for c in columns].index(key)]
                if self.after_page is not None:
                    await self.after_page(writer.rows)
                await self._check_stop(run_id)
                if key is None:
                    if len(page.rows) >= self._limits.max_rows:
                        raise RefreshRefused(
                            "CACHE_TOO_MANY_ROWS",
                            f"{snap.table_name} has no key column to page by and more than "
                            f"{self._limits.max_rows} rows (PARLEY_CACHE_MAX_ROWS)",
                        )
                    break
                if len(page.rows) < self._limits.page_rows:
                    break
            assert writer is not None
            size = await asyncio.to_thread(writer.finish)
        except BaseException:
            if writer is not None:
                await asyncio.to_thread(writer.discard)
            raise
        return Built(
            name=final.name,
            columns=made_columns,
            rows=writer.rows,
            new_rows=new_rows,
            bytes=size,
            last_offset=json.dumps(last) if last is not None else snap.last_offset,
        )

    async def _page(
        self,
        catalog: ProjectCatalog,
        connector: Connector,
        snap: _Snapshot,
        key: str | None,
        last: Any,
    ) -> ResultSet:
        dialect = catalog.scope.dialect
        assert snap.table_name is not None and snap.schema_name is not None
        select_ = exp.select("*").from_(
            exp.table_(snap.table_name, db=snap.schema_name, quoted=True)
        )
        cap = self._limits.page_rows if key is not None else self._limits.max_rows
        if key is not None:
            column = exp.column(key, quoted=True)
            if last is not None:
                select_ = select_.where(exp.GT(this=column, expression=exp.convert(last)))
            select_ = select_.order_by(column)
        sql = select_.sql(dialect=dialect)
        guarded = await self._services.sql_work.run(
            guard, sql, scope=catalog.scope, row_cap=cap, chars=len(sql)
        )
        caps = ResultCaps(rows=cap, bytes=UNLIMITED_BYTES, cell_bytes=None)
        return await connector.run(guarded.sql, timeout_s=self._limits.timeout_s, caps=caps)

    async def _build_query(self, snap: _Snapshot, run_id: str, final: Path) -> Built:
        async with self._services.database.read() as db:
            query = await db.get(SavedQuery, snap.query_id)
            catalogs = await load_catalogs(db=db, project_id=snap.project_id)
        if query is None:
            raise RefreshStopped(run_id)
        catalog, guarded = await check_sql(
            self._services, query.input_query, catalogs, row_cap=self._limits.max_rows
        )
        connector = await open_connector(self._services, catalog.connection)
        caps = ResultCaps(rows=self._limits.max_rows, bytes=UNLIMITED_BYTES, cell_bytes=None)
        result = await connector.run(guarded.sql, timeout_s=self._limits.timeout_s, caps=caps)
        columns = [[name, t or ""] for name, t in result.columns]
        writer = await asyncio.to_thread(
            CopyWriter,
            final,
            [(c[0], c[1]) for c in columns],
            memory_limit_mb=self._limits.memory_limit_mb,
        )
        try:
            await asyncio.to_thread(writer.add, result.rows)
            if self.after_page is not None:
                await self.after_page(writer.rows)
            await self._check_stop(run_id)
            size = await asyncio.to_thread(writer.finish)
        except BaseException:
            await asyncio.to_thread(writer.discard)
            raise
        return Built(final.name, columns, writer.rows, writer.rows, size, None)


@dataclass(frozen=True)
class _Snapshot:
    """What a refresh needs of its cache, read before the slow part (no session held)."""

    id: str
    project_id: str
    kind: str
    catalog_id: str | None
    schema_name: str | None
    table_name: str | None
    query_id: str | None
    incremental_column: str | None
    file: str | None
    columns: list[list[str]]
    last_offset: str | None

    @classmethod
    def of(cls, cache: DataCache) -> _Snapshot:
        return cls(
            cache.id,
            cache.project_id,
            cache.kind,
            cache.catalog_id,
            cache.schema_name,
            cache.table_name,
            cache.query_id,
            cache.incremental_column,
            cache.file,
            [list(c) for c in cache.columns or []],
            cache.last_offset,
        )


async def _column_types(db: AsyncSession, snap: _Snapshot) -> dict[str, str]:
    """The introspected types of the table's columns (drivers such as SQLite's name none)."""
    rows = await db.execute(
        select(DataColumn.name, DataColumn.data_type)
        .join(DataTable, DataTable.id == DataColumn.table_id)
        .where(
            DataTable.catalog_id == snap.catalog_id,
            DataTable.schema_name == snap.schema_name,
            DataTable.table_name == snap.table_name,
        )
    )
    return {name: data_type for name, data_type in rows.all()}


def _finish(run: CacheRun, status: str, error: dict[str, Any] | None = None) -> None:
    now = utcnow()
    run.status, run.error, run.finished_at, run.updated_at = status, error, now, now


def _settle(run_id: str, status: str, error: dict[str, Any] | None = None) -> Commit:
    async def commit(db: AsyncSession) -> None:
        run = await db.get(CacheRun, run_id)
        if run is not None:
            _finish(run, status, error)

    return commit


async def refresh_failed(db: AsyncSession, item: ClaimedItem, error: str) -> None:
    """The `on_failed` hook of `cache_refresh`: the run is FAILED with the last error."""
    run = await db.get(CacheRun, item.payload["run_id"])
    if run is not None and run.status in OPEN_RUNS:
        _finish(run, FAILED, {"errorCode": "REFRESH_FAILED", "message": error})


class CacheScheduler:
    """Queues the refreshes whose schedules are due. `tick` runs from the worker's loop (every
    PARLEY_WORKER_POLL_S); `clock` is injectable (tests move time). A refresh is not queued
    while the cache has one open; either way the schedule moves to its next time."""

    def __init__(self, services: DataServices, clock: Callable[[], datetime] = utcnow) -> None:
        self._database = services.database
        self.clock = clock

    async def tick(self) -> bool:
        """True when it queued a refresh."""
        now = self.clock()
        queued = False
        async with self._database.write() as db:
            due = await db.scalars(
                select(DataCache)
                .where(or_(DataCache.next_full_at <= now, DataCache.next_incremental_at <= now))
                .order_by(DataCache.id)
                .limit(100)
                .with_for_update(skip_locked=True)
            )
            for cache in list(due):
                busy = await db.scalar(
                    select(func.count()).where(
                        CacheRun.cache_id == cache.id, CacheRun.status.in_((PENDING, RUNNING))
                    )
                )
                for mode in (FULL, INCREMENTAL):
                    when = cache.next_full_at if mode == FULL else cache.next_incremental_at
                    if when is None or when > now:
                        continue
                    if not busy:
                        await caches.start_run(db, cache, mode, scheduled=True)
                        busy, queued = 1, True
                    schedule = cache.full_schedule if mode == FULL else cache.incremental_schedule
                    upcoming = next_run(schedule, now)
                    if mode == FULL:
                        cache.next_full_at = upcoming
                    else:
                        cache.next_incremental_at = upcoming
        return queued
