"""Exports of a saved query or a table to a file, run as background jobs on the durable work
queue (task type `data_export`), as Peaka's async exports are.

Asking for one checks the request and the statement (the SQL guard, as /queries/execute does)
and stores the export PENDING with its job, in one transaction. A worker runs it: the guarded
statement is read a page at a time (PARLEY_EXPORTS_PAGE_ROWS rows per statement, each a
`SELECT * FROM (<guarded statement>) LIMIT n OFFSET m` on the same read-only path and timeout as
any query), each page written to a hidden temporary file off the event loop, the rows written so
far recorded as progress; never the whole result in memory. The file gets its final name, and
the export SUCCEEDED, in one step at the end; an export that passes PARLEY_EXPORTS_MAX_ROWS
(without a smaller `limit`) or PARLEY_EXPORTS_MAX_BYTES, or whose statement fails, is FAILED
with the reason and leaves no file.

Cancelling (DELETE) marks a PENDING or RUNNING export CANCELLED and removes its temporary file;
a running job sees that at its next page and stops. A finished export is left as it is (Peaka:
"a no-op on an already-finished job"). A job cut off by a crash is run again from the start
once its lease runs out; one that fails past PARLEY_WORKER_MAX_ATTEMPTS is kept FAILED.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.config import Settings
from parley.data import saved_queries
from parley.data.connections import DataServices, open_connector
from parley.data.connectors.results import ResultCaps
from parley.data.execute import (
    ProjectCatalog,
    check_sql,
    load_catalogs,
    project_catalogs,
    run_guarded,
)
from parley.data.export_files import (
    COMPRESSIONS,
    CSV,
    EXTENSIONS,
    FORMATS,
    GZIP,
    PARQUET,
    CsvOptions,
    ExportWriter,
    export_folder,
    final_path,
    partial_path,
)
from parley.data.projects import get_project
from parley.data.sql_guard import GuardedSql, quoted_column
from parley.errors import BadRequest, NotFound, ParleyError
from parley.llm.chat import UsageMeter
from parley.store.data_models import ApiKey, DataCatalog, DataColumn, DataExport, DataTable
from parley.store.dml import execute_dml
from parley.store.models import utcnow
from parley.store.queue import (
    Claim,
    ClaimedItem,
    Commit,
    FailedHook,
    NewWork,
    enqueue,
    no_writes,
)

log = logging.getLogger("parley.data")

EXPORT = "data_export"
PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED = (
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "EXPIRED",
)
OPEN = (PENDING, RUNNING)
STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED)
INTERNAL_ERROR = "internal error"
PEAKA_MAX_LIMIT = 1_000_000  # Peaka clamps `limit` to [1, 1000000]
PAGE_ALIAS = "parley_export"


class ExportLimitExceeded(ParleyError):
    """An export passed the row or size limit: the export fails with this as its error."""

    status_code = 400
    error_code = "EXPORT_LIMIT_EXCEEDED"


class _Stopped(Exception):
    """The export was cancelled (or deleted with its project) while it ran."""


@dataclass(frozen=True)
class ExportPolicy:
    """Where export files go and the limits exports run under (from Settings)."""

    folder: Path  # <data_dir>/exports
    max_rows: int
    max_bytes: int
    page_rows: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportPolicy:
        return cls(
            folder=settings.data_dir / "exports",
            max_rows=settings.exports_max_rows,
            max_bytes=settings.exports_max_bytes,
            page_rows=settings.exports_page_rows,
        )


@dataclass(frozen=True)
class ExportOptions:
    """A checked ExportRequest."""

    format: str
    compression: str
    limit: int | None
    columns: tuple[str, ...] | None
    csv: CsvOptions

    def stored(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "columns": None if self.columns is None else list(self.columns),
            "csvOptions": self.csv.as_dict(),
        }


def check_options(
    *,
    format: str | None,
    compression: str | None,
    limit: int | None,
    columns: list[str] | None,
    csv: CsvOptions,
) -> ExportOptions:
    """The request's options, or BadRequest (400) saying what is wrong."""
    fmt = (format or CSV).upper()
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    packed = (compression or "NONE").upper()
    if packed not in COMPRESSIONS:
        raise BadRequest(
            f"compression must be one of {', '.join(COMPRESSIONS)}; got {compression!r}"
        )
    if fmt == PARQUET and packed != "NONE":
        raise BadRequest("a PARQUET file is compressed inside (zstd): compression must be NONE")
    if columns is not None:
        if not columns:
            raise BadRequest("columns must name at least one column (omit it for all columns)")
        if len(set(columns)) != len(columns):
            raise BadRequest("columns names a column twice")
    for name, value in (("delimiter", csv.delimiter), ("quoteChar", csv.quote_char)):
        if len(value) != 1 or value in "\r\n":
            raise BadRequest(f"csvOptions.{name} must be one character (not a line break)")
    if csv.delimiter == csv.quote_char:
        raise BadRequest("csvOptions.delimiter and quoteChar must differ")
    if not csv.record_separator or csv.record_separator.strip(" \t") != csv.record_separator:
        raise BadRequest("csvOptions.recordSeparator must be a line break such as \\n or \\r\\n")
    clamped = None if limit is None else max(1, min(limit, PEAKA_MAX_LIMIT))
    return ExportOptions(fmt, packed, clamped, None if columns is None else tuple(columns), csv)


