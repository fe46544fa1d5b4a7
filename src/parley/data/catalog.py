"""Catalogs: a connection's tables and columns, introspected with statistics (row counts,
distinct fractions, sample and categorical values) when the catalog is created and on refresh.
Refresh keeps what people wrote (descriptions, useWithAI, manual relations) and chose
(categorical values generated with a limit, or turned off)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.connections import DataServices, get_connection, open_connector
from parley.data.connectors import connector_class
from parley.data.connectors.base import Connector, QueryFailed, TableInfo
from parley.data.execute import run_on
from parley.data.projects import get_project
from parley.data.sql_guard import (
    CatalogScope,
    QueryRejected,
    TableName,
    quoted_column,
    quoted_table,
    scope_names,
)
from parley.errors import InvalidInput, NotFound, ParleyError
from parley.ids import new_public_id
from parley.store.data_models import (
    DataCatalog,
    DataColumn,
    DataConnection,
    DataRelation,
    DataTable,
)
from parley.store.models import utcnow

log = logging.getLogger("parley.data")

CATEGORICAL_LIMIT = 20  # a text column with at most this many distinct values is categorical
SAMPLE_ROWS = 3
MAX_SAMPLE_CHARS = 200
SAMPLE_CELL_BYTES = 4 * MAX_SAMPLE_CHARS  # what the connector keeps of a sample cell
TEXT_TYPES = re.compile(r"char|text|string|enum|unknown", re.I)


class CatalogExists(ParleyError):
    status_code = 400
    error_code = "CATALOG_EXISTS"


@dataclass
class TableProfile:
    info: TableInfo
    row_count: int | None = None
    distinct: dict[str, float | None] = field(default_factory=dict)
    samples: dict[str, list[Any]] = field(default_factory=dict)
    categorical: dict[str, list[Any]] = field(default_factory=dict)
    sample_rows: list[dict[str, Any]] = field(default_factory=list)


def catalog_name(display_name: str) -> str:
    name = re.sub(r"\W", "_", display_name.strip()).lower()
    if not name or len(name) > 128 or name[0].isdigit():
        raise InvalidInput(
            "a catalog name must start with a letter and hold letters, digits and underscores"
        )
    return name


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_SAMPLE_CHARS:
        return value[:MAX_SAMPLE_CHARS] + "…"
    return value


# (schema, table) -> column -> the categorical limit someone chose (DataColumn.categorical_limit)
CategoricalChoices = dict[tuple[str, str], dict[str, int]]


async def _profile_table(
    services: DataServices,
    connector: Connector,
    scope: CatalogScope,
    info: TableInfo,
    chosen: dict[str, int],
) -> TableProfile:
    """Statistics through the guard like any other statement; a failure leaves them empty.
    Categorical values: where someone chose, as they chose (`chosen`: column -> limit, 0 for
    none); elsewhere for text columns with at most CATEGORICAL_LIMIT distinct values."""
    profile = TableProfile(info)
    table = quoted_table(TableName(info.schema, info.name), scope.dialect)
    quoted = [quoted_column(c.name, scope.dialect) for c in info.columns]
    try:
        await _count(services, connector, scope, info, table, quoted, profile)
        _, sample = await run_on(
            services,
            connector,
            scope,
            f"SELECT * FROM {table}",
            limit=SAMPLE_ROWS,
            max_cell_bytes=SAMPLE_CELL_BYTES,
        )
        names = [name for name, _ in sample.columns]
        profile.sample_rows = [
            {n: _short(v) for n, v in zip(names, r, strict=True)} for r in sample.rows
        ]
        for i, name in enumerate(names):
            profile.samples[name] = list(
                dict.fromkeys(_short(r[i]) for r in sample.rows if r[i] is not None)
            )
        for column, q in zip(info.columns, quoted, strict=True):
            limit = chosen.get(column.name)
            if limit is None and _looks_categorical(profile, column.name, column.data_type):
                limit = CATEGORICAL_LIMIT
            if limit:
                profile.categorical[column.name] = await categorical_values(
                    services, connector, scope, table, q, limit
                )
    except (QueryFailed, QueryRejected) as err:
        log.info("statistics of %s.%s failed: %s", info.schema, info.name, err.detail)
    return profile


def _looks_categorical(profile: TableProfile, name: str, data_type: str) -> bool:
    fraction = profile.distinct.get(name)
    if fraction is None or profile.row_count is None or not TEXT_TYPES.search(data_type):
        return False
    return fraction * profile.row_count <= CATEGORICAL_LIMIT


async def _count(
    services: DataServices,
    connector: Connector,
    scope: CatalogScope,
    info: TableInfo,
    table: str,
    quoted: list[str],
    profile: TableProfile,
) -> None:
    """Row count and distinct fractions in one statement; if the source cannot count some
    column's distinct values (PostgreSQL json, say), column by column, leaving those out."""
    counts = ", ".join(["COUNT(*)", *(f"COUNT(DISTINCT {q})" for q in quoted)])
    try:
        _, stats = await run_on(services, connector, scope, f"SELECT {counts} FROM {table}")
        row = stats.rows[0]
    except QueryFailed:
        _, total = await run_on(services, connector, scope, f"SELECT COUNT(*) FROM {table}")
        row = [total.rows[0][0]]
        for q in quoted:
            try:
                _, one = await run_on(
                    services, connector, scope, f"SELECT COUNT(DISTINCT {q}) FROM {table}"
                )
                row.append(one.rows[0][0])
            except QueryFailed:
                row.append(None)
    profile.row_count = int(row[0])
    for column, distinct in zip(info.columns, row[1:], strict=True):
        if distinct is None or not profile.row_count:
            profile.distinct[column.name] = None
        else:
            profile.distinct[column.name] = round(int(distinct) / profile.row_count, 6)


