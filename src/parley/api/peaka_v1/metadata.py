"""/api/v1/metadata/{projectId}: what the data agent knows about a project's tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from parley import erasure
from parley.api.deps import Name, OwnProject, ReadDb, StateDep, WriteDb
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import (
    AIUsageRequest,
    CategoricalRequest,
    GoldenSqlRequest,
    MetadataUpdateRequest,
    RefreshRequest,
    RelationRequest,
    RelationUpdate,
    SemanticsRequest,
    golden_sql_out,
    metadata_column_out,
    relation_out,
)
from parley.data import catalog as catalogs
from parley.data import metadata as service
from parley.data import refresh_callbacks
from parley.data.connections import open_connector
from parley.data.execute import load_catalogs
from parley.data.refresh_jobs import Callback, callback_check, outcome, start_refresh
from parley.data.semantic_catalogs import SEMANTIC, semantic_views
from parley.data.semantics import MAX_QUESTIONS
from parley.data.sql_guard import TableName, quoted_column, quoted_table
from parley.data.table_view import TableView
from parley.errors import InvalidInput, NotFound

router = family_router(tags=["metadata"])
BASE = "/metadata/{project_id}"
Text = Annotated[str, Query(min_length=1, max_length=10_000)]


@router.get(BASE, response_model=out.ProjectMetadata)
async def get_project_metadata(
    project_id: Name,
    db: ReadDb,
    _: OwnProject,
    catalogId: str | None = None,  # noqa: N803 - Peaka's parameter names
    schemaName: str | None = None,  # noqa: N803
) -> dict[str, Any]:
    found = await service.project_metadata(
        db=db, project_id=project_id, catalog_id=catalogId, schema=schemaName
    )
    out = []
    for catalog, entries in found:
        schemas: dict[str, list[dict[str, Any]]] = {}
        for table, columns, relations in entries:
            schemas.setdefault(table.schema_name, []).append(
                {
                    "tableName": table.table_name,
                    "tableDescription": table.description,
                    "useWithAI": table.use_with_ai,
                    "rowCount": table.row_count,
                    "sampleRows": table.sample_rows,
                    "columns": [metadata_column_out(c) for c in columns],
                    "relations": [relation_out(r) for r in relations],
                }
            )
        out.append(
            {
                "catalogId": catalog.id,
                "catalogName": catalog.name,
                "displayName": catalog.display_name,
                "catalogType": catalog.catalog_type,
                "schemas": [{"schemaName": s, "tables": t} for s, t in schemas.items()],
            }
        )
    out += await _semantic_metadata(db, project_id, catalogId, schemaName)
    return {"projectId": project_id, "catalogs": out}


async def _semantic_metadata(
    db: AsyncSession, project_id: str, catalog_id: str | None, schema: str | None
) -> list[dict[str, Any]]:
    """The project's semantic catalogs, shaped like its catalogs (after them)."""
    by_catalog: dict[str, list[TableView]] = {}
    for view in await semantic_views(db=db, project_id=project_id):
        if catalog_id in (None, view.catalog.id) and schema in (None, view.table.schema_name):
            by_catalog.setdefault(view.catalog.id, []).append(view)
    found = []
    for views in by_catalog.values():
        schemas: dict[str, list[dict[str, Any]]] = {}
        for v in views:
            schemas.setdefault(v.table.schema_name, []).append(
                {
                    "tableName": v.table.table_name,
                    "tableDescription": v.table.description,
                    "useWithAI": True,
                    "rowCount": None,
                    "sampleRows": [],
                    "columns": [metadata_column_out(c) for c in v.columns],
                    "relations": [],
                }
            )
        catalog = views[0].catalog
        found.append(
            {
                "catalogId": catalog.id,
                "catalogName": catalog.name,
                "displayName": catalog.display_name,
                "catalogType": SEMANTIC,
                "schemas": [{"schemaName": s, "tables": t} for s, t in schemas.items()],
            }
        )
    return found


# --- refresh ------------------------------------------------------------------------------