def pick_columns(names: list[str], wanted: tuple[str, ...] | None, source: str) -> list[int]:
    """The positions of the `columns` asked for among a result's column names (all of them
    when none were asked for). Chosen here, not by a `SELECT "name"` around the statement:
    SQLite reads a quoted name that is no column as a text literal, and would export it."""
    if wanted is None:
        return list(range(len(names)))
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        first.setdefault(name, index)
    unknown = [c for c in wanted if c not in first]
    if unknown:
        raise BadRequest(
            f"unknown column(s) of {source}: {', '.join(unknown)}; it has {', '.join(names)}"
        )
    return [first[c] for c in wanted]


def _file_name(stem: str, options: ExportOptions) -> str:
    safe = re.sub(r"[^\w.-]+", "_", stem).strip("_.")[:200] or "export"
    return safe + EXTENSIONS[options.format] + (".gz" if options.compression == GZIP else "")


async def _key_prefix(db: AsyncSession, key_id: str | None) -> str | None:
    if key_id is None:
        return None
    return await db.scalar(select(ApiKey.prefix).where(ApiKey.id == key_id))


@dataclass(frozen=True)
class Caller:
    """Who asked for an export: the API key's id (None: an admin JWT, or auth off) and the
    client (X-Trino-Source, else User-Agent)."""

    key_id: str | None
    client_source: str | None


async def _submit(
    services: DataServices,
    *,
    project_id: str,
    statement: str,
    catalogs: list[ProjectCatalog],
    row: DataExport,
    caller: Caller,
) -> DataExport:
    # the guard in a read session first (up to a second of CPU), as saved queries do
    await check_sql(services, statement, catalogs, row_cap=1)
    async with services.database.write() as db:
        await get_project(db=db, project_id=project_id)
        row.api_key_prefix = await _key_prefix(db, caller.key_id)
        db.add(row)
        job = NewWork(
            task_type=EXPORT,
            work_unit_key=f"{project_id}/{EXPORT}/{row.id}",
            payload={"export_id": row.id},
        )
        await enqueue(db, project_id, [job])
        await db.flush()
    return row


def _new_row(project_id: str, options: ExportOptions, caller: Caller, **fields: Any) -> DataExport:
    return DataExport(
        id=str(uuid.uuid4()),
        project_id=project_id,
        format=options.format,
        compression=options.compression,
        options=options.stored(),
        status=PENDING,
        row_count=0,
        bytes=0,
        client_source=(caller.client_source or "")[:200] or None,
        created_at=utcnow(),
        **fields,
    )


async def export_query(
    services: DataServices,
    *,
    project_id: str,
    query_id: str,
    options: ExportOptions,
    caller: Caller,
) -> DataExport:
    """Asks for an export of a saved query (its SQL as it is now)."""
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
        saved = await saved_queries.get_query(db=db, project_id=project_id, query_id=query_id)
        catalogs = await load_catalogs(db=db, project_id=project_id)
    statement = saved.input_query
    row = _new_row(
        project_id,
        options,
        caller,
        query_id=saved.id,
        source=f'{saved_queries.SAVED_QUERY_CATALOG}.{saved_queries.SAVED_QUERY_SCHEMA}."{saved.name}"',
        statement=statement,
        file_name=_file_name(f"query_{saved.id}_{saved.name}", options),
    )
    return await _submit(
        services,
        project_id=project_id,
        statement=statement,
        catalogs=catalogs,
        row=row,
        caller=caller,
    )


