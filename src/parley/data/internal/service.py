"""Internal tables of a project, as the /table and /bitable routes use them: DuckDB work in a
worker thread (one writer per file, see `files`), then the project's internal catalog is
refreshed from the file, so the tables are in the catalog, the metadata and the SQL guard's
scope like any source's. No database session is open while DuckDB works.

The internal catalog is made with the project's first internal table: a connection of type
INTERNAL (its id derived from the project's, so two first tables at once make one) and a
catalog named `peaka` (`peaka_internal` where the project has a catalog named `peaka`)."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import duckdb
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data import catalog as catalogs
from parley.data.connections import DataServices
from parley.data.connectors.base import ConnectionFailed
from parley.data.connectors.internal import InternalConnector
from parley.data.internal import csv_import, tables
from parley.data.internal.files import InternalFiles
from parley.data.internal.names import ColumnSpec, Flavour, check_name, check_type
from parley.data.projects import get_project
from parley.data.sql_text import quoted_name
from parley.errors import InvalidInput, NotFound
from parley.ids import new_public_id
from parley.store.data_models import DataCatalog, DataConnection

T = TypeVar("T")
CATALOG_NAMES = ("peaka", "peaka_internal")
CONNECTION_NAME = "Parley internal tables"
_ID_SPACE = uuid.UUID("6f0b1d3e-4a52-4c1b-9d7e-2a9f0c3b5e11")


def _files(services: DataServices) -> InternalFiles:
    files = services.pool.env.internal_files
    if files is None:
        raise ConnectionFailed("internal tables are not available on this server")
    return files


async def internal_catalog(*, db: AsyncSession, project_id: str) -> DataCatalog | None:
    return await db.scalar(
        select(DataCatalog)
        .join(DataConnection, DataConnection.id == DataCatalog.connection_id)
        .where(
            DataCatalog.project_id == project_id,
            DataConnection.type == InternalConnector.type,
        )
        .order_by(DataCatalog.created_at)
        .limit(1)
    )


async def _ensure_catalog(
    services: DataServices, project_id: str, *, fill: bool = True
) -> DataCatalog:
    """The project's internal catalog, made if missing (with `fill`, filled from the file if
    there is one: the catalog was deleted, the tables stayed)."""
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
        found = await internal_catalog(db=db, project_id=project_id)
    if found is not None:
        return found
    connection_id = str(uuid.uuid5(_ID_SPACE, project_id))
    try:
        async with services.database.write() as db:
            made = await internal_catalog(db=db, project_id=project_id)
            if made is not None:  # by a request that wrote first
                return made
            if await db.get(DataConnection, connection_id) is None:
                db.add(
                    DataConnection(
                        id=connection_id,
                        project_id=project_id,
                        name=CONNECTION_NAME,
                        type=InternalConnector.type,
                        credential=services.box.seal({}),
                    )
                )
            taken = set(
                await db.scalars(
                    select(DataCatalog.name).where(DataCatalog.project_id == project_id)
                )
            )
            name = next(n for n in CATALOG_NAMES if n not in taken)  # at most one is a user's
            row = DataCatalog(
                id=new_public_id(),
                project_id=project_id,
                connection_id=connection_id,
                name=name,
                display_name=name,
                catalog_type="internal",
                refresh_status="COMPLETED",
            )
            db.add(row)
            await db.flush()
    except IntegrityError:  # another request made it first
        async with services.database.read() as db:
            again = await internal_catalog(db=db, project_id=project_id)
        if again is None:
            raise
        return again
    services.forget_project(project_id)
    if fill and _files(services).path(project_id).exists():
        await _sync(services, project_id, row)
    return row


async def _sync(services: DataServices, project_id: str, catalog: DataCatalog) -> None:
    """The catalog's tables and columns (and statistics) as the file now holds them."""
    await catalogs.refresh_catalogs(services, project_id=project_id, catalog_id=catalog.id)


async def _changed(services: DataServices, project_id: str) -> None:
    """After a change of the file: the catalog follows (made first if missing). Only after a
    change that succeeded, so a refused request leaves no catalog behind."""
    catalog = await _ensure_catalog(services, project_id, fill=False)
    await _sync(services, project_id, catalog)