@router.post(
    BASE + "/refresh", response_model=out.MetadataRefresh, response_model_exclude_unset=True
)
async def refresh_metadata(
    project_id: Name,
    data: DataDep,
    state: StateDep,
    background: BackgroundTasks,
    _: OwnProject,
    body: RefreshRequest | None = None,
) -> dict[str, Any]:
    """Without `callbackURL`: re-introspects now and answers with each catalog's outcome.
    With it: answers at once (status ACTIVE), refreshes on the work queue and POSTs the
    outcome, success or failure, to `callbackURL` with `Authorization: Bearer
    <callbackToken>`. Without it, the project's registered default callback is used if any."""
    catalog_id = body.catalogId if body else None
    callback = None
    if body is not None and body.callbackURL is not None:
        callback = Callback(body.callbackURL, body.callbackToken)
    elif body is None or body.callbackToken is None:
        # the project's default callback (/metadata/{projectId}/refresh/callback), if any
        callback = await refresh_callbacks.default_callback(data, project_id=project_id)
    if callback is not None:
        started = await start_refresh(
            data,
            project_id=project_id,
            catalog_id=catalog_id,
            callback=callback,
            check_callback=callback_check(
                allow_private_hosts=state.settings.callback_allow_private_hosts
            ),
        )
        if state.worker is not None:
            background.add_task(state.worker.notify)
        return started
    if body is not None and body.callbackToken is not None:
        raise InvalidInput("callbackToken goes with a callbackURL")
    done = await catalogs.refresh_catalogs(data, project_id=project_id, catalog_id=catalog_id)
    answer = outcome(project_id, done)
    del answer["projectId"]
    return answer


@router.get(BASE + "/refresh/{catalog_id}", response_model=out.RefreshStatus)
async def refresh_status(
    project_id: Name, catalog_id: str, db: ReadDb, _: OwnProject
) -> dict[str, Any]:
    row = await catalogs.get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    return {"status": row.refresh_status, "error": row.refresh_error}


# --- sample questions and generated descriptions (the agent role's model) -----------------


@router.get(
    BASE + "/questions/generate", responses=peaka_errors(502), response_model=out.SampleQuestions
)
async def generate_sample_questions(
    project_id: Name,
    state: StateDep,
    _: OwnProject,
    question: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_QUESTIONS)] = 5,
) -> dict[str, Any]:
    """Questions a user could ask about the project's tables (those flagged useWithAI).
    `question`, if given, is the topic they should be about. With no model configured they
    are built from the catalog: counts by category, totals and averages, trends by date."""
    questions = await state.semantics.sample_questions(
        project_id=project_id, limit=limit, topic=question
    )
    return {"questions": questions}


@router.post(
    BASE + "/semantics/{catalog_id}/{schema_name}/{table_name}",
    responses=peaka_errors(502),
    response_model=out.TableMetadata,
)
async def generate_semantics(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    body: SemanticsRequest,
    state: StateDep,
    _: OwnProject,
) -> dict[str, Any]:
    """Table and column descriptions written by the model from the columns, their sample
    and categorical values and sample rows, stored as the table's metadata."""
    table = await state.semantics.describe_table(
        project_id=project_id,
        catalog_id=catalog_id,
        schema=schema_name,
        table=table_name,
        instructions=body.initialPrompt,
        samples=body.limit,
    )
    async with state.database.read() as db:
        columns = await catalogs.list_columns(db=db, table_id=table.id)
    return {
        "tableName": table.table_name,
        "tableDescription": table.description,
        "useWithAI": table.use_with_ai,
        "columns": [metadata_column_out(c) for c in columns],
    }


# --- golden SQLs --------------------------------------------------------------------------


@router.get(BASE + "/golden-sqls", response_model=out.GoldenSqls, response_model_exclude_unset=True)
async def list_golden_sqls(project_id: Name, db: ReadDb, _: OwnProject) -> dict[str, Any]:
    rows = await service.list_golden_sqls(db=db, project_id=project_id)
    return {"goldenSqls": [golden_sql_out(r) for r in rows]}


