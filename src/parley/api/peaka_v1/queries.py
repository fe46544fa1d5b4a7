"""/api/v1/data/projects/{projectId}/queries: saved queries and execution; /sql/transpile."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

import sqlglot
from fastapi import BackgroundTasks, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession
from sqlglot import exp
from sqlglot.errors import SqlglotError

from parley.api.deps import AnyKey, Name, OwnProject, ReadDb, StateDep, WriteDb
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import (
    ExecuteRequest,
    QueryRequest,
    TranspileRequest,
    saved_query_out,
)
from parley.api.peaka_v1.semantic_catalogs import SharedChange
from parley.data import caches, query_folders
from parley.data import saved_queries as service
from parley.data.cache_reads import read_materialized
from parley.data.connections import DataServices
from parley.data.connectors.results import RowLayout, render_rows
from parley.data.execute import (
    CatalogRef,
    ConnectionRef,
    ProjectCatalog,
    QueryResult,
    effective_limits,
    result_columns,
    run_sql,
)
from parley.data.query_builder import builder_sql
from parley.data.sql_guard import GuardedSql, TableName, transpile
from parley.errors import InvalidInput, NotFound
from parley.store.data_models import SavedQuery
from parley.store.models import utcnow

router = family_router(tags=["queries"])
BASE = "/data/projects/{project_id}/queries"
Format = Literal["CELL_TYPED", "SIMPLE", "COMPACT"]


@router.get(BASE, response_model=list[out.Query])
async def list_queries(project_id: Name, db: ReadDb, _: OwnProject) -> list[dict[str, Any]]:
    rows = await service.list_queries(db=db, project_id=project_id)
    folders = await query_folders.load_folders(db=db, project_id=project_id)
    schedules = await caches.query_schedules(db=db, project_id=project_id)
    return [saved_query_out(q, folders.path(q.folder_id), schedules.get(q.id)) for q in rows]


async def _query_out(db: AsyncSession, row: SavedQuery) -> dict[str, Any]:
    """The query as answered, with the path of its folder and a MATERIALIZED query's
    schedule."""
    path = None
    if row.folder_id is not None:
        folders = await query_folders.load_folders(db=db, project_id=row.project_id)
        path = folders.path(row.folder_id)
    schedule = None
    if row.query_type == service.MATERIALIZED:
        found = await caches.query_schedules(db=db, project_id=row.project_id, query_ids=[row.id])
        schedule = found.get(row.id)
    return saved_query_out(row, path, schedule)


@router.post(BASE, responses=peaka_errors(409), response_model=out.Query)
async def create_query(
    project_id: Name,
    body: QueryRequest,
    state: StateDep,
    data: DataDep,
    _: OwnProject,
    checkSchemaExists: bool = True,  # noqa: N803 - Peaka's query parameter name
) -> dict[str, Any]:
    if body.displayName is None or body.inputQuery is None:
        raise InvalidInput("displayName and inputQuery are required")
    row = await service.create_query(
        database=state.database,
        project_id=project_id,
        display_name=body.displayName,
        input_query=body.inputQuery,
        query_type=body.queryType,
        checked_by=data if checkSchemaExists else None,
        path=body.path,
        schedule=body.schedule,
    )
    async with state.database.read() as db:
        return await _query_out(db, row)


def _builder_sql(body: ExecuteRequest) -> str:
    assert body.from_ is not None
    if len(body.from_) != 1:
        raise InvalidInput("from must name exactly one table")
    source = body.from_[0]
    return builder_sql(
        table=(source.catalogName, source.schemaName, source.tableName),
        columns=list(body.columns or []),
        filters=body.filters,
        order_by=list(body.orderBy or []),
        offset=body.offset,
    )


async def _statement_for(
    project_id: str, body: ExecuteRequest, db_read: Any
) -> tuple[str, list[str]]:
    given = [
        name
        for name, value in (
            ("statement", body.statement),
            ("id", body.id),
            ("qualifiedName", body.qualifiedName),
            ("from", body.from_),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidInput(
            "give exactly one of statement, id, qualifiedName or from; got "
            + (", ".join(given) or "none")
        )
    if body.bindings and body.statement is None:
        raise InvalidInput("bindings go with a statement")
    if body.statement is not None:
        return body.statement, list(body.bindings or [])
    if body.from_ is not None:
        return _builder_sql(body), []
    async with db_read() as db:
        if body.id is not None:
            saved = await service.get_query(db=db, project_id=project_id, query_id=body.id)
            return saved.input_query, []
        assert body.qualifiedName is not None
        try:
            table = exp.to_table(body.qualifiedName, dialect="postgres")
        except SqlglotError as err:
            raise InvalidInput(f"cannot read qualifiedName: {err}") from err
        if (
            table.catalog.casefold() == service.SAVED_QUERY_CATALOG
            and table.db.casefold() == service.SAVED_QUERY_SCHEMA
        ):
            name = table.name.lower()
            named = await service.find_by_name(db=db, project_id=project_id, name=name)
            if named is None:
                raise NotFound(f"Query {body.qualifiedName} not found")
            return named.input_query, []
        quoted = exp.table_(
            table.name, db=table.db or None, catalog=table.catalog or None, quoted=True
        )
        return exp.select("*").from_(quoted).sql(dialect="postgres"), []


async def _materialized(project_id: str, body: ExecuteRequest, db_read: Any) -> SavedQuery | None:
    """The MATERIALIZED saved query the request names (by `id`, or as
    `peaka.mtquery.<name>`), if it names one."""
    if body.id is not None:
        async with db_read() as db:
            saved = await service.get_query(db=db, project_id=project_id, query_id=body.id)
        return saved if saved.query_type == service.MATERIALIZED else None
    if body.qualifiedName is None:
        return None
    try:
        table = exp.to_table(body.qualifiedName, dialect="postgres")
    except SqlglotError as err:
        raise InvalidInput(f"cannot read qualifiedName: {err}") from err
    if (
        table.catalog.casefold() != service.SAVED_QUERY_CATALOG
        or table.db.casefold() != service.MATERIALIZED_SCHEMA
    ):
        return None
    async with db_read() as db:
        named = await service.find_by_name(db=db, project_id=project_id, name=table.name.lower())
    if named is None or named.query_type != service.MATERIALIZED:
        raise NotFound(f"Materialized query {body.qualifiedName} not found")
    return named


async def _read_copy(
    data: DataServices, project_id: str, query: SavedQuery, body: ExecuteRequest, layout: RowLayout
) -> QueryResult | None:
    """A materialized query's rows from its copy; None while it has none (run its SQL)."""
    caps, timeout = effective_limits(data, limit=body.limit, timeout_s=body.timeout, layout=layout)
    served = await read_materialized(
        data, project_id=project_id, query_id=query.id, timeout_s=timeout, caps=caps
    )
    if served is None:
        return None
    result, hit = served
    peaka = CatalogRef(service.SAVED_QUERY_CATALOG, service.SAVED_QUERY_CATALOG, "Peaka")
    origin = ConnectionRef("", project_id, "FILE", "", utcnow())
    guarded = GuardedSql(
        sql="", tables=(TableName(service.MATERIALIZED_SCHEMA, query.name),), row_cap=caps.rows
    )
    return QueryResult(ProjectCatalog(peaka, origin, ()), guarded, result, cache=hit)


