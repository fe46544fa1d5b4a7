"""Semantic catalogs: named catalogs of semantic tables, each a saved query of the project seen
as a table `<semantic_catalog>.<schema>.<table>` (expanded into its query before the guard: see
`parley.data.virtual_tables`). A table is checked when it is defined: its query runs through
the guard (read-only, tables that exist, no cycle through other semantic tables) and answers
one row, whose columns the table keeps for search and listings."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.catalog import CatalogExists, catalog_name
from parley.data.connections import DataServices, open_connector
from parley.data.connectors.results import ResultCaps
from parley.data.execute import check_sql, load_catalogs, run_guarded
from parley.data.projects import get_project
from parley.data.saved_queries import SAVED_QUERY_CATALOG, get_query
from parley.data.table_view import TableView
from parley.data.virtual_tables import (
    ParametricDef,
    SemanticDef,
    VirtualTables,
    semantic_names,
)
from parley.errors import Conflict, InvalidInput, NotFound
from parley.ids import new_public_id
from parley.store.data_models import (
    CatalogShare,
    DataCatalog,
    DataColumn,
    DataTable,
    ParametricTable,
    SavedQuery,
    SemanticCatalog,
    SemanticTable,
)

SEMANTIC = "SEMANTIC"
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")


def object_name(value: str | None, what: str) -> str:
    """A schema or table name: letters, digits and underscores, not starting with a digit."""
    if value is None or not NAME_PATTERN.fullmatch(value):
        raise InvalidInput(
            f"{what} must start with a letter or underscore and hold at most 200 letters, "
            "digits and underscores"
        )
    return value


async def names_taken(db: AsyncSession, project_id: str) -> set[str]:
    """Catalog names a query of this project may use: its catalogs and semantic catalogs, the
    ones shared with it, and `peaka` (saved queries)."""
    shared_data = select(CatalogShare.catalog_id).where(
        CatalogShare.target_project_id == project_id
    )
    shared_semantic = select(CatalogShare.semantic_catalog_id).where(
        CatalogShare.target_project_id == project_id
    )
    data = await db.scalars(
        select(DataCatalog.name).where(
            or_(DataCatalog.project_id == project_id, DataCatalog.id.in_(shared_data))
        )
    )
    semantic = await db.scalars(
        select(SemanticCatalog.name).where(
            or_(SemanticCatalog.project_id == project_id, SemanticCatalog.id.in_(shared_semantic))
        )
    )
    return {n.casefold() for n in [*data, *semantic, SAVED_QUERY_CATALOG]}


async def create_semantic_catalog(
    *, db: AsyncSession, project_id: str, display_name: str | None
) -> SemanticCatalog:
    await get_project(db=db, project_id=project_id)
    if not display_name:
        raise InvalidInput("name is required")
    name = catalog_name(display_name)
    if name in await names_taken(db, project_id):
        raise CatalogExists(f"a catalog named {name} exists in this project")
    row = SemanticCatalog(
        id=new_public_id(), project_id=project_id, name=name, display_name=display_name
    )
    db.add(row)
    await db.flush()
    return row


async def get_semantic_catalog(
    *, db: AsyncSession, project_id: str, catalog_id: str
) -> SemanticCatalog:
    row = await db.get(SemanticCatalog, catalog_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"Semantic catalog {catalog_id} not found")
    return row


async def find_semantic_catalog(
    *, db: AsyncSession, project_id: str, catalog_id: str
) -> SemanticCatalog | None:
    row = await db.get(SemanticCatalog, catalog_id)
    return row if row is not None and row.project_id == project_id else None


async def semantic_tables_of(
    *, db: AsyncSession, project_id: str, catalog_id: str
) -> tuple[SemanticCatalog, list[SemanticTable]] | None:
    """The semantic catalog `catalog_id` of the project and its tables; None when there is
    no such semantic catalog (it may be a catalog)."""
    catalog = await find_semantic_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    if catalog is None:
        return None
    rows = await db.scalars(
        select(SemanticTable)
        .where(SemanticTable.catalog_id == catalog.id)
        .order_by(SemanticTable.schema_name, SemanticTable.table_name)
    )
    return catalog, list(rows)


def semantic_table_listed(catalog: SemanticCatalog, row: SemanticTable) -> dict[str, Any]:
    """A semantic table as the catalog routes list tables (`Table`)."""
    return {
        "catalogId": catalog.id,
        "catalogName": catalog.name,
        "schemaName": row.schema_name,
        "tableName": row.table_name,
        "isCacheable": False,
        "isDynamicTable": True,  # a query, read live
        "isCached": False,
        "supportedCacheTypes": [],
    }


async def list_semantic_catalogs(*, db: AsyncSession, project_id: str) -> list[SemanticCatalog]:
    rows = await db.scalars(
        select(SemanticCatalog)
        .where(SemanticCatalog.project_id == project_id)
        .order_by(SemanticCatalog.created_at, SemanticCatalog.id)
    )
    return list(rows)


async def _clash(db: AsyncSession, catalog_id: str, schema: str, table: str) -> None:
    found = await db.scalar(
        select(SemanticTable.id).where(
            SemanticTable.catalog_id == catalog_id,
            SemanticTable.schema_name == schema,
            SemanticTable.table_name == table,
        )
    )
    if found is not None:
        raise Conflict(f"a semantic table {schema}.{table} exists in this catalog")


async def create_semantic_table(
    services: DataServices,
    *,
    project_id: str,
    catalog_id: str,
    schema_name: str | None,
    table_name: str | None,
    query_id: str | None,
    description: str | None = None,
) -> tuple[SemanticCatalog, SemanticTable]:
    """Checks the table's query through the guard as the table itself (so a query that reads
    the table, directly or through other semantic tables, is refused) and runs it for one
    row (its columns); the write comes after, in its own transaction."""
    schema = object_name(schema_name, "schemaName")
    table = object_name(table_name, "tableName")
    if not query_id:
        raise InvalidInput("queryId is required")
    async with services.database.read() as db:
        catalog = await get_semantic_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
        query = await get_query(db=db, project_id=project_id, query_id=query_id)
        await _clash(db, catalog.id, schema, table)
        catalogs = await load_catalogs(db=db, project_id=project_id)
    if not catalogs:
        raise InvalidInput("this project has no catalogs yet: connect a data source first")
    candidate = SemanticDef(catalog.name, schema, table, query.input_query, query.id)
    virtual = catalogs[0].virtual.with_semantic(candidate)
    catalogs = [replace(c, virtual=virtual) for c in catalogs]
    sql = f'SELECT * FROM "{catalog.name}"."{schema}"."{table}"'
    picked, guarded = await check_sql(services, sql, catalogs, row_cap=1)
    connector = await open_connector(services, picked.connection)
    result = await run_guarded(
        connector,
        guarded,
        timeout_s=services.query_timeout_s,
        caps=ResultCaps(rows=1, bytes=services.query_max_bytes, cell_bytes=1024),
    )
    async with services.database.write() as db:
        catalog = await get_semantic_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
        await get_query(db=db, project_id=project_id, query_id=query_id)
        await _clash(db, catalog.id, schema, table)
        row = SemanticTable(
            id=new_public_id(),
            project_id=project_id,
            catalog_id=catalog.id,
            schema_name=schema,
            table_name=table,
            query_id=query_id,
            description=description,
            columns=[[name, data_type] for name, data_type in result.columns],
        )
        db.add(row)
        await db.flush()
    services.forget_project(project_id)
    return catalog, row


async def delete_semantic_table(
    *, db: AsyncSession, project_id: str, catalog_id: str, table_id: str
) -> None:
    await get_semantic_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    row = await db.get(SemanticTable, table_id)
    if row is None or row.catalog_id != catalog_id:
        raise NotFound(f"Semantic table {table_id} not found in catalog {catalog_id}")
    await db.delete(row)
    await db.flush()


def semantic_table_out(catalog: SemanticCatalog, row: SemanticTable) -> dict[str, Any]:
    return {
        "tableId": row.id,
        "catalogId": catalog.id,
        "catalogName": catalog.name,
        "schemaName": row.schema_name,
        "tableName": row.table_name,
    }


def semantic_catalog_out(row: SemanticCatalog) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "displayName": row.display_name,
        "catalogType": SEMANTIC,
        "connectionId": None,
    }


async def semantic_views(*, db: AsyncSession, project_id: str) -> list[TableView]:
    """The project's semantic tables as the agent reads tables (rows not stored: a
    semantic table has its columns in `SemanticTable.columns`), by catalog and name."""
    pairs = (
        await db.execute(
            select(SemanticCatalog, SemanticTable)
            .join(SemanticTable, SemanticTable.catalog_id == SemanticCatalog.id)
            .where(SemanticCatalog.project_id == project_id)
            .order_by(
                SemanticCatalog.created_at,
                SemanticCatalog.id,
                SemanticTable.schema_name,
                SemanticTable.table_name,
            )
        )
    ).all()
    views = []
    for catalog, table in pairs:
        as_catalog = DataCatalog(
            id=catalog.id,
            project_id=project_id,
            name=catalog.name,
            display_name=catalog.display_name,
            catalog_type=SEMANTIC.lower(),
        )
        as_table = DataTable(
            project_id=project_id,
            catalog_id=catalog.id,
            schema_name=table.schema_name,
            table_name=table.table_name,
            description=table.description,
            use_with_ai=True,
            row_count=None,
            sample_rows=[],
        )
        columns = [
            DataColumn(
                name=str(name),
                position=position,
                data_type=str(data_type)[:100],
                description=None,
                categorical_values=None,
                sample_values=[],
                is_primary=False,
                is_not_null=False,
                is_unique=False,
            )
            for position, (name, data_type) in enumerate(table.columns)
        ]
        views.append(TableView(as_catalog, as_table, columns, []))
    return views


async def load_virtual_tables(*, db: AsyncSession, project_id: str) -> VirtualTables:
    """The semantic tables of the project's semantic catalogs and of those shared with it,
    and the parametric tables of its catalogs and of those shared with it."""
    shared_semantic = select(CatalogShare.semantic_catalog_id).where(
        CatalogShare.target_project_id == project_id
    )
    shared_data = select(CatalogShare.catalog_id).where(
        CatalogShare.target_project_id == project_id
    )
    semantic_catalogs = list(
        await db.scalars(
            select(SemanticCatalog.name).where(
                or_(
                    SemanticCatalog.project_id == project_id,
                    SemanticCatalog.id.in_(shared_semantic),
                )
            )
        )
    )
    semantic = (
        await db.execute(
            select(
                SemanticCatalog.name,
                SemanticTable.schema_name,
                SemanticTable.table_name,
                SavedQuery.input_query,
                SavedQuery.id,
            )
            .join(SemanticCatalog, SemanticCatalog.id == SemanticTable.catalog_id)
            .join(SavedQuery, SavedQuery.id == SemanticTable.query_id)
            .where(
                or_(
                    SemanticTable.project_id == project_id,
                    SemanticTable.catalog_id.in_(shared_semantic),
                )
            )
            .order_by(SemanticTable.id)
        )
    ).all()
    parametric = (
        await db.execute(
            select(ParametricTable, DataCatalog.name, DataCatalog.display_name)
            .join(DataCatalog, DataCatalog.id == ParametricTable.catalog_id)
            .where(
                or_(
                    ParametricTable.project_id == project_id,
                    ParametricTable.catalog_id.in_(shared_data),
                )
            )
            .order_by(ParametricTable.id)
        )
    ).all()
    return VirtualTables(
        tuple(SemanticDef(c, s, t, sql, q) for c, s, t, sql, q in semantic),
        tuple(
            ParametricDef(
                catalog=name,
                catalog_names=semantic_names([name, display]),
                schema=p.to_schema,
                table=p.to_table,
                from_schema=p.from_schema,
                from_table=p.from_table,
                # checked when stored (`check_param_value`), not again on every load
                params=tuple((str(v["key"]), v.get("value")) for v in p.param_values),
            )
            for p, name, display in parametric
        ),
        semantic_names(semantic_catalogs),
    )