async def export_table(
    services: DataServices,
    *,
    project_id: str,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    options: ExportOptions,
    caller: Caller,
) -> DataExport:
    """Asks for an export of a table of one catalog; `columns` must be the table's."""
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
        catalog = await db.get(DataCatalog, catalog_id)
        if catalog is None or catalog.project_id != project_id:
            raise NotFound(f"Catalog {catalog_id} not found")
        table = await db.scalar(
            select(DataTable).where(
                DataTable.catalog_id == catalog_id,
                DataTable.schema_name == schema_name,
                DataTable.table_name == table_name,
            )
        )
        if table is None:
            raise NotFound(f"Table {schema_name}.{table_name} not found in catalog {catalog_id}")
        if options.columns is not None:
            known = set(
                await db.scalars(select(DataColumn.name).where(DataColumn.table_id == table.id))
            )
            unknown = [c for c in options.columns if c not in known]
            if unknown:
                raise BadRequest(
                    f"unknown column(s) of {schema_name}.{table_name}: {', '.join(unknown)}"
                )
        catalogs = await load_catalogs(db=db, project_id=project_id, catalog_id=catalog_id)
    qualified = ".".join(quoted_column(p, "postgres") for p in (schema_name, table_name))
    row = _new_row(
        project_id,
        options,
        caller,
        catalog_id=catalog_id,
        schema_name=schema_name,
        table_name=table_name,
        source=f'{catalog.name}.{schema_name}."{table_name}"',
        statement=f"SELECT * FROM {qualified}",
        file_name=_file_name(f"{catalog.name}_{schema_name}_{table_name}", options),
    )
    return await _submit(
        services,
        project_id=project_id,
        statement=row.statement,
        catalogs=catalogs,
        row=row,
        caller=caller,
    )


async def get_export(*, db: AsyncSession, project_id: str, export_id: str) -> DataExport:
    row = await db.get(DataExport, export_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"Export {export_id} not found")
    return row


def parse_statuses(raw: str | None) -> set[str] | None:
    if raw is None or not raw.strip():
        return None
    wanted = {s.strip().upper() for s in raw.split(",") if s.strip()}
    unknown = sorted(wanted - set(STATUSES))
    if unknown:
        raise BadRequest(f"unknown status {', '.join(unknown)}; statuses are {', '.join(STATUSES)}")
    return wanted


def parse_cursor(raw: str | None) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise BadRequest(
            f"createdBefore must be an ISO-8601 time such as 2026-06-10T15:23:26Z; got {raw!r}"
        ) from err
    if when.tzinfo is None:
        raise BadRequest("createdBefore must carry its time zone (Z or +hh:mm)")
    return when


async def list_exports(
    *,
    db: AsyncSession,
    project_id: str,
    statuses: set[str] | None,
    limit: int,
    created_before: datetime | None,
) -> list[DataExport]:
    """Newest first. EXPIRED is derived (a SUCCEEDED export whose file is gone): the caller
    filters on the derived status; here SUCCEEDED rows stand for both."""
    await get_project(db=db, project_id=project_id)
    stmt = select(DataExport).where(DataExport.project_id == project_id)
    if statuses is not None:
        stored = {SUCCEEDED if s == EXPIRED else s for s in statuses}
        stmt = stmt.where(DataExport.status.in_(sorted(stored)))
    if created_before is not None:
        stmt = stmt.where(DataExport.created_at < created_before)
    stmt = stmt.order_by(DataExport.created_at.desc(), DataExport.id.desc()).limit(limit)
    return list(await db.scalars(stmt))


def file_of(policy: ExportPolicy, row: DataExport) -> Path | None:
    """The finished file of a SUCCEEDED export, None if it has none (any more)."""
    if row.status != SUCCEEDED:
        return None
    path = final_path(policy.folder, row.project_id, row.id, row.format, row.compression)
    return path if path.is_file() else None


def shown_status(policy: ExportPolicy, row: DataExport) -> str:
    if row.status == SUCCEEDED and file_of(policy, row) is None:
        return EXPIRED
    return row.status