@router.post(BASE + "/golden-sqls", response_model=out.GoldenSql, response_model_exclude_unset=True)
async def add_golden_sql(
    project_id: Name, body: GoldenSqlRequest, data: DataDep, _: OwnProject
) -> dict[str, Any]:
    row = await service.add_golden_sql(
        data, project_id=project_id, prompt=body.prompt, sql=body.sql
    )
    return golden_sql_out(row)


@router.delete(
    BASE + "/golden-sqls/{golden_id}",
    response_model=out.GoldenSql,
    response_model_exclude_unset=True,
)
async def delete_golden_sql(
    project_id: Name, golden_id: str, db: WriteDb, state: StateDep, _: OwnProject
) -> dict[str, Any]:
    """The deleted golden SQL (Peaka documents a JSON object); its copies in the agent's
    threads are redacted."""
    row = await erasure.delete_golden_sql(
        db, reasoning=state.reasoning, project_id=project_id, golden_id=golden_id
    )
    return golden_sql_out(row)


@router.get(
    BASE + "/golden-sql/query", response_model=out.GoldenSqls, response_model_exclude_unset=True
)
async def query_golden_sqls(
    project_id: Name,
    q: Text,
    data: DataDep,
    _: OwnProject,
    topK: str | None = None,  # noqa: N803
) -> dict[str, Any]:
    found = await service.search_golden_sqls(data, project_id=project_id, query=q, top_k=topK)
    return {"goldenSqls": [golden_sql_out(r, score) for r, score in found]}


@router.get(BASE + "/query", response_model=out.TableMatches)
async def query_metadata(
    project_id: Name,
    table: Text,
    data: DataDep,
    _: OwnProject,
    topK: str | None = None,  # noqa: N803
) -> dict[str, Any]:
    """Semantic search over the metadata of tables flagged useWithAI."""
    found = await service.search_tables(data, project_id=project_id, query=table, top_k=topK)
    return {"tables": found}


# --- relations ----------------------------------------------------------------------------


@router.get(BASE + "/relations/{catalog_id}", response_model=out.Relations)
async def list_relations(
    project_id: Name, catalog_id: str, db: ReadDb, _: OwnProject
) -> dict[str, Any]:
    rows = await service.list_relations(db=db, project_id=project_id, catalog_id=catalog_id)
    return {"relations": [relation_out(r) for r in rows]}


@router.post(
    BASE + "/relations/{catalog_id}/{schema_name}/{table_name}/{column_name}",
    response_model=out.Relation,
)
async def add_relation(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    column_name: str,
    body: RelationRequest,
    db: WriteDb,
    _: OwnProject,
) -> dict[str, Any]:
    row = await service.add_relation(
        db=db,
        project_id=project_id,
        catalog_id=catalog_id,
        schema=schema_name,
        table=table_name,
        column=column_name,
        target=(
            body.targetCatalogId,
            body.targetSchemaName,
            body.targetTableName,
            body.targetColumnName,
        ),
        kind=body.type,
    )
    return relation_out(row)


@router.put(
    BASE + "/relations/{catalog_id}/{schema_name}/{table_name}/{relation_id}",
    response_model=out.Relation,
)
async def update_relation(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    relation_id: str,
    body: RelationUpdate,
    db: WriteDb,
    _: OwnProject,
) -> dict[str, Any]:
    row = await service.get_relation(
        db=db,
        project_id=project_id,
        catalog_id=catalog_id,
        schema=schema_name,
        table=table_name,
        relation_id=relation_id,
    )
    row.type = body.type
    await db.flush()
    return relation_out(row)


@router.delete(
    BASE + "/relations/{catalog_id}/{schema_name}/{table_name}/{relation_id}",
    response_model=out.Relation,
)
async def delete_relation(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    relation_id: str,
    db: WriteDb,
    _: OwnProject,
) -> dict[str, Any]:
    """The deleted relation (Peaka documents a JSON object)."""
    row = await service.get_relation(
        db=db,
        project_id=project_id,
        catalog_id=catalog_id,
        schema=schema_name,
        table=table_name,
        relation_id=relation_id,
    )
    out = relation_out(row)
    await db.delete(row)
    return out


# --- categorical values -------------------------------------------------------------------

CATEGORICAL = BASE + "/categorical/{catalog_id}/{schema_name}/{table_name}/{column_name}"


