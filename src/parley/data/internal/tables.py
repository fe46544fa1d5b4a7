"""Internal tables inside one DuckDB file (see `files`), as plain functions on an open
connection, each one transaction: it commits whole or leaves the file as it was.

Parley keeps each table's definition in its bookkeeping schema (`_parley.tables`,
`_parley.columns`: Peaka's type names, display names, defaults, constraints). A table is
created in DuckDB once it has a column (DuckDB holds no table without one) and every change of
its columns rebuilds it from the definition: the rows are copied aside, the table is created
anew (types, defaults, NOT NULL, UNIQUE), the rows are copied back with a cast to each new type,
in one transaction, so a value that does not fit the new definition fails the change and keeps
the table as it was."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import duckdb

from parley.data.connectors.base import ColumnInfo, TableInfo
from parley.data.internal.files import META
from parley.data.internal.names import ColumnSpec, Flavour
from parley.data.internal.values import normalize
from parley.data.sql_text import quoted_name, string_literal
from parley.errors import Conflict, InvalidInput, NotFound

T = TypeVar("T")


class ChangeRefused(InvalidInput):
    """DuckDB refused a change (a value that does not fit, a duplicate where unique)."""


def transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    con.execute("BEGIN TRANSACTION")
    try:
        result = work()
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return result


def table_names(con: duckdb.DuckDBPyConnection, flavour: Flavour) -> list[str]:
    rows = con.execute(
        f"SELECT table_name FROM {META}.tables WHERE schema_name = ? ORDER BY table_name",
        [flavour.schema],
    ).fetchall()
    return [r[0] for r in rows]


def _stored_name(con: duckdb.DuckDBPyConnection, flavour: Flavour, table: str) -> str | None:
    """The table's name as created (DuckDB's names are case-insensitive)."""
    row = con.execute(
        f"SELECT table_name FROM {META}.tables WHERE schema_name = ? AND lower(table_name) = ?",
        [flavour.schema, table.lower()],
    ).fetchone()
    return None if row is None else str(row[0])


def existing(con: duckdb.DuckDBPyConnection, flavour: Flavour, table: str) -> str:
    found = _stored_name(con, flavour, table)
    if found is None:
        raise NotFound(f"Table {table} not found")
    return found


def create_table(con: duckdb.DuckDBPyConnection, flavour: Flavour, table: str) -> None:
    if _stored_name(con, flavour, table) is not None:
        raise Conflict(f"a table named {table} exists in this project")
    con.execute(
        f"INSERT INTO {META}.tables VALUES (?, ?, ?)",
        [flavour.schema, table, datetime.now(UTC).replace(tzinfo=None)],
    )


def drop_table(con: duckdb.DuckDBPyConnection, flavour: Flavour, table: str) -> None:
    name = existing(con, flavour, table)

    def work() -> None:
        con.execute(f"DROP TABLE IF EXISTS {quoted_name(flavour.schema)}.{quoted_name(name)}")
        for meta in ("tables", "columns"):
            con.execute(
                f"DELETE FROM {META}.{meta} WHERE schema_name = ? AND table_name = ?",
                [flavour.schema, name],
            )

    transaction(con, work)


def columns(con: duckdb.DuckDBPyConnection, flavour: Flavour, table: str) -> list[ColumnRow]:
    name = existing(con, flavour, table)
    rows = con.execute(
        f"SELECT id, name, data_type, display_name, default_value, not_null, is_unique "
        f"FROM {META}.columns WHERE schema_name = ? AND table_name = ? ORDER BY position",
        [flavour.schema, name],
    ).fetchall()
    return [
        ColumnRow(int(r[0]), ColumnSpec(r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6])))
        for r in rows
    ]


class ColumnRow:
    """A stored column: its id (kept across renames) and definition."""

    __slots__ = ("id", "spec")

    def __init__(self, id: int, spec: ColumnSpec) -> None:  # noqa: A002 - Peaka's field
        self.id = id
        self.spec = spec


def _definition(spec: ColumnSpec) -> str:
    parts = [quoted_name(spec.name), spec.duck_type]
    if spec.default_value is not None:
        value = normalize(spec.data_type, spec.default_value)
        parts.append(f"DEFAULT CAST({string_literal(value)} AS {spec.duck_type})")
    if spec.not_null:
        parts.append("NOT NULL")
    if spec.unique:
        parts.append("UNIQUE")
    return " ".join(parts)


def check_columns(specs: Sequence[ColumnSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        key = spec.name.lower()
        if key in seen:
            raise Conflict(f"two columns would both be named {spec.name}")
        seen.add(key)
        if spec.default_value is not None:
            try:
                normalize(spec.data_type, spec.default_value)
            except ValueError as err:
                raise InvalidInput(f"defaultValue of column {spec.name}: {err}") from err


def rebuild(
    con: duckdb.DuckDBPyConnection,
    flavour: Flavour,
    table: str,
    new: Sequence[tuple[int | None, ColumnSpec]],
) -> None:
    """Give the table the columns `new`: (id of the stored column it continues, or None for a
    new column; its definition), in order. Rows keep the values of continued columns, cast to
    their new types; new columns get their default."""
    name = existing(con, flavour, table)
    check_columns([spec for _, spec in new])
    old = {row.id: row.spec for row in columns(con, flavour, name)}
    target = f"{quoted_name(flavour.schema)}.{quoted_name(name)}"
    aside = f"{META}.{quoted_name('rebuild_' + uuid.uuid4().hex)}"
    next_id = max([0, *old]) + 1

    def work() -> None:
        had_table = bool(old)
        if had_table:
            con.execute(f"CREATE TABLE {aside} AS SELECT * FROM {target}")
            con.execute(f"DROP TABLE {target}")
        con.execute(
            f"DELETE FROM {META}.columns WHERE schema_name = ? AND table_name = ?",
            [flavour.schema, name],
        )
        if new:
            con.execute(f"CREATE TABLE {target} ({', '.join(_definition(s) for _, s in new)})")
        if had_table and new:
            # a change keeps at least one column (the routes change one column at a time)
            kept = [(old[i], s) for i, s in new if i is not None]
            if kept:
                into = ", ".join(quoted_name(s.name) for _, s in kept)
                values = ", ".join(f"CAST({quoted_name(o.name)} AS {s.duck_type})" for o, s in kept)
                con.execute(f"INSERT INTO {target} ({into}) SELECT {values} FROM {aside}")
        if had_table:
            con.execute(f"DROP TABLE {aside}")
        ids = next_id
        for position, (column_id, spec) in enumerate(new):
            if column_id is None:
                column_id, ids = ids, ids + 1
            con.execute(
                f"INSERT INTO {META}.columns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    flavour.schema,
                    name,
                    column_id,
                    position,
                    spec.name,
                    spec.data_type,
                    spec.display_name,
                    spec.default_value,
                    spec.not_null,
                    spec.unique,
                ],
            )

    try:
        transaction(con, work)
    except duckdb.Error as err:
        raise ChangeRefused(
            f"the rows of {name} do not fit the new columns: {short_error(err)}"
        ) from err


def short_error(err: BaseException) -> str:
    text = str(err).strip()
    return text if len(text) <= 500 else text[:500] + "…"


def introspect(con: duckdb.DuckDBPyConnection) -> list[TableInfo]:
    """The tables that hold columns, as the catalog lists them."""
    rows = con.execute(
        f"SELECT schema_name, table_name, name, data_type, default_value, not_null, is_unique "
        f"FROM {META}.columns ORDER BY schema_name, table_name, position"
    ).fetchall()
    tables: dict[tuple[str, str], list[ColumnInfo]] = {}
    for schema, table, name, data_type, default, not_null, unique in rows:
        spec = ColumnSpec(name, data_type)
        tables.setdefault((schema, table), []).append(
            ColumnInfo(
                name=name,
                data_type=spec.duck_type.lower(),
                not_null=bool(not_null),
                unique=bool(unique),
                default=default,
            )
        )
    return [TableInfo(s, t, tuple(cols)) for (s, t), cols in tables.items()]