async def categorical_values(
    services: DataServices,
    connector: Connector,
    scope: CatalogScope,
    table: str,
    column: str,
    limit: int,
) -> list[Any]:
    """The column's most frequent values, at most `limit` of them."""
    sql = (
        f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL "
        f"GROUP BY {column} ORDER BY COUNT(*) DESC, {column}"
    )
    _, result = await run_on(
        services, connector, scope, sql, limit=limit, max_cell_bytes=SAMPLE_CELL_BYTES
    )
    return [_short(r[0]) for r in result.rows]


def scope_for(catalog: DataCatalog, connection_type: str, tables: list[TableInfo]) -> CatalogScope:
    cls = connector_class(connection_type)
    return CatalogScope(
        names=scope_names([catalog.name, catalog.display_name]),
        dialect=cls.dialect,
        default_schema=cls.default_schema,
        tables=tuple(TableName(t.schema, t.name) for t in tables),
    )


async def _introspect(
    services: DataServices,
    catalog: DataCatalog,
    connection: DataConnection,
    choices: CategoricalChoices | None = None,
) -> list[TableProfile]:
    connector = await open_connector(services, connection)
    tables = await connector.introspect()
    scope = scope_for(catalog, connection.type, tables)
    choices = choices or {}
    return [
        await _profile_table(services, connector, scope, t, choices.get((t.schema, t.name), {}))
        for t in tables
    ]


async def _categorical_choices(db: AsyncSession, catalog_id: str) -> CategoricalChoices:
    rows = await db.execute(
        select(
            DataTable.schema_name,
            DataTable.table_name,
            DataColumn.name,
            DataColumn.categorical_limit,
        )
        .join(DataColumn, DataColumn.table_id == DataTable.id)
        .where(DataTable.catalog_id == catalog_id, DataColumn.categorical_limit.is_not(None))
    )
    choices: CategoricalChoices = {}
    for schema, table, column, limit in rows:
        assert limit is not None  # the query keeps only columns with a limit
        choices.setdefault((schema, table), {})[column] = limit
    return choices


async def create_catalog(
    services: DataServices, *, project_id: str, display_name: str, connection_id: str
) -> DataCatalog:
    name = catalog_name(display_name)
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
        connection = await get_connection(db=db, project_id=project_id, connection_id=connection_id)
        await _check_name_free(db, project_id, name)
    catalog = DataCatalog(
        id=new_public_id(),
        project_id=project_id,
        connection_id=connection.id,
        name=name,
        display_name=display_name,
        catalog_type=connection.type.lower(),
    )
    profiles = await _introspect(services, catalog, connection)
    async with services.database.write() as db:
        await _check_name_free(db, project_id, name)
        catalog.refresh_status = "COMPLETED"
        catalog.refreshed_at = utcnow()
        db.add(catalog)
        await db.flush()
        await store_profiles(db, catalog, profiles)
    services.forget_project(project_id)
    return catalog


async def _check_name_free(db: AsyncSession, project_id: str, name: str) -> None:
    found = await db.scalar(
        select(DataCatalog.id).where(DataCatalog.project_id == project_id, DataCatalog.name == name)
    )
    if found is not None:
        raise CatalogExists(f"a catalog named {name} exists in this project")


async def refresh_catalogs(
    services: DataServices, *, project_id: str, catalog_id: str | None
) -> list[DataCatalog]:
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
        stmt = select(DataCatalog, DataConnection).join(
            DataConnection, DataConnection.id == DataCatalog.connection_id
        )
        stmt = stmt.where(DataCatalog.project_id == project_id)
        if catalog_id is not None:
            stmt = stmt.where(DataCatalog.id == catalog_id)
        pairs = (await db.execute(stmt.order_by(DataCatalog.created_at))).all()
        choices = {c.id: await _categorical_choices(db, c.id) for c, _ in pairs}
    if catalog_id is not None and not pairs:
        raise NotFound(f"Catalog {catalog_id} not found")
    done = []
    for catalog, connection in pairs:
        try:
            profiles = await _introspect(services, catalog, connection, choices[catalog.id])
            error = None
        except ParleyError as err:
            profiles, error = None, err.detail
        async with services.database.write() as db:
            row = await db.get(DataCatalog, catalog.id)
            if row is None:
                continue
            row.refresh_status = "FAILED" if error else "COMPLETED"
            row.refresh_error = error
            row.refreshed_at = utcnow()
            if profiles is not None:
                await store_profiles(db, row, profiles)
            done.append(row)
        services.forget_project(project_id)
    return done


