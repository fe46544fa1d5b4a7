"""Running SQL for a project: pick the catalog a statement reads, guard it against that
catalog's tables, and run it on the catalog's connector. Database sessions are closed before
the connector is called."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.cache_reads import CacheHit, run_from_copies
from parley.data.connections import DataServices, open_connector
from parley.data.connectors import connector_class
from parley.data.connectors.base import Connector
from parley.data.connectors.results import ResultCaps, ResultSet, RowLayout
from parley.data.sql_guard import (
    CatalogScope,
    GuardedSql,
    QueryRejected,
    TableName,
    catalog_names_used,
    guard,
    scope_names,
)
from parley.data.virtual_tables import NO_VIRTUAL_TABLES, VirtualTables, expand
from parley.errors import InvalidInput, ParleyError
from parley.store.data_models import CatalogShare, DataCatalog, DataConnection, DataTable


class ResultTooLarge(ParleyError):
    """Not one row of the result fits its byte cap (a result cut short keeps the rows that
    fit and says so instead: `ResultSet.truncated`)."""

    status_code = 400
    error_code = "RESULT_TOO_LARGE"


@dataclass(frozen=True)
class CatalogRef:
    id: str
    name: str
    display_name: str


@dataclass(frozen=True)
class ConnectionRef:
    """What running a statement needs of a connection (see `open_connector`)."""

    id: str
    project_id: str
    type: str
    credential: str
    updated_at: datetime


@dataclass(frozen=True)
class ProjectCatalog:
    catalog: CatalogRef
    connection: ConnectionRef
    tables: tuple[TableName, ...]
    # the project's semantic and parametric tables (the same object on each of its catalogs),
    # expanded into their queries by `check_sql` before the guard
    virtual: VirtualTables = field(default=NO_VIRTUAL_TABLES, compare=False)

    @cached_property
    def scope(self) -> CatalogScope:
        cls = connector_class(self.connection.type)
        return CatalogScope(
            names=scope_names([self.catalog.name, self.catalog.display_name]),
            dialect=cls.dialect,
            default_schema=cls.default_schema,
            tables=self.tables,
        )


@dataclass
class QueryResult:
    catalog: ProjectCatalog
    guarded: GuardedSql
    result: ResultSet
    cache: CacheHit | None = None  # the cached copies that served it, if any


async def load_catalogs(
    *, db: AsyncSession, project_id: str, catalog_id: str | None = None
) -> list[ProjectCatalog]:
    """The project's catalogs (with `catalog_id`, that one of them); without `catalog_id`
    also the catalogs other projects share with it (readable, after its own) and the
    project's semantic and parametric tables (`ProjectCatalog.virtual`)."""
    # plain columns, not ORM entities: this runs before every statement
    shared = select(CatalogShare.catalog_id).where(
        CatalogShare.target_project_id == project_id, CatalogShare.catalog_id.is_not(None)
    )
    mine = DataCatalog.project_id == project_id
    stmt = (
        select(
            DataCatalog.id,
            DataCatalog.name,
            DataCatalog.display_name,
            DataConnection.id,
            DataConnection.project_id,
            DataConnection.type,
            DataConnection.credential,
            DataConnection.updated_at,
        )
        .join(DataConnection, DataConnection.id == DataCatalog.connection_id)
        .where(mine if catalog_id is not None else or_(mine, DataCatalog.id.in_(shared)))
        .order_by(DataCatalog.project_id != project_id, DataCatalog.created_at, DataCatalog.id)
    )
    if catalog_id is not None:
        stmt = stmt.where(DataCatalog.id == catalog_id)
    pairs = (await db.execute(stmt)).all()
    if not pairs:
        return []
    table_filter = DataTable.project_id == project_id
    if catalog_id is None:
        table_filter = or_(table_filter, DataTable.catalog_id.in_(shared))
    tables = await db.execute(
        select(DataTable.catalog_id, DataTable.schema_name, DataTable.table_name)
        .where(table_filter)
        .order_by(DataTable.id)
    )
    by_catalog: dict[str, list[TableName]] = {}
    for catalog_ref, schema, table in tables:
        by_catalog.setdefault(catalog_ref, []).append(TableName(schema, table))
    virtual = NO_VIRTUAL_TABLES
    if catalog_id is None:
        # imported here: semantic_catalogs imports this module
        from parley.data.semantic_catalogs import load_virtual_tables

        virtual = await load_virtual_tables(db=db, project_id=project_id)
    return [
        ProjectCatalog(
            CatalogRef(cat_id, name, display),
            ConnectionRef(conn_id, conn_project, kind, credential, updated_at),
            tuple(by_catalog.get(cat_id, ())),
            virtual,
        )
        for cat_id, name, display, conn_id, conn_project, kind, credential, updated_at in pairs
    ]