def _body(query: QueryResult, layout: RowLayout, data: DataServices) -> bytes:
    """The response, written as Starlette's JSONResponse would (CPU work: in a thread). A
    result cut at the caps says so, beyond Peaka's shape: `truncated` and `truncation`."""
    result = query.result
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    head = '{"columns":' + encode(result_columns(query)) + ',"data":'
    tail = "}"
    if query.cache is not None:  # beyond Peaka's shape: served from cached copies
        tail = ',"cache":' + encode(query.cache.to_json()) + tail
    if result.truncated or result.cells_cut:
        truncation = {
            "moreRows": result.truncated,
            "cellsCut": result.cells_cut,
            "maxBytes": data.query_max_bytes,
            "maxCellBytes": data.query_max_cell_bytes,
        }
        tail = ',"truncated":true,"truncation":' + encode(truncation) + tail
    rows = render_rows(result.columns, result.rows, layout)
    return b"".join((head.encode(), rows, tail.encode()))


@router.post(
    BASE + "/execute",
    responses={
        **peaka_errors(408),
        200: {"model": out.QueryExecuteResult, "description": "Query Result"},
    },
)
async def execute_query(
    project_id: Name,
    body: ExecuteRequest,
    data: DataDep,
    _: OwnProject,
    format: Annotated[Format, Query()] = "CELL_TYPED",
) -> Response:
    """Runs a statement (with `?` bindings), a saved query (`id` or `peaka.query.<name>`), a
    table (`qualifiedName`) or a query-builder request, through the SQL guard, read-only,
    with a row cap (`limit`, at most PARLEY_QUERY_MAX_ROWS), a byte cap on the rows and on
    each cell (PARLEY_QUERY_MAX_BYTES, _MAX_CELL_BYTES) and a timeout in seconds."""
    layout = RowLayout(format)
    sql, bindings = await _statement_for(project_id, body, data.database.read)
    materialized = await _materialized(project_id, body, data.database.read)
    if materialized is not None:  # its copy, or its SQL while it has none
        copy = await _read_copy(data, project_id, materialized, body, layout)
        if copy is not None:
            content = await asyncio.to_thread(_body, copy, layout, data)
            return Response(content, media_type="application/json")
        sql, bindings = materialized.input_query, []
    result = await run_sql(
        data,
        project_id=project_id,
        sql=sql,
        bindings=bindings,
        limit=body.limit,
        timeout_s=body.timeout,
        layout=layout,
    )
    # cells are JSON values already: the body is documented (QueryExecuteResult), not
    # validated against it
    content = await asyncio.to_thread(_body, result, layout, data)
    return Response(content, media_type="application/json")


