"""The catalog as Trino's metadata tables: `<catalog>.information_schema.{schemata, tables,
columns, views}` of each project catalog, and `system.jdbc.*` / `system.metadata.*` over all
of them, built from the introspected catalog (no source is asked). Statements over them run
through the SQL guard on an in-memory SQLite database that holds only this project's
metadata, locked down like any SQLite source (`MetadataConnector`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.connectors import connector_class
from parley.data.connectors.sqlite import MAX_VALUE_BYTES, SqliteConnector
from parley.data.connectors.sqlite import _authorize as authorize_reads
from parley.data.sql_guard import CatalogScope, TableName
from parley.data.sql_text import quoted_name
from parley.store.data_models import DataCatalog, DataColumn, DataConnection, DataTable
from parley.trino.types import TrinoType, trino_type

INFORMATION_SCHEMA = "information_schema"
SYSTEM = "system"
SYSTEM_SCHEMAS = ("jdbc", "metadata")

V, B = "varchar", "bigint"
# (schema, table) -> columns, for every catalog's information_schema and for `system`
INFORMATION_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "schemata": (("catalog_name", V), ("schema_name", V)),
    "tables": (("table_catalog", V), ("table_schema", V), ("table_name", V), ("table_type", V)),
    "columns": (
        ("table_catalog", V), ("table_schema", V), ("table_name", V), ("column_name", V),
        ("ordinal_position", B), ("column_default", V), ("is_nullable", V), ("data_type", V),
        ("comment", V),
    ),
    "views": (("table_catalog", V), ("table_schema", V), ("table_name", V),
              ("view_definition", V)),
}  # fmt: skip
SYSTEM_TABLES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("metadata", "catalogs"): (("catalog_name", V), ("connector_id", V), ("connector_name", V)),
    ("metadata", "table_comments"): (
        ("catalog_name", V), ("schema_name", V), ("table_name", V), ("comment", V),
    ),
    ("jdbc", "catalogs"): (("table_cat", V),),
    ("jdbc", "schemas"): (("table_schem", V), ("table_catalog", V)),
    ("jdbc", "tables"): (
        ("table_cat", V), ("table_schem", V), ("table_name", V), ("table_type", V),
        ("remarks", V), ("type_cat", V), ("type_schem", V), ("type_name", V),
        ("self_referencing_col_name", V), ("ref_generation", V),
    ),
    ("jdbc", "columns"): (
        ("table_cat", V), ("table_schem", V), ("table_name", V), ("column_name", V),
        ("data_type", B), ("type_name", V), ("column_size", B), ("buffer_length", B),
        ("decimal_digits", B), ("num_prec_radix", B), ("nullable", B), ("remarks", V),
        ("column_def", V), ("sql_data_type", B), ("sql_datetime_sub", B),
        ("char_octet_length", B), ("ordinal_position", B), ("is_nullable", V),
        ("scope_catalog", V), ("scope_schema", V), ("scope_table", V), ("source_data_type", B),
        ("is_autoincrement", V), ("is_generatedcolumn", V),
    ),
}  # fmt: skip
# java.sql.Types of each Trino type, as Trino's JDBC driver reports them
JDBC_TYPES = {
    "boolean": 16, "tinyint": -6, "smallint": 5, "integer": 4, "bigint": -5, "real": 7,
    "double": 8, "decimal": 3, "varchar": 12, "varbinary": -3, "date": 91, "time": 92,
    "timestamp": 93, "timestamp with time zone": 2014, "json": 2000, "uuid": 1111,
    "unknown": 0,
}  # fmt: skip


@dataclass(frozen=True)
class ColumnMeta:
    name: str
    kind: TrinoType
    nullable: bool
    default: str | None
    comment: str | None


@dataclass(frozen=True)
class TableMeta:
    schema: str
    name: str
    comment: str | None
    columns: tuple[ColumnMeta, ...]


@dataclass
class CatalogMeta:
    name: str
    connector: str
    tables: list[TableMeta] = field(default_factory=list)

    @property
    def schemas(self) -> list[str]:
        return sorted({t.schema for t in self.tables} | {INFORMATION_SCHEMA})

    def table(self, schema: str, name: str) -> TableMeta | None:
        if schema == INFORMATION_SCHEMA and name in INFORMATION_TABLES:
            return _virtual(schema, name, INFORMATION_TABLES[name])
        for table in self.tables:
            if table.schema == schema and table.name == name:
                return table
        return None

    def all_tables(self) -> list[TableMeta]:
        virtual = [_virtual(INFORMATION_SCHEMA, n, c) for n, c in INFORMATION_TABLES.items()]
        return sorted(self.tables + virtual, key=lambda t: (t.schema, t.name))


def _virtual(schema: str, name: str, columns: Iterable[tuple[str, str]]) -> TableMeta:
    return TableMeta(
        schema,
        name,
        None,
        tuple(ColumnMeta(c, trino_type(t), True, None, None) for c, t in columns),
    )


def _listed_type(kind: TrinoType) -> TrinoType:
    """A declared type as metadata lists it: a time or timestamp without a precision is Trino's
    default (3); a decimal without one stays `decimal` (its values decide, per query)."""
    if kind.raw in ("time", "timestamp", "timestamp with time zone") and not kind.args:
        return TrinoType(kind.raw, (3,))
    return kind


async def load_metadata(*, db: AsyncSession, project_id: str) -> dict[str, CatalogMeta]:
    """Every catalog of the project with its tables and columns, by Trino catalog name."""
    rows = await db.execute(
        select(
            DataCatalog.name,
            DataConnection.type,
            DataTable.id,
            DataTable.schema_name,
            DataTable.table_name,
            DataTable.description,
            DataColumn.name,
            DataColumn.data_type,
            DataColumn.is_not_null,
            DataColumn.default_value,
            DataColumn.description,
        )
        .join(DataConnection, DataConnection.id == DataCatalog.connection_id)
        .outerjoin(DataTable, DataTable.catalog_id == DataCatalog.id)
        .outerjoin(DataColumn, DataColumn.table_id == DataTable.id)
        .where(DataCatalog.project_id == project_id)
        .order_by(
            DataCatalog.created_at,
            DataCatalog.id,
            DataTable.schema_name,
            DataTable.table_name,
            DataColumn.position,
        )
    )
    catalogs: dict[str, CatalogMeta] = {}
    tables: dict[int, tuple[CatalogMeta, str, str, str | None, list[ColumnMeta]]] = {}
    for (cat, kind, table_id, schema, table, t_comment, col, data_type, not_null, default,
         c_comment) in rows:  # fmt: skip
        meta = catalogs.setdefault(cat, CatalogMeta(cat, kind.lower()))
        if table_id is None:
            continue
        entry = tables.setdefault(table_id, (meta, schema, table, t_comment, []))
        if col is not None:
            dialect = connector_class(kind).dialect
            column_type = _listed_type(trino_type(data_type, dialect))
            entry[4].append(ColumnMeta(col, column_type, not not_null, default, c_comment))
    for meta, schema, table, comment, columns in tables.values():
        meta.tables.append(TableMeta(schema, table, comment, tuple(columns)))
    return catalogs


def _jdbc_column(cat: str, table: TableMeta, position: int, column: ColumnMeta) -> tuple[Any, ...]:
    kind = column.kind
    size = None
    digits = None
    if kind.raw == "varchar":
        size = kind.args[0] if kind.args else None
    elif kind.raw == "decimal" and kind.args:
        size, digits = kind.args
    nullable = 1 if column.nullable else 0
    return (
        cat, table.schema, table.name, column.name, JDBC_TYPES.get(kind.raw, 1111), kind.name,
        size, None, digits, 10 if kind.raw in ("decimal", "bigint", "integer") else None,
        nullable, column.comment, column.default, None, None, size, position,
        "YES" if column.nullable else "NO", None, None, None, None, "NO", "NO",
    )  # fmt: skip


def table_rows(
    catalogs: dict[str, CatalogMeta], catalog: str, schema: str, table: str
) -> list[tuple[Any, ...]]:
    """The rows of one metadata table."""
    if catalog == SYSTEM:
        return _system_rows(catalogs, schema, table)
    meta = catalogs[catalog]
    if table == "schemata":
        return [(catalog, s) for s in meta.schemas]
    if table == "tables":
        return [(catalog, t.schema, t.name, "BASE TABLE") for t in meta.all_tables()]
    if table == "columns":
        return [
            (catalog, t.schema, t.name, c.name, i, c.default, "YES" if c.nullable else "NO",
             c.kind.name, c.comment)
            for t in meta.all_tables()
            for i, c in enumerate(t.columns, start=1)
        ]  # fmt: skip
    return []  # views: catalogs hold no views


def _system_rows(
    catalogs: dict[str, CatalogMeta], schema: str, table: str
) -> list[tuple[Any, ...]]:
    names = sorted(catalogs)
    if (schema, table) == ("metadata", "catalogs"):
        return [(n, n, catalogs[n].connector) for n in names] + [(SYSTEM, SYSTEM, SYSTEM)]
    if (schema, table) == ("metadata", "table_comments"):
        return [(n, t.schema, t.name, t.comment) for n in names for t in catalogs[n].tables]
    if (schema, table) == ("jdbc", "catalogs"):
        return [(n,) for n in [*names, SYSTEM]]
    if (schema, table) == ("jdbc", "schemas"):
        return [(s, n) for n in names for s in catalogs[n].schemas]
    if (schema, table) == ("jdbc", "tables"):
        return [
            (n, t.schema, t.name, "TABLE", t.comment, None, None, None, None, None)
            for n in names
            for t in catalogs[n].all_tables()
        ]
    return [
        _jdbc_column(n, t, i, c)
        for n in names
        for t in catalogs[n].all_tables()
        for i, c in enumerate(t.columns, start=1)
    ]


def columns_of(catalog: str, schema: str, table: str) -> tuple[tuple[str, str], ...]:
    if catalog == SYSTEM:
        return SYSTEM_TABLES[(schema, table)]
    return INFORMATION_TABLES[table]


def is_metadata_table(catalog: str | None, schema: str | None, table: str) -> bool:
    if schema == INFORMATION_SCHEMA:
        return table in INFORMATION_TABLES
    return catalog == SYSTEM and (schema, table) in SYSTEM_TABLES


def flat_name(catalog: str, schema: str, table: str) -> str:
    """The one-part name a metadata table has in the in-memory database."""
    return f"{catalog}.{schema}.{table}"


@dataclass(frozen=True)
class MetadataTable:
    name: str  # flat_name
    columns: tuple[tuple[str, str], ...]
    rows: list[tuple[Any, ...]]


def scope_of(tables: Sequence[MetadataTable]) -> CatalogScope:
    return CatalogScope(
        names=frozenset(),
        dialect="sqlite",
        default_schema="main",
        tables=tuple(TableName("main", t.name) for t in tables),
    )


class MetadataConnector(SqliteConnector):
    """A SQLite connector over an in-memory database holding `tables`, opened with the same
    limits and read-only authorizer as a SQLite file."""

    def __init__(self, tables: Sequence[MetadataTable]) -> None:
        super().__init__(Path(":memory:"))
        self.tables = tuple(tables)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        for table in self.tables:
            names = ", ".join(quoted_name(c) for c, _ in table.columns)
            conn.execute(f"CREATE TABLE {quoted_name(table.name)} ({names})")
            marks = ", ".join("?" for _ in table.columns)
            conn.executemany(f"INSERT INTO {quoted_name(table.name)} VALUES ({marks})", table.rows)
        conn.execute("PRAGMA query_only = 1")
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.set_authorizer(authorize_reads)
        return conn