async def project_catalogs(services: DataServices, project_id: str) -> list[ProjectCatalog]:
    """`load_catalogs` for every statement run, served from `services.catalogs` for
    PARLEY_CATALOG_CACHE_TTL_S (writes through this process invalidate it when they commit)."""

    async def load() -> list[ProjectCatalog]:
        async with services.database.read() as db:
            return await load_catalogs(db=db, project_id=project_id)

    return await services.catalogs.get_or_load(project_id, load)


def pick_scope(sql: str, scopes: Sequence[CatalogScope]) -> int:
    """The index of the one catalog a statement reads, among the catalogs' scopes (picklable,
    for `SqlWork`): named by its three-part table names, or the only one whose tables cover
    the statement's tables."""
    dialects = list(dict.fromkeys(s.dialect for s in scopes))
    names, refs = catalog_names_used(sql, dialects)
    if len(names) > 1:
        raise QueryRejected(
            f"a statement reads one catalog at a time; this one names {', '.join(sorted(names))}"
        )
    if names:
        (name,) = names
        for index, scope in enumerate(scopes):
            if name in scope.names:
                return index
        raise QueryRejected(f"catalog {name} is not in this project")
    if len(scopes) == 1 or not refs:
        return 0
    covering = [
        index
        for index, scope in enumerate(scopes)
        if all(scope.resolve(db or None, name) is not None for db, name in refs)
    ]
    if len(covering) == 1:
        return covering[0]
    if not covering:
        label = ".".join(p for p in refs[0] if p)
        raise QueryRejected(f"table {label} is not in this project's catalogs")
    raise QueryRejected("several catalogs have these tables: qualify them as catalog.schema.table")


def pick_and_guard(
    sql: str, scopes: Sequence[CatalogScope], row_cap: int, bindings: Sequence[str] = ()
) -> tuple[int, GuardedSql]:
    """Pick the statement's catalog and guard it there, in one pass (one hop off the loop)."""
    if not scopes:
        raise QueryRejected("this project has no catalogs yet: connect a data source first")
    index = pick_scope(sql, scopes)
    return index, guard(sql, scope=scopes[index], row_cap=row_cap, bindings=bindings)


def expand_pick_and_guard(
    sql: str,
    scopes: Sequence[CatalogScope],
    row_cap: int,
    bindings: Sequence[str],
    virtual: VirtualTables,
) -> tuple[int, GuardedSql]:
    """`pick_and_guard` after replacing the statement's semantic and parametric tables by
    their queries (see `parley.data.virtual_tables`)."""
    dialects = list(dict.fromkeys(s.dialect for s in scopes)) or ["postgres"]
    return pick_and_guard(expand(sql, dialects, virtual), scopes, row_cap, bindings)


def effective_limits(
    services: DataServices,
    *,
    limit: int | None,
    timeout_s: float | None,
    max_bytes: int | None = None,
    max_cell_bytes: int | None = None,
    layout: RowLayout = RowLayout.COMPACT,
) -> tuple[ResultCaps, float]:
    """The caps and timeout a statement runs with: what the caller asks, within the server's
    limits (PARLEY_QUERY_MAX_ROWS, _MAX_BYTES, _MAX_CELL_BYTES, _TIMEOUT_S)."""
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be at least 1")
    if timeout_s is not None and timeout_s <= 0:
        raise InvalidInput("timeout must be a positive number of seconds")
    caps = ResultCaps(
        rows=min(limit or services.query_max_rows, services.query_max_rows),
        bytes=min(max_bytes or services.query_max_bytes, services.query_max_bytes),
        cell_bytes=min(
            max_cell_bytes or services.query_max_cell_bytes, services.query_max_cell_bytes
        ),
        layout=layout,
    )
    timeout = min(timeout_s or services.query_timeout_s, services.query_timeout_s)
    return caps, timeout


async def run_on(
    services: DataServices,
    connector: Connector,
    scope: CatalogScope,
    sql: str,
    *,
    bindings: Sequence[str] = (),
    limit: int | None = None,
    timeout_s: float | None = None,
    max_bytes: int | None = None,
    max_cell_bytes: int | None = None,
    layout: RowLayout = RowLayout.COMPACT,
) -> tuple[GuardedSql, ResultSet]:
    """Guard `sql` against `scope` and run it; the one path by which SQL reaches a source."""
    caps, timeout = effective_limits(
        services,
        limit=limit,
        timeout_s=timeout_s,
        max_bytes=max_bytes,
        max_cell_bytes=max_cell_bytes,
        layout=layout,
    )
    guarded = await services.sql_work.run(
        guard, sql, scope=scope, row_cap=caps.rows, bindings=bindings, chars=len(sql)
    )
    return guarded, await run_guarded(connector, guarded, timeout_s=timeout, caps=caps)


