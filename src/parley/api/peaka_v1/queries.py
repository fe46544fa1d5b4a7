"""/api/v1/data/projects/{projectId}/queries: saved queries and execution; /sql/transpile."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

import sqlglot
from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession
from sqlglot import exp
from sqlglot.errors import SqlglotError

from parley.api.deps import AnyKey, Name, OwnProject, ReadDb, StateDep, WriteDb
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.schemas import (
    ExecuteRequest,
    QueryRequest,
    TranspileRequest,
    saved_query_out,
)
from parley.api.peaka_v1.semantic_catalogs import SharedChange
from parley.data import query_folders
from parley.data import saved_queries as service
from parley.data.connections import DataServices
from parley.data.connectors.results import RowLayout, render_rows
from parley.data.execute import QueryResult, result_columns, run_sql
from parley.data.query_builder import builder_sql
from parley.data.sql_guard import transpile
from parley.errors import InvalidInput, NotFound
from parley.store.data_models import SavedQuery

router = APIRouter(tags=["queries"])
BASE = "/data/projects/{project_id}/queries"
Format = Literal["CELL_TYPED", "SIMPLE", "COMPACT"]


@router.get(BASE, response_model=list[out.Query])
async def list_queries(project_id: Name, db: ReadDb, _: OwnProject) -> list[dict[str, Any]]:
    rows = await service.list_queries(db=db, project_id=project_id)
    folders = await query_folders.load_folders(db=db, project_id=project_id)
    return [saved_query_out(q, folders.path(q.folder_id)) for q in rows]


async def _query_out(db: AsyncSession, row: SavedQuery) -> dict[str, Any]:
    """The query as answered, with the path of its folder."""
    if row.folder_id is None:
        return saved_query_out(row)
    folders = await query_folders.load_folders(db=db, project_id=row.project_id)
    return saved_query_out(row, folders.path(row.folder_id))


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


def _body(query: QueryResult, layout: RowLayout, data: DataServices) -> bytes:
    """The response, written as Starlette's JSONResponse would (CPU work: in a thread). A
    result cut at the caps says so, beyond Peaka's shape: `truncated` and `truncation`."""
    result = query.result
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    head = '{"columns":' + encode(result_columns(query)) + ',"data":'
    tail = "}"
    if result.truncated or result.cells_cut:
        truncation = {
            "moreRows": result.truncated,
            "cellsCut": result.cells_cut,
            "maxBytes": data.query_max_bytes,
            "maxCellBytes": data.query_max_cell_bytes,
        }
        tail = ',"truncated":true,"truncation":' + encode(truncation) + "}"
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
    )
    async with state.database.read() as db:
        return await _query_out(db, row)


@router.delete(
    BASE + "/{query_id}", response_class=Response, responses={200: {"description": "Query deleted"}}
)
async def delete_query(
    project_id: Name, query_id: str, _: OwnProject, __: SharedChange, db: WriteDb
) -> Response:
    """Deletes the query and the semantic tables built on it."""
    await service.delete_query(db=db, project_id=project_id, query_id=query_id)
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