@router.get(BASE + "/{query_id}", response_model=out.Query)
async def read_query(project_id: Name, query_id: str, db: ReadDb, _: OwnProject) -> dict[str, Any]:
    row = await service.get_query(db=db, project_id=project_id, query_id=query_id)
    return await _query_out(db, row)


@router.put(BASE + "/{query_id}", responses=peaka_errors(409), response_model=out.Query)
async def update_query(
    project_id: Name,
    query_id: str,
    body: QueryRequest,
    state: StateDep,
    data: DataDep,
    _: OwnProject,
    __: SharedChange,  # semantic tables read the query's text
    checkSchemaExists: bool = True,  # noqa: N803 - Peaka's query parameter name
) -> dict[str, Any]:
    row = await service.update_query(
        database=state.database,
        project_id=project_id,
        query_id=query_id,
        display_name=body.displayName,
        input_query=body.inputQuery,
        query_type=body.queryType,
        checked_by=data if checkSchemaExists else None,
        schedule=body.schedule,
    )
    async with state.database.read() as db:
        return await _query_out(db, row)


@router.delete(
    BASE + "/{query_id}", response_class=Response, responses={200: {"description": "Query deleted"}}
)
async def delete_query(
    project_id: Name,
    query_id: str,
    _: OwnProject,
    __: SharedChange,  # before WriteDb: the cached catalogs are dropped after the commit
    db: WriteDb,
    data: DataDep,
    after: BackgroundTasks,
) -> Response:
    """Deletes the query and the semantic tables built on it; a materialized query's copy goes
    with it (its files once the delete has committed)."""
    copy = await caches.query_copy(db=db, project_id=project_id, query_id=query_id)
    await service.delete_query(db=db, project_id=project_id, query_id=query_id)
    if copy is not None:
        after.add_task(caches.remove_files, data, copy)
    return Response(status_code=200)


@router.post("/sql/transpile/{dialect}", response_model=out.TranspileResult)
async def transpile_sql(
    dialect: str,
    body: TranspileRequest,
    data: DataDep,
    _: AnyKey,
    source: Annotated[str, Query(alias="from")] = "trino",
) -> dict[str, str]:
    """From Peaka's dialect (Trino, or `?from=`) into `dialect`; nothing is run."""
    known = {k for k in sqlglot.Dialect.classes if k}
    for name in (dialect, source):
        if name.lower() not in known:
            raise InvalidInput(f"unknown SQL dialect {name!r}; known: {', '.join(sorted(known))}")
    # parsing and writing a long statement is CPU work: off the event loop
    result = await data.sql_work.run(
        transpile, body.query, read=source.lower(), write=dialect.lower(), chars=len(body.query)
    )
    return {"result": result}
