"""Metadata for the data agent: descriptions and useWithAI flags, categorical values, relations,
golden SQLs, and semantic search over golden SQLs and table metadata with the embedder.

Embeddings are computed with no database session open: golden SQLs before they are stored,
tables lazily at search time (an edit clears a table's vector)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.catalog import get_catalog, get_table, list_columns
from parley.data.connections import DataServices
from parley.data.projects import get_project
from parley.errors import InvalidInput, NotFound
from parley.ids import new_public_id
from parley.store.data_models import (
    DataCatalog,
    DataColumn,
    DataRelation,
    DataTable,
    GoldenSql,
)
from parley.store.dml import execute_dml

MAX_TOP_K = 100


def _top_k(raw: str | int | None, default: int = 5) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError) as err:
        raise InvalidInput("topK must be a whole number") from err
    if not 1 <= value <= MAX_TOP_K:
        raise InvalidInput(f"topK must be between 1 and {MAX_TOP_K}")
    return value


def _cosine(query: np.ndarray, vectors: list[np.ndarray]) -> np.ndarray:
    matrix = np.vstack(vectors).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
    return (matrix @ query) / np.where(norms == 0, 1.0, norms)


# --- descriptions and flags ---------------------------------------------------------------


async def set_use_with_ai(
    *, db: AsyncSession, project_id: str, catalog_id: str, schema: str | None, value: bool
) -> int:
    await get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    stmt = update(DataTable).where(DataTable.catalog_id == catalog_id)
    if schema is not None:
        stmt = stmt.where(DataTable.schema_name == schema)
    count = (await execute_dml(db, stmt.values(use_with_ai=value))).rowcount
    if schema is not None and count == 0:
        raise NotFound(f"Schema {schema} not found in catalog {catalog_id}")
    return count


async def update_table_metadata(
    *,
    db: AsyncSession,
    project_id: str,
    catalog_id: str,
    schema: str,
    table: str,
    description: str | None,
    columns: dict[str, str | None],
    use_with_ai: bool | None,
) -> DataTable:
    row = await get_table(
        db=db, project_id=project_id, catalog_id=catalog_id, schema=schema, table=table
    )
    by_name = {c.name: c for c in await list_columns(db=db, table_id=row.id)}
    unknown = sorted(set(columns) - set(by_name))
    if unknown:
        raise InvalidInput(f"table {schema}.{table} has no column {unknown[0]}")
    if description is not None:
        row.description = description
    if use_with_ai is not None:
        row.use_with_ai = use_with_ai
    for name, text in columns.items():
        by_name[name].description = text
    row.embedding = None
    await db.flush()
    return row


async def set_categorical(
    *,
    db: AsyncSession,
    project_id: str,
    catalog_id: str,
    schema: str,
    table: str,
    column: str,
    values: list[Any] | None,
    limit: int,
) -> DataColumn:
    """Values generated with `limit`, or none with limit 0 (turned off); either way later
    refreshes keep to the choice (see `DataColumn.categorical_limit`)."""
    row = await get_table(
        db=db, project_id=project_id, catalog_id=catalog_id, schema=schema, table=table
    )
    found = await db.scalar(
        select(DataColumn).where(DataColumn.table_id == row.id, DataColumn.name == column)
    )
    if found is None:
        raise NotFound(f"Column {column} not found in {schema}.{table}")
    found.categorical_values = values
    found.categorical_limit = limit
    await db.flush()
    return found


async def project_metadata(
    *, db: AsyncSession, project_id: str, catalog_id: str | None, schema: str | None
) -> list[tuple[DataCatalog, list[tuple[DataTable, list[DataColumn], list[DataRelation]]]]]:
    """Everything the agent reads about a project's data, catalog by catalog."""
    await get_project(db=db, project_id=project_id)
    catalogs = select(DataCatalog).where(DataCatalog.project_id == project_id)
    if catalog_id is not None:
        catalogs = catalogs.where(DataCatalog.id == catalog_id)
    out = []
    for catalog in await db.scalars(catalogs.order_by(DataCatalog.created_at)):
        tables = select(DataTable).where(DataTable.catalog_id == catalog.id)
        if schema is not None:
            tables = tables.where(DataTable.schema_name == schema)
        relations = list(
            await db.scalars(select(DataRelation).where(DataRelation.catalog_id == catalog.id))
        )
        entries = []
        for table in await db.scalars(tables.order_by(DataTable.schema_name, DataTable.table_name)):
            columns = await list_columns(db=db, table_id=table.id)
            own = [
                r
                for r in relations
                if (r.schema_name, r.table_name) == (table.schema_name, table.table_name)
            ]
            entries.append((table, columns, own))
        out.append((catalog, entries))
    return out


# --- relations ----------------------------------------------------------------------------


async def list_relations(
    *, db: AsyncSession, project_id: str, catalog_id: str
) -> list[DataRelation]:
    await get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    rows = await db.scalars(
        select(DataRelation)
        .where(DataRelation.catalog_id == catalog_id)
        .order_by(DataRelation.schema_name, DataRelation.table_name, DataRelation.column_name)
    )
    return list(rows)