@dataclass(frozen=True)
class Computed:
    values: list[Any]
    limit: int


async def computed_categorical(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    column_name: str,
    body: CategoricalRequest,
    data: DataDep,
) -> Computed:
    """Reads the column's most frequent values from the source, before the route's write
    transaction opens (dependencies run in declaration order)."""
    async with data.database.read() as db:
        found = await load_catalogs(db=db, project_id=project_id, catalog_id=catalog_id)
        if not found:
            raise NotFound(f"Catalog {catalog_id} not found")
        table = await catalogs.get_table(
            db=db,
            project_id=project_id,
            catalog_id=catalog_id,
            schema=schema_name,
            table=table_name,
        )
        columns = {c.name for c in await catalogs.list_columns(db=db, table_id=table.id)}
    if column_name not in columns:
        raise NotFound(f"Column {column_name} not found in {schema_name}.{table_name}")
    (catalog,) = found
    connector = await open_connector(data, catalog.connection)
    scope = catalog.scope
    values = await catalogs.categorical_values(
        data,
        connector,
        scope,
        quoted_table(TableName(schema_name, table_name), scope.dialect),
        quoted_column(column_name, scope.dialect),
        body.limit,
    )
    return Computed(values, body.limit)


@router.put(CATEGORICAL, response_model=out.MetadataColumn)
async def generate_categorical_values(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    column_name: str,
    _: OwnProject,
    computed: Annotated[Computed, Depends(computed_categorical)],
    db: WriteDb,
) -> dict[str, Any]:
    row = await service.set_categorical(
        db=db,
        project_id=project_id,
        catalog_id=catalog_id,
        schema=schema_name,
        table=table_name,
        column=column_name,
        values=computed.values,
        limit=computed.limit,
    )
    return metadata_column_out(row)


@router.delete(CATEGORICAL, response_model=out.MetadataColumn)
async def delete_categorical_values(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    column_name: str,
    db: WriteDb,
    _: OwnProject,
) -> dict[str, Any]:
    row = await service.set_categorical(
        db=db,
        project_id=project_id,
        catalog_id=catalog_id,
        schema=schema_name,
        table=table_name,
        column=column_name,
        values=None,
        limit=0,
    )
    return metadata_column_out(row)


# --- descriptions and useWithAI -----------------------------------------------------------


@router.put(BASE + "/{catalog_id}", response_model=out.AIUsageUpdate)
async def update_catalog_ai_usage(
    project_id: Name, catalog_id: str, body: AIUsageRequest, db: WriteDb, _: OwnProject
) -> dict[str, Any]:
    count = await service.set_use_with_ai(
        db=db, project_id=project_id, catalog_id=catalog_id, schema=None, value=body.useWithAI
    )
    return {"useWithAI": body.useWithAI, "tables": count}


@router.put(BASE + "/{catalog_id}/{schema_name}", response_model=out.AIUsageUpdate)
async def update_schema_ai_usage(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    body: AIUsageRequest,
    db: WriteDb,
    _: OwnProject,
) -> dict[str, Any]:
    count = await service.set_use_with_ai(
        db=db,
        project_id=project_id,
        catalog_id=catalog_id,
        schema=schema_name,
        value=body.useWithAI,
    )
    return {"useWithAI": body.useWithAI, "tables": count}


@router.put(BASE + "/{catalog_id}/{schema_name}/{table_name}", response_model=out.TableMetadata)
async def update_table_metadata(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    body: MetadataUpdateRequest,
    db: WriteDb,
    _: OwnProject,
) -> dict[str, Any]:
    table = await service.update_table_metadata(
        db=db,
        project_id=project_id,
        catalog_id=catalog_id,
        schema=schema_name,
        table=table_name,
        description=body.tableDescription,
        columns={c.columnName: c.columnDescription for c in body.columns or []},
        use_with_ai=body.useWithAI,
    )
    columns = await catalogs.list_columns(db=db, table_id=table.id)
    return {
        "tableName": table.table_name,
        "tableDescription": table.description,
        "useWithAI": table.use_with_ai,
        "columns": [metadata_column_out(c) for c in columns],
    }
