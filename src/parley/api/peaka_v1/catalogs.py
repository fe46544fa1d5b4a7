"""/api/v1/data/projects/{projectId}/catalogs: catalogs, schemas, tables, columns, statistics."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from parley import erasure
from parley.api.deps import DataChange, Name, OwnProject, ReadDb, StateDep, WriteDb
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import CatalogRequest, catalog_out, column_out, table_out
from parley.api.peaka_v1.semantic_catalogs import SharedChange
from parley.data import catalog as service
from parley.data import semantic_catalogs

router = family_router(tags=["catalogs"])
BASE = "/data/projects/{project_id}/catalogs"
TABLE = BASE + "/{catalog_id}/schemas/{schema_name}/tables/{table_name}"


@router.get(BASE, response_model=list[out.Catalog])
async def list_catalogs(project_id: Name, db: ReadDb, _: OwnProject) -> list[dict[str, Any]]:
    """The project's catalogs, then its semantic catalogs (`catalogType` SEMANTIC)."""
    found = [catalog_out(c) for c in await service.list_catalogs(db=db, project_id=project_id)]
    semantic = await semantic_catalogs.list_semantic_catalogs(db=db, project_id=project_id)
    return found + [semantic_catalogs.semantic_catalog_out(c) for c in semantic]


@router.post(BASE, response_model=out.Catalog)
async def create_catalog(
    project_id: Name, body: CatalogRequest, data: DataDep, _: OwnProject
) -> dict[str, Any]:
    """Introspects the connection's tables and their statistics before answering."""
    row = await service.create_catalog(
        data, project_id=project_id, display_name=body.name, connection_id=body.connectionId
    )
    return catalog_out(row)


@router.get(BASE + "/{catalog_id}", response_model=out.Catalog)
async def read_catalog(
    project_id: Name, catalog_id: str, db: ReadDb, _: OwnProject
) -> dict[str, Any]:
    semantic = await semantic_catalogs.find_semantic_catalog(
        db=db, project_id=project_id, catalog_id=catalog_id
    )
    if semantic is not None:
        return semantic_catalogs.semantic_catalog_out(semantic)
    return catalog_out(
        await service.get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    )


@router.delete(
    BASE + "/{catalog_id}",
    response_class=Response,
    responses={200: {"description": "Catalog deleted"}},
)
async def delete_catalog(
    project_id: Name,
    catalog_id: str,
    _: OwnProject,
    __: DataChange,
    ___: SharedChange,
    db: WriteDb,
    state: StateDep,
) -> Response:
    """Deletes the catalog (its tables, columns, relations, parametric tables, its shares
    with other projects) and its copies in the agent's threads."""
    await erasure.delete_catalog(
        db, reasoning=state.reasoning, project_id=project_id, catalog_id=catalog_id
    )
    return Response(status_code=200)


@router.get(BASE + "/{catalog_id}/schemas", response_model=list[out.Schema])
async def list_schemas(
    project_id: Name, catalog_id: str, db: ReadDb, _: OwnProject
) -> list[dict[str, Any]]:
    """Also of a semantic catalog (the schemas of its semantic tables)."""
    semantic = await semantic_catalogs.semantic_tables_of(
        db=db, project_id=project_id, catalog_id=catalog_id
    )
    if semantic is not None:
        sem, rows = semantic
        names = sorted({t.schema_name for t in rows})
        return [{"catalogId": sem.id, "catalogName": sem.name, "schemaName": n} for n in names]
    catalog = await service.get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    tables = await service.list_tables(db=db, project_id=project_id, catalog_id=catalog_id)
    names = sorted({t.schema_name for t in tables})
    return [{"catalogId": catalog.id, "catalogName": catalog.name, "schemaName": n} for n in names]


@router.get(BASE + "/{catalog_id}/schemas/{schema_name}/tables", response_model=list[out.Table])
async def list_tables(
    project_id: Name, catalog_id: str, schema_name: str, db: ReadDb, _: OwnProject
) -> list[dict[str, Any]]:
    """Also of a semantic catalog (its semantic tables in the schema)."""
    semantic = await semantic_catalogs.semantic_tables_of(
        db=db, project_id=project_id, catalog_id=catalog_id
    )
    if semantic is not None:
        sem, rows = semantic
        return [
            semantic_catalogs.semantic_table_listed(sem, t)
            for t in rows
            if t.schema_name == schema_name
        ]
    catalog = await service.get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    tables = await service.list_tables(
        db=db, project_id=project_id, catalog_id=catalog_id, schema=schema_name
    )
    return [table_out(catalog, t) for t in tables]


@router.get(TABLE + "/columns", response_model=list[out.ColumnDetail])
async def list_columns(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    db: ReadDb,
    _: OwnProject,
) -> list[dict[str, Any]]:
    table = await service.get_table(
        db=db, project_id=project_id, catalog_id=catalog_id, schema=schema_name, table=table_name
    )
    return [column_out(c) for c in await service.list_columns(db=db, table_id=table.id)]


@router.get(TABLE + "/statistics", response_model=out.TableStatistics)
async def table_statistics(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    db: ReadDb,
    _: OwnProject,
) -> dict[str, Any]:
    """`distinctFraction` is distinct values / rows (0..1), measured at the last refresh."""
    table = await service.get_table(
        db=db, project_id=project_id, catalog_id=catalog_id, schema=schema_name, table=table_name
    )
    columns = await service.list_columns(db=db, table_id=table.id)
    return {
        "catalogId": catalog_id,
        "schemaName": schema_name,
        "tableName": table_name,
        "rowCount": table.row_count,
        "columnStatistics": [
            {"columnName": c.name, "distinctFraction": c.distinct_fraction} for c in columns
        ],
    }


@router.get(TABLE + "/isCached", response_model=out.TableCacheResult)
async def is_cached(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    db: ReadDb,
    _: OwnProject,
) -> dict[str, Any]:
    """Parley reads sources live; no table is cached."""
    await service.get_table(
        db=db, project_id=project_id, catalog_id=catalog_id, schema=schema_name, table=table_name
    )
    return {"isCached": False, "isCacheable": False, "supportedCacheTypes": []}
