"""Data tools: a project's catalogs, schemas and tables, one table described, a guarded
read-only query, and the data agent. Each checks the key as the /api/v1 routes' project policy
does; queries take the path every /api/v1 execute takes (`run_sql`: the SQL guard, the row and
byte caps, the timeout)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from parley.agent.graph import Listener
from parley.agent.state import AgentState
from parley.api.deps import Scope
from parley.api.peaka_v1 import agent as agent_routes
from parley.api.peaka_v1 import catalogs as catalog_routes
from parley.api.peaka_v1.schemas import ExecuteRequest, metadata_column_out, relation_out
from parley.data import catalog as catalogs
from parley.data import metadata
from parley.data.connectors.results import RowLayout
from parley.data.execute import result_columns, run_sql
from parley.mcp_server.args import ProjectId
from parley.mcp_server.reach import Caller, caller_of, tool_errors

CatalogId = Annotated[str, Field(min_length=1, max_length=200, description="A catalog's id.")]
SchemaName = Annotated[str, Field(min_length=1, max_length=1000)]
TableName = Annotated[str, Field(min_length=1, max_length=1000)]


async def list_catalogs(project_id: ProjectId, ctx: Context) -> list[dict[str, Any]]:
    """The project's catalogs: one per connected data source."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.PROJECT, project_id=project_id)
        async with caller.state.database.read() as db:
            return await catalog_routes.list_catalogs(
                project_id=project_id, db=db, _=caller.principal
            )


async def list_schemas(
    project_id: ProjectId, catalog_id: CatalogId, ctx: Context
) -> list[dict[str, Any]]:
    """The schemas of one catalog."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.PROJECT, project_id=project_id)
        async with caller.state.database.read() as db:
            return await catalog_routes.list_schemas(
                project_id=project_id, catalog_id=catalog_id, db=db, _=caller.principal
            )


async def list_tables(
    project_id: ProjectId, catalog_id: CatalogId, schema_name: SchemaName, ctx: Context
) -> list[dict[str, Any]]:
    """The tables of one schema of a catalog."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.PROJECT, project_id=project_id)
        async with caller.state.database.read() as db:
            return await catalog_routes.list_tables(
                project_id=project_id,
                catalog_id=catalog_id,
                schema_name=schema_name,
                db=db,
                _=caller.principal,
            )


async def table_description(
    caller: Caller, project_id: str, catalog_id: str, schema_name: str, table_name: str
) -> dict[str, Any]:
    """A table as /api/v1/metadata describes it (also the table resource's text)."""
    await caller.check(Scope.PROJECT, project_id=project_id)
    async with caller.state.database.read() as db:
        table = await catalogs.get_table(
            db=db,
            project_id=project_id,
            catalog_id=catalog_id,
            schema=schema_name,
            table=table_name,
        )
        columns = await catalogs.list_columns(db=db, table_id=table.id)
        relations = await metadata.list_relations(
            db=db, project_id=project_id, catalog_id=catalog_id
        )
    return {
        "catalogId": catalog_id,
        "schemaName": table.schema_name,
        "tableName": table.table_name,
        "tableDescription": table.description,
        "useWithAI": table.use_with_ai,
        "rowCount": table.row_count,
        "sampleRows": table.sample_rows,
        "columns": [metadata_column_out(c) for c in columns],
        "relations": [
            relation_out(r)
            for r in relations
            if (r.schema_name, r.table_name) == (table.schema_name, table.table_name)
        ],
    }


async def describe_table(
    project_id: ProjectId,
    catalog_id: CatalogId,
    schema_name: SchemaName,
    table_name: TableName,
    ctx: Context,
) -> dict[str, Any]:
    """One table: its description, row count, sample rows, columns (types, descriptions,
    sample and categorical values) and relations to other tables."""
    with tool_errors():
        return await table_description(
            caller_of(ctx), project_id, catalog_id, schema_name, table_name
        )


async def run_query(
    project_id: ProjectId,
    sql: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100_000,
            description="One read-only SELECT over the project's tables "
            "(catalog.schema.table, or schema.table when one catalog has it).",
        ),
    ],
    ctx: Context,
    limit: Annotated[
        int | None, Field(ge=1, description="Most rows (at most PARLEY_QUERY_MAX_ROWS).")
    ] = None,
    timeout: Annotated[
        float | None, Field(gt=0, description="Seconds (at most PARLEY_QUERY_TIMEOUT_S).")
    ] = None,
) -> dict[str, Any]:
    """Run one read-only SQL statement on the project's data, through the SQL guard, with a
    row cap and a timeout. A refused statement is an error that says why."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.PROJECT, project_id=project_id)
        body = ExecuteRequest(statement=sql, limit=limit, timeout=timeout)
        assert body.statement is not None
        data = caller.state.data
        query = await run_sql(
            data,
            project_id=project_id,
            sql=body.statement,
            limit=body.limit,
            timeout_s=body.timeout,
            layout=RowLayout.COMPACT,
        )
        result = query.result
        out: dict[str, Any] = {
            "sql": query.guarded.sql,
            "columns": result_columns(query),
            "rows": result.rows,
            "truncated": bool(result.truncated or result.cells_cut),
        }
        if out["truncated"]:
            out["truncation"] = {
                "moreRows": result.truncated,
                "cellsCut": result.cells_cut,
                "maxBytes": data.query_max_bytes,
                "maxCellBytes": data.query_max_cell_bytes,
            }
        return out


async def ask_data_agent(
    project_id: ProjectId,
    message: Annotated[str, Field(min_length=1, max_length=10_000)],
    ctx: Context,
    thread_id: Annotated[
        str | None, Field(min_length=1, max_length=512, description="Go on in this thread.")
    ] = None,
    no_execute: Annotated[
        bool, Field(description="Write and check the SQL, but do not run it.")
    ] = False,
    user_id: Annotated[
        str | None, Field(min_length=1, max_length=512, description="The asking user's peer.")
    ] = None,
) -> dict[str, Any]:
    """Ask the project's data agent a question, in a new thread or `thread_id`: it finds the
    tables, writes SQL, checks and runs it (unless `no_execute`) and explains the result. Each
    step is a progress notification when the client asks for progress."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.PROJECT, project_id=project_id)
        body = agent_routes.AgentChatRequest(
            message=message, threadId=thread_id, noExecute=no_execute, userId=user_id
        )
        request = agent_routes.agent_request(project_id, body, caller.principal)
        steps = 0

        async def update(node: str, changes: dict[str, Any], state: AgentState) -> None:
            nonlocal steps
            steps += 1
            await ctx.report_progress(steps, None, node)

        result = await caller.state.agent.run(request, Listener(update=update))
        return {"threadId": result.thread_id, "result": result.to_result()}


READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ASKS = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

TOOLS = (
    (list_catalogs, READS),
    (list_schemas, READS),
    (list_tables, READS),
    (describe_table, READS),
    (run_query, READS),
    (ask_data_agent, ASKS),  # it writes the thread and its turn
)