async def _write(
    services: DataServices, project_id: str, work: Callable[[duckdb.DuckDBPyConnection], T]
) -> T:
    """`work` on the project's file, open for writing (the project must exist: no file is
    made for one that does not)."""
    files = _files(services)
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)

    def run() -> T:
        with files.writing(project_id) as con:
            return work(con)

    return await asyncio.to_thread(run)


async def _read(
    services: DataServices, project_id: str, work: Callable[[duckdb.DuckDBPyConnection], T]
) -> T:
    files = _files(services)

    def run() -> T:
        with files.reading(project_id) as con:
            if con is None:
                raise NotFound("this project has no internal tables")
            return work(con)

    return await asyncio.to_thread(run)


def table_out(catalog: DataCatalog | None, flavour: Flavour, name: str) -> dict[str, Any]:
    return {
        "catalogId": catalog.id if catalog else None,
        "catalogName": catalog.name if catalog else None,
        "schemaName": flavour.schema,
        "tableName": name,
        "isCacheable": False,
        "isDynamicTable": False,
        "isCached": False,
        "supportedCacheTypes": [],
    }


def column_out(row: tables.ColumnRow) -> dict[str, Any]:
    spec = row.spec
    return {
        "id": str(row.id),
        "name": spec.name,
        "dataType": spec.data_type.lower(),
        "displayName": spec.display_name or spec.name,
        "defaultValue": spec.default_value,
        "isNotNull": spec.not_null,
        "isUnique": spec.unique,
        "isPrimary": False,
        "desc": None,
    }


async def list_tables(
    services: DataServices, *, project_id: str, flavour: Flavour
) -> list[dict[str, Any]]:
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
        catalog = await internal_catalog(db=db, project_id=project_id)
    files = _files(services)

    def read() -> list[str]:
        with files.reading(project_id) as con:
            return [] if con is None else tables.table_names(con, flavour)

    names = await asyncio.to_thread(read)
    if names and catalog is None:  # someone deleted the internal catalog: make it again
        catalog = await _ensure_catalog(services, project_id)
    return [table_out(catalog, flavour, n) for n in names]


async def create_table(
    services: DataServices, *, project_id: str, flavour: Flavour, table: str
) -> dict[str, Any]:
    check_name(table, "table name")
    await _write(services, project_id, lambda con: tables.create_table(con, flavour, table))
    catalog = await _ensure_catalog(services, project_id)
    return table_out(catalog, flavour, table)


async def delete_table(
    services: DataServices, *, project_id: str, flavour: Flavour, table: str
) -> None:
    check_name(table, "table name")
    await _write(services, project_id, lambda con: tables.drop_table(con, flavour, table))
    await _changed(services, project_id)


async def list_columns(
    services: DataServices, *, project_id: str, flavour: Flavour, table: str
) -> list[dict[str, Any]]:
    check_name(table, "table name")
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
    rows = await _read(services, project_id, lambda con: tables.columns(con, flavour, table))
    return [column_out(r) for r in rows]


def column_spec(flavour: Flavour, body: dict[str, Any], base: ColumnSpec | None) -> ColumnSpec:
    """A column's definition from a ColumnRequest (the fields it sends): fields left out, and
    `name`, `dataType` and the flags sent as null, keep `base`'s; `displayName` and
    `defaultValue` sent as null are cleared."""
    clearable = ("displayName", "defaultValue")
    given = {k: v for k, v in body.items() if v is not None or k in clearable}
    if base is None:
        missing = [k for k in ("name", "dataType") if k not in given]
        if missing:
            raise InvalidInput(f"a new column needs {' and '.join(missing)}")
        base = ColumnSpec(name=given["name"], data_type="VARCHAR")
    return replace(
        base,
        name=check_name(given.get("name", base.name), "column name"),
        data_type=check_type(flavour, given.get("dataType", base.data_type)),
        display_name=given.get("displayName", base.display_name),
        default_value=given.get("defaultValue", base.default_value),
        not_null=given.get("isNotNull", base.not_null),
        unique=given.get("isUnique", base.unique),
    )