async def add_relation(
    *,
    db: AsyncSession,
    project_id: str,
    catalog_id: str,
    schema: str,
    table: str,
    column: str,
    target: tuple[str, str, str, str],
    kind: str,
) -> DataRelation:
    source = await get_table(
        db=db, project_id=project_id, catalog_id=catalog_id, schema=schema, table=table
    )
    if column not in {c.name for c in await list_columns(db=db, table_id=source.id)}:
        raise NotFound(f"Column {column} not found in {schema}.{table}")
    t_catalog, t_schema, t_table, t_column = target
    target_row = await get_table(
        db=db, project_id=project_id, catalog_id=t_catalog, schema=t_schema, table=t_table
    )
    if t_column not in {c.name for c in await list_columns(db=db, table_id=target_row.id)}:
        raise NotFound(f"Column {t_column} not found in {t_schema}.{t_table}")
    row = DataRelation(
        id=new_public_id(),
        project_id=project_id,
        catalog_id=catalog_id,
        schema_name=schema,
        table_name=table,
        column_name=column,
        target_catalog_id=t_catalog,
        target_schema_name=t_schema,
        target_table_name=t_table,
        target_column_name=t_column,
        type=kind,
        origin="manual",
    )
    db.add(row)
    await db.flush()
    return row


async def get_relation(
    *, db: AsyncSession, project_id: str, catalog_id: str, schema: str, table: str, relation_id: str
) -> DataRelation:
    row = await db.get(DataRelation, relation_id)
    if (
        row is None
        or row.project_id != project_id
        or (row.catalog_id, row.schema_name, row.table_name) != (catalog_id, schema, table)
    ):
        raise NotFound(f"Relation {relation_id} not found")
    return row


# --- golden SQLs --------------------------------------------------------------------------


async def add_golden_sql(
    services: DataServices, *, project_id: str, prompt: str, sql: str
) -> GoldenSql:
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
    vector = (await services.embedder.embed([prompt]))[0]
    row = GoldenSql(id=new_public_id(), project_id=project_id, prompt=prompt, sql=sql)
    row.embedding = vector
    async with services.database.write() as db:
        db.add(row)
    return row


async def list_golden_sqls(*, db: AsyncSession, project_id: str) -> list[GoldenSql]:
    await get_project(db=db, project_id=project_id)
    rows = await db.scalars(
        select(GoldenSql)
        .where(GoldenSql.project_id == project_id)
        .order_by(GoldenSql.created_at, GoldenSql.id)
    )
    return list(rows)


async def delete_golden_sql(*, db: AsyncSession, project_id: str, golden_id: str) -> GoldenSql:
    row = await db.get(GoldenSql, golden_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"Golden SQL {golden_id} not found")
    await db.delete(row)
    await db.flush()
    return row


async def search_golden_sqls(
    services: DataServices,
    *,
    project_id: str,
    query: str,
    top_k: str | int | None,
    vector: np.ndarray | None = None,  # the query, already embedded
) -> list[tuple[GoldenSql, float]]:
    k = _top_k(top_k)
    async with services.database.read() as db:
        rows = await list_golden_sqls(db=db, project_id=project_id)
    if not rows:
        return []
    if vector is None:
        vector = (await services.embedder.embed([query]))[0]
    scores = _cosine(vector, [r.embedding for r in rows])
    order = np.argsort(-scores, kind="stable")[:k]
    return [(rows[i], float(scores[i])) for i in order]


# --- table metadata search ----------------------------------------------------------------


def table_text(table: DataTable, catalog: str, columns: list[DataColumn]) -> str:
    parts = [f"{catalog}.{table.schema_name}.{table.table_name}"]
    if table.description:
        parts.append(table.description)
    cols = []
    for c in columns:
        text = f"{c.name} {c.data_type}"
        if c.description:
            text += f" ({c.description})"
        cols.append(text)
    parts.append("columns: " + ", ".join(cols))
    return ". ".join(parts)


async def search_tables(
    services: DataServices,
    *,
    project_id: str,
    query: str,
    top_k: str | int | None,
    vector: np.ndarray | None = None,  # the query, already embedded
) -> list[dict[str, Any]]:
    """Tables flagged useWithAI, ranked by similarity of their metadata to `query`."""
    k = _top_k(top_k)
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
        pairs = (
            await db.execute(
                select(DataTable, DataCatalog)
                .join(DataCatalog, DataCatalog.id == DataTable.catalog_id)
                .where(DataTable.project_id == project_id, DataTable.use_with_ai.is_(True))
                .order_by(DataTable.id)
            )
        ).all()
        texts = {
            t.id: table_text(t, c.name, await list_columns(db=db, table_id=t.id))
            for t, c in pairs
            if t.embedding is None
        }
    if not pairs:
        return []
    if texts:
        ids = list(texts)
        vectors = await services.embedder.embed([texts[i] for i in ids])
        fresh = dict(zip(ids, vectors, strict=True))
        async with services.database.write() as db:
            for table_id, vec in fresh.items():
                row = await db.get(DataTable, table_id)
                if row is not None and row.embedding is None:
                    row.embedding = vec
        for table, _ in pairs:
            if table.id in fresh:
                table.embedding = fresh[table.id]
    if vector is None:
        vector = (await services.embedder.embed([query]))[0]
    embeddings = [t.embedding for t, _ in pairs if t.embedding is not None]
    assert len(embeddings) == len(pairs)  # each table without one was embedded above
    scores = _cosine(vector, embeddings)
    order = np.argsort(-scores, kind="stable")[:k]
    return [
        {
            "catalogId": pairs[i][1].id,
            "catalogName": pairs[i][1].name,
            "schemaName": pairs[i][0].schema_name,
            "tableName": pairs[i][0].table_name,
            "tableDescription": pairs[i][0].description,
            "score": round(float(scores[i]), 6),
        }
        for i in order
    ]