async def cancel_export(
    *, db: AsyncSession, policy: ExportPolicy, project_id: str, export_id: str
) -> None:
    """Marks a PENDING or RUNNING export CANCELLED and removes its temporary file; a finished
    one is left as it is. Idempotent."""
    await get_export(db=db, project_id=project_id, export_id=export_id)
    await db.execute(
        update(DataExport)
        .where(DataExport.id == export_id, DataExport.status.in_(OPEN))
        .values(status=CANCELLED, finished_at=utcnow(), error=None)
    )
    partial_path(policy.folder, project_id, export_id).unlink(missing_ok=True)


def remove_project_files(folder: Path | None, project_id: str) -> None:
    """After a project is deleted: its export files go too."""
    if folder is not None:
        shutil.rmtree(export_folder(folder, project_id), ignore_errors=True)


@dataclass(frozen=True)
class _Job:
    """What a run needs of its export row (read once, in a short session)."""

    id: str
    project_id: str
    catalog_id: str | None
    statement: str
    format: str
    compression: str
    limit: int | None
    columns: tuple[str, ...] | None
    source: str
    csv: CsvOptions


class ExportJob:
    """The handler of `data_export` items. What goes wrong with the export itself (the guard,
    the source, a limit) is its outcome, FAILED with the reason; anything else is raised, and
    the queue retries the job from the start."""

    def __init__(self, services: DataServices, policy: ExportPolicy) -> None:
        self._services = services
        self._policy = policy

    async def __call__(self, claim: Claim, _meter: UsageMeter) -> Commit:
        item = claim.items[0]  # one job a batch
        job = await self._start(item)
        if job is None:  # cancelled before it ran, or finished by an earlier attempt
            return no_writes
        partial = partial_path(self._policy.folder, job.project_id, job.id)
        started = utcnow()
        try:
            rows, size = await self._write(job, partial)
        except _Stopped:
            partial.unlink(missing_ok=True)
            return no_writes
        except ParleyError as err:
            partial.unlink(missing_ok=True)
            return self._finish(job, FAILED, error=err.detail, started=started)
        return self._finish(job, SUCCEEDED, rows=rows, size=size, started=started)

    async def _start(self, item: ClaimedItem) -> _Job | None:
        async with self._services.database.write() as db:
            row = await db.get(DataExport, item.payload["export_id"])
            if row is None or row.status not in OPEN:
                return None
            # RUNNING from the start: this may be a run again after a crash
            row.status, row.row_count, row.bytes = RUNNING, 0, 0
            row.started_at, row.error = utcnow(), None
            columns = row.options.get("columns")
            job = _Job(
                id=row.id,
                project_id=row.project_id,
                catalog_id=row.catalog_id,
                statement=row.statement,
                format=row.format,
                compression=row.compression,
                limit=row.options.get("limit"),
                columns=None if columns is None else tuple(columns),
                source=row.source,
                csv=CsvOptions.from_dict(row.options["csvOptions"]),
            )
        partial_path(self._policy.folder, job.project_id, job.id).unlink(missing_ok=True)
        return job

    async def _catalogs(self, job: _Job) -> list[ProjectCatalog]:
        if job.catalog_id is None:
            return await project_catalogs(self._services, job.project_id)
        async with self._services.database.read() as db:
            found = await load_catalogs(db=db, project_id=job.project_id, catalog_id=job.catalog_id)
        if not found:
            raise NotFound(f"Catalog {job.catalog_id} not found: it was deleted")
        return found

    async def _write(self, job: _Job, partial: Path) -> tuple[int, int]:
        services, policy = self._services, self._policy
        # a limit at or under the server's cuts the export there; without one (or past the
        # server's) one row more than the cap is read, to fail an export that has more
        over_fails = job.limit is None or job.limit > policy.max_rows
        cap = policy.max_rows if over_fails else int(job.limit or policy.max_rows)
        catalog, guarded = await check_sql(
            services,
            job.statement,
            await self._catalogs(job),
            row_cap=cap + 1 if over_fails else cap,
        )
        connector = await open_connector(services, catalog.connection)
        writer = await asyncio.to_thread(
            ExportWriter, partial, fmt=job.format, compression=job.compression, csv_options=job.csv
        )
        try:
            written = size = 0
            while written < guarded.row_cap:
                wanted = min(policy.page_rows, guarded.row_cap - written)
                page = GuardedSql(
                    sql=f"SELECT * FROM ({guarded.sql}) AS {PAGE_ALIAS} "
                    f"LIMIT {wanted} OFFSET {written}",
                    tables=guarded.tables,
                    row_cap=wanted,
                )
                caps = ResultCaps(rows=wanted, bytes=services.query_max_bytes, cell_bytes=None)
                result = await run_guarded(
                    connector, page, timeout_s=services.query_timeout_s, caps=caps
                )
                if written == 0:
                    names = [name for name, _ in result.columns]
                    pick = pick_columns(names, job.columns, job.source)
                    chosen = None if job.columns is None else pick
                    await asyncio.to_thread(writer.start, names, chosen)
                if written + len(result.rows) > cap:
                    raise ExportLimitExceeded(
                        f"Query exceeded the {cap:,} row export limit (PARLEY_EXPORTS_MAX_ROWS); "
                        "give a smaller limit to export its first rows"
                    )
                size = await asyncio.to_thread(writer.write, result.rows)
                written += len(result.rows)
                self._check_size(size)
                await self._progress(job, written, size)
                if len(result.rows) < wanted and not result.truncated:
                    break  # the last page
            size = await asyncio.to_thread(writer.close)
            self._check_size(size)
        except BaseException:
            await asyncio.to_thread(writer.abandon)
            raise
        return written, size

    def _check_size(self, size: int) -> None:
        if size > self._policy.max_bytes:
            raise ExportLimitExceeded(
                f"Export exceeded the {self._policy.max_bytes:,} byte export size limit "
                "(PARLEY_EXPORTS_MAX_BYTES); export fewer rows or columns, or compress it"
            )

    async def _progress(self, job: _Job, rows: int, size: int) -> None:
        """Records the rows written so far; raises _Stopped once the export is no longer
        RUNNING (cancelled, or gone with its project)."""
        async with self._services.database.write() as db:
            result = await execute_dml(
                db,
                update(DataExport)
                .where(DataExport.id == job.id, DataExport.status == RUNNING)
                .values(row_count=rows, bytes=size),
            )
        if result.rowcount != 1:
            raise _Stopped(job.id)

    def _finish(
        self,
        job: _Job,
        status: str,
        *,
        started: datetime,
        rows: int = 0,
        size: int = 0,
        error: str | None = None,
    ) -> Commit:
        policy = self._policy

        async def commit(db: AsyncSession) -> None:
            values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
            if status == SUCCEEDED:
                values |= {"row_count": rows, "bytes": size}
            result = await execute_dml(
                db,
                update(DataExport)
                .where(DataExport.id == job.id, DataExport.status == RUNNING)
                .values(**values),
            )
            partial = partial_path(policy.folder, job.project_id, job.id)
            if result.rowcount == 1 and status == SUCCEEDED:
                # renamed in the transaction that says SUCCEEDED: the download route serves
                # only a SUCCEEDED export's file, so a rename whose commit failed serves nothing
                final = final_path(
                    policy.folder, job.project_id, job.id, job.format, job.compression
                )
                partial.replace(final)
            else:  # cancelled meanwhile: the file goes
                partial.unlink(missing_ok=True)
            log.info(
                "export %s of project %s: %s (%d rows, %d bytes, %.1f s)",
                job.id,
                job.project_id,
                status if result.rowcount == 1 else "cancelled",
                rows,
                size,
                (utcnow() - started).total_seconds(),
            )

        return commit


def export_failed_hook(policy: ExportPolicy) -> FailedHook:
    """The `on_failed` hook of `data_export`: the export is kept FAILED, its file removed."""

    async def failed(db: AsyncSession, item: ClaimedItem, error: str) -> None:
        log.warning("export %s failed after %d attempt(s): %s", item.payload, item.attempts, error)
        export_id = item.payload["export_id"]
        await db.execute(
            update(DataExport)
            .where(DataExport.id == export_id, DataExport.status.in_(OPEN))
            .values(status=FAILED, error=INTERNAL_ERROR, finished_at=utcnow())
        )
        partial_path(policy.folder, item.workspace_id, export_id).unlink(missing_ok=True)

    return failed
