"""Parametric tables: a table of a catalog with some of its columns fixed to values, queryable
as `<catalog>.<to_schema>.<to_table>` like any table (Peaka's `fromSchema.fromTable` bound with
`paramValues`). A query reads it as `SELECT * FROM from_table WHERE key = value AND ...`, the
values bound as literals (see `parley.data.virtual_tables`); text values may be relative-date
macros (`@today-7d`), evaluated on every query."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data import catalog as catalogs_service
from parley.data.connections import DataServices
from parley.data.execute import check_sql, load_catalogs
from parley.data.semantic_catalogs import object_name
from parley.data.virtual_tables import (
    ParametricDef,
    VirtualTables,
    check_param_value,
    semantic_names,
)
from parley.errors import InvalidInput, NotFound, ParleyError
from parley.ids import new_public_id
from parley.store.data_models import DataTable, ParametricTable


class TableExists(ParleyError):
    status_code = 400
    error_code = "TABLE_EXISTS"


def parametric_out(row: ParametricTable) -> dict[str, Any]:
    return {
        "fromSchema": row.from_schema,
        "fromTable": row.from_table,
        "toSchema": row.to_schema,
        "toTable": row.to_table,
        "paramValues": [{"key": v["key"], "value": v["value"]} for v in row.param_values],
    }


async def list_parametric_tables(
    *, db: AsyncSession, project_id: str, catalog_id: str
) -> list[ParametricTable]:
    await catalogs_service.get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    rows = await db.scalars(
        select(ParametricTable)
        .where(ParametricTable.catalog_id == catalog_id)
        .order_by(ParametricTable.to_schema, ParametricTable.to_table)
    )
    return list(rows)


def _params(values: list[dict[str, Any]] | None, columns: set[str]) -> list[dict[str, Any]]:
    if not values:
        raise InvalidInput("paramValues must name at least one column and its value")
    seen: set[str] = set()
    checked = []
    for item in values:
        key = item.get("key")
        if not isinstance(key, str) or key not in columns:
            raise InvalidInput(
                f"parameter {key!r} is not a column of the table; its columns: "
                + ", ".join(sorted(columns))
            )
        if key in seen:
            raise InvalidInput(f"parameter {key} is given twice")
        seen.add(key)
        checked.append({"key": key, "value": check_param_value(key, item.get("value"))})
    return checked


async def _target_free(
    db: AsyncSession, catalog_id: str, schema: str, table: str, label: str
) -> None:
    real = await db.scalar(
        select(DataTable.id).where(
            DataTable.catalog_id == catalog_id,
            DataTable.schema_name == schema,
            DataTable.table_name == table,
        )
    )
    defined = await db.scalar(
        select(ParametricTable.id).where(
            ParametricTable.catalog_id == catalog_id,
            ParametricTable.to_schema == schema,
            ParametricTable.to_table == table,
        )
    )
    if real is not None or defined is not None:
        raise TableExists(f"a table {label} exists in this catalog")


async def create_parametric_table(
    services: DataServices,
    *,
    project_id: str,
    catalog_id: str,
    from_schema: str | None,
    from_table: str | None,
    to_schema: str | None,
    to_table: str | None,
    param_values: list[dict[str, Any]] | None,
) -> ParametricTable:
    """Checks the bound query through the guard before storing it."""
    if not from_schema or not from_table:
        raise InvalidInput("fromSchema and fromTable are required")
    target_schema = object_name(to_schema, "toSchema")
    target_table = object_name(to_table, "toTable")
    label = f"{target_schema}.{target_table}"
    async with services.database.read() as db:
        catalog = await catalogs_service.get_catalog(
            db=db, project_id=project_id, catalog_id=catalog_id
        )
        source = await catalogs_service.get_table(
            db=db,
            project_id=project_id,
            catalog_id=catalog_id,
            schema=from_schema,
            table=from_table,
        )
        columns = {c.name for c in await catalogs_service.list_columns(db=db, table_id=source.id)}
        params = _params(param_values, columns)
        await _target_free(db, catalog.id, target_schema, target_table, label)
        loaded = await load_catalogs(db=db, project_id=project_id)
    candidate = ParametricDef(
        catalog=catalog.name,
        catalog_names=semantic_names([catalog.name, catalog.display_name]),
        schema=target_schema,
        table=target_table,
        from_schema=from_schema,
        from_table=from_table,
        params=tuple((p["key"], p["value"]) for p in params),
    )
    virtual = loaded[0].virtual
    with_candidate = VirtualTables(
        virtual.semantic, (*virtual.parametric, candidate), virtual.semantic_catalogs
    )
    sql = f'SELECT * FROM "{catalog.name}"."{target_schema}"."{target_table}"'
    await check_sql(services, sql, [replace(c, virtual=with_candidate) for c in loaded], row_cap=1)
    async with services.database.write() as db:
        await catalogs_service.get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
        await _target_free(db, catalog_id, target_schema, target_table, label)
        row = ParametricTable(
            id=new_public_id(),
            project_id=project_id,
            catalog_id=catalog_id,
            from_schema=source.schema_name,
            from_table=source.table_name,
            to_schema=target_schema,
            to_table=target_table,
            param_values=params,
        )
        db.add(row)
        await db.flush()
    services.forget_project(project_id)
    return row


async def delete_parametric_table(
    *, db: AsyncSession, project_id: str, catalog_id: str, to_schema: str, to_table: str
) -> None:
    await catalogs_service.get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    row = await db.scalar(
        select(ParametricTable).where(
            ParametricTable.catalog_id == catalog_id,
            ParametricTable.to_schema == to_schema,
            ParametricTable.to_table == to_table,
        )
    )
    if row is None:
        raise NotFound(f"Parametric table {to_schema}.{to_table} not found in catalog {catalog_id}")
    await db.delete(row)
    await db.flush()