async def store_profiles(
    db: AsyncSession, catalog: DataCatalog, profiles: list[TableProfile]
) -> None:
    """Write the introspected tables, keeping descriptions, flags and manual relations."""
    existing = {
        (t.schema_name, t.table_name): t
        for t in await db.scalars(select(DataTable).where(DataTable.catalog_id == catalog.id))
    }
    seen = set()
    for profile in profiles:
        info = profile.info
        key = (info.schema, info.name)
        seen.add(key)
        table = existing.get(key)
        if table is None:
            table = DataTable(
                project_id=catalog.project_id,
                catalog_id=catalog.id,
                schema_name=info.schema,
                table_name=info.name,
                use_with_ai=True,
            )
            db.add(table)
            await db.flush()
        table.row_count = profile.row_count
        table.sample_rows = profile.sample_rows
        table.embedding = None  # recomputed on the next metadata search
        old_columns = {
            c.name: c
            for c in await db.scalars(select(DataColumn).where(DataColumn.table_id == table.id))
        }
        for position, col in enumerate(info.columns):
            column = old_columns.pop(col.name, None)
            if column is None:
                column = DataColumn(table_id=table.id, name=col.name)
                db.add(column)
            column.position = position
            column.data_type = col.data_type[:100]
            column.is_not_null = col.not_null
            column.is_unique = col.unique
            column.is_primary = col.primary
            column.default_value = col.default
            column.distinct_fraction = profile.distinct.get(col.name)
            column.sample_values = profile.samples.get(col.name, [])
            column.categorical_values = profile.categorical.get(col.name)
        for gone in old_columns.values():
            await db.delete(gone)
    for key, table in existing.items():
        if key not in seen:
            await db.delete(table)
    await _store_relations(db, catalog, profiles)
    await db.flush()


async def _store_relations(
    db: AsyncSession, catalog: DataCatalog, profiles: list[TableProfile]
) -> None:
    """Introspected foreign keys: kept (with their ids) while they exist, added when new,
    dropped when gone. Manual relations are not touched."""
    found = {
        (p.info.schema, p.info.name, fk.column, fk.target_schema, fk.target_table, fk.target_column)
        for p in profiles
        for fk in p.info.foreign_keys
    }
    existing = await db.scalars(
        select(DataRelation).where(
            DataRelation.catalog_id == catalog.id, DataRelation.origin == "introspected"
        )
    )
    kept = set()
    for row in existing:
        key = (
            row.schema_name,
            row.table_name,
            row.column_name,
            row.target_schema_name,
            row.target_table_name,
            row.target_column_name,
        )
        if key in found and key not in kept:
            kept.add(key)
        else:
            await db.delete(row)
    for schema, table, column, t_schema, t_table, t_column in sorted(found - kept):
        db.add(
            DataRelation(
                id=new_public_id(),
                project_id=catalog.project_id,
                catalog_id=catalog.id,
                schema_name=schema,
                table_name=table,
                column_name=column,
                target_catalog_id=catalog.id,
                target_schema_name=t_schema,
                target_table_name=t_table,
                target_column_name=t_column,
                type="MANY_TO_ONE",
                origin="introspected",
            )
        )


# --- reads --------------------------------------------------------------------------------


async def get_catalog(*, db: AsyncSession, project_id: str, catalog_id: str) -> DataCatalog:
    row = await db.get(DataCatalog, catalog_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"Catalog {catalog_id} not found")
    return row


async def list_catalogs(*, db: AsyncSession, project_id: str) -> list[DataCatalog]:
    await get_project(db=db, project_id=project_id)
    rows = await db.scalars(
        select(DataCatalog)
        .where(DataCatalog.project_id == project_id)
        .order_by(DataCatalog.created_at, DataCatalog.id)
    )
    return list(rows)


async def delete_catalog(*, db: AsyncSession, project_id: str, catalog_id: str) -> None:
    row = await get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    await db.delete(row)
    await db.flush()


async def list_tables(
    *, db: AsyncSession, project_id: str, catalog_id: str, schema: str | None = None
) -> list[DataTable]:
    await get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    stmt = select(DataTable).where(DataTable.catalog_id == catalog_id)
    if schema is not None:
        stmt = stmt.where(DataTable.schema_name == schema)
    return list(await db.scalars(stmt.order_by(DataTable.schema_name, DataTable.table_name)))


async def get_table(
    *, db: AsyncSession, project_id: str, catalog_id: str, schema: str, table: str
) -> DataTable:
    await get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    row = await db.scalar(
        select(DataTable).where(
            DataTable.catalog_id == catalog_id,
            DataTable.schema_name == schema,
            DataTable.table_name == table,
        )
    )
    if row is None:
        raise NotFound(f"Table {schema}.{table} not found in catalog {catalog_id}")
    return row


async def list_columns(*, db: AsyncSession, table_id: int) -> list[DataColumn]:
    rows = await db.scalars(
        select(DataColumn).where(DataColumn.table_id == table_id).order_by(DataColumn.position)
    )
    return list(rows)