async def add_columns(
    services: DataServices,
    *,
    project_id: str,
    flavour: Flavour,
    table: str,
    bodies: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    check_name(table, "table name")
    specs = [column_spec(flavour, b, None) for b in bodies]

    def work(con: duckdb.DuckDBPyConnection) -> list[tables.ColumnRow]:
        current = tables.columns(con, flavour, table)
        kept: list[tuple[int | None, ColumnSpec]] = [(r.id, r.spec) for r in current]
        tables.rebuild(con, flavour, table, [*kept, *((None, s) for s in specs)])
        added = {s.name.lower() for s in specs}
        return [r for r in tables.columns(con, flavour, table) if r.spec.name.lower() in added]

    rows = await _write(services, project_id, work)
    await _changed(services, project_id)
    return [column_out(r) for r in rows]


def _find(rows: list[tables.ColumnRow], column: str, table: str) -> tables.ColumnRow:
    for row in rows:
        if row.spec.name.lower() == column.lower():
            return row
    raise NotFound(f"Column {column} not found in table {table}")


async def update_column(
    services: DataServices,
    *,
    project_id: str,
    flavour: Flavour,
    table: str,
    column: str,
    body: dict[str, Any],
) -> list[dict[str, Any]]:
    check_name(table, "table name")
    check_name(column, "column name")

    def work(con: duckdb.DuckDBPyConnection) -> list[tables.ColumnRow]:
        current = tables.columns(con, flavour, table)
        target = _find(current, column, table)
        changed = column_spec(flavour, body, target.spec)
        tables.rebuild(
            con,
            flavour,
            table,
            [(r.id, changed if r is target else r.spec) for r in current],
        )
        return tables.columns(con, flavour, table)

    rows = await _write(services, project_id, work)
    await _changed(services, project_id)
    return [column_out(r) for r in rows]


async def delete_column(
    services: DataServices, *, project_id: str, flavour: Flavour, table: str, column: str
) -> None:
    check_name(table, "table name")
    check_name(column, "column name")

    def work(con: duckdb.DuckDBPyConnection) -> None:
        current = tables.columns(con, flavour, table)
        target = _find(current, column, table)
        tables.rebuild(con, flavour, table, [(r.id, r.spec) for r in current if r is not target])

    await _write(services, project_id, work)
    await _changed(services, project_id)


async def import_csv(
    services: DataServices,
    *,
    project_id: str,
    flavour: Flavour,
    table: str,
    source: Path,
    request: csv_import.ImportRequest,
) -> dict[str, Any]:
    """All rows of the file or none; the answer is Peaka's ImportJob, COMPLETED."""
    check_name(table, "table name")
    started = int(time.time() * 1000)

    def work(con: duckdb.DuckDBPyConnection) -> int:
        name = tables.existing(con, flavour, table)
        specs = [r.spec for r in tables.columns(con, flavour, name)]
        if not specs:
            raise csv_import.ImportRefused([f"table {name} has no columns yet: add some first"])
        with tempfile.TemporaryDirectory(prefix="parley-import-") as folder:
            prepared = Path(folder) / "rows.csv"
            targets, count = csv_import.prepare(source, prepared, request, specs)
            target = f"{quoted_name(flavour.schema)}.{quoted_name(name)}"
            try:
                tables.transaction(con, lambda: csv_import.insert(con, target, prepared, targets))
            except duckdb.Error as err:
                raise tables.ChangeRefused(
                    f"nothing was imported: {tables.short_error(err)}"
                ) from err
        return count

    count = await _write(services, project_id, work)
    await _changed(services, project_id)
    return {
        "id": new_public_id(),
        "status": "COMPLETED",
        "startTime": started,
        "endTime": int(time.time() * 1000),
        "progress": 100,
        "result": {"rowCount": count},
    }


async def sample_csv(
    services: DataServices, *, project_id: str, flavour: Flavour, table: str
) -> str:
    check_name(table, "table name")
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
    rows = await _read(services, project_id, lambda con: tables.columns(con, flavour, table))
    return csv_import.sample_csv([r.spec for r in rows])


def remove_project_file(services: DataServices, project_id: str) -> None:
    """The project is deleted: its internal tables go with it."""
    files = services.pool.env.internal_files
    if files is not None:
        files.remove(project_id)