async def run_guarded(
    connector: Connector, guarded: GuardedSql, *, timeout_s: float, caps: ResultCaps
) -> ResultSet:
    """Runs within `caps` (rows: the statement's own cap); a result of which not one row fits
    the byte cap is an error, one cut short keeps the rows that fit."""
    caps = replace(caps, rows=guarded.row_cap)
    result = await connector.run(guarded.sql, timeout_s=timeout_s, caps=caps)
    if result.truncated and not result.rows:
        raise ResultTooLarge(
            f"one row of this result is larger than {caps.bytes} bytes, the most a result may "
            "hold here; select fewer or shorter columns (substr, left) to see it"
        )
    return result


async def explain_guarded(connector: Connector, guarded: GuardedSql, *, timeout_s: float) -> None:
    """A dry run: the source plans the guarded statement (names, types) without running it."""
    caps = ResultCaps(rows=1, cell_bytes=None)  # the plan's text is the source's own
    await connector.run(f"EXPLAIN {guarded.sql}", timeout_s=timeout_s, caps=caps)


async def run_sql(
    services: DataServices,
    *,
    project_id: str,
    sql: str,
    bindings: Sequence[str] = (),
    limit: int | None = None,
    timeout_s: float | None = None,
    layout: RowLayout = RowLayout.COMPACT,
) -> QueryResult:
    catalogs = await project_catalogs(services, project_id)
    caps, timeout = effective_limits(services, limit=limit, timeout_s=timeout_s, layout=layout)
    catalog, guarded = await check_sql(
        services, sql, catalogs, row_cap=caps.rows, bindings=bindings
    )
    result, hit = await run_checked(
        services,
        project_id=project_id,
        catalog=catalog,
        guarded=guarded,
        timeout_s=timeout,
        caps=caps,
    )
    return QueryResult(catalog=catalog, guarded=guarded, result=result, cache=hit)


async def run_checked(
    services: DataServices,
    *,
    project_id: str,
    catalog: ProjectCatalog,
    guarded: GuardedSql,
    timeout_s: float,
    caps: ResultCaps,
    connector: Connector | None = None,
) -> tuple[ResultSet, CacheHit | None]:
    """Run a guarded statement on fresh cached copies of its tables when it has them, else
    on the catalog's source (`connector`, or the catalog's own)."""
    served = await run_from_copies(
        services,
        project_id=project_id,
        catalog_id=catalog.catalog.id,
        dialect=catalog.scope.dialect,
        default_schema=catalog.scope.default_schema,
        guarded=guarded,
        timeout_s=timeout_s,
        caps=caps,
    )
    if served is not None:
        return served
    if connector is None:
        connector = await open_connector(services, catalog.connection)
    return await run_guarded(connector, guarded, timeout_s=timeout_s, caps=caps), None


async def check_sql(
    services: DataServices,
    sql: str,
    catalogs: Sequence[ProjectCatalog],
    *,
    row_cap: int,
    bindings: Sequence[str] = (),
) -> tuple[ProjectCatalog, GuardedSql]:
    """Pick the statement's catalog and guard it there, without running it; off the event
    loop (see `SqlWork`): parsing a statement of MAX_SQL_CHARS takes about a second of CPU."""
    scopes = [c.scope for c in catalogs]
    virtual = catalogs[0].virtual if catalogs else NO_VIRTUAL_TABLES
    if virtual:
        index, guarded = await services.sql_work.run(
            expand_pick_and_guard,
            sql,
            scopes,
            row_cap,
            tuple(bindings),
            virtual,
            chars=len(sql) + sum(len(s.sql) for s in virtual.semantic),
        )
        return catalogs[index], guarded
    index, guarded = await services.sql_work.run(
        pick_and_guard, sql, scopes, row_cap, tuple(bindings), chars=len(sql)
    )
    return catalogs[index], guarded


def result_columns(query: QueryResult) -> list[dict[str, Any]]:
    tables = query.guarded.tables
    table = tables[0] if len(tables) == 1 else None
    return [
        {
            "catalogName": query.catalog.catalog.name,
            "schemaName": table.schema if table else None,
            "tableName": table.table if table else None,
            "columnName": name,
            "dataType": data_type,
        }
        for name, data_type in query.result.columns
    ]
