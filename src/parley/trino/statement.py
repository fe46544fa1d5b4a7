"""Running one Trino statement for a project. Commands (SHOW, DESCRIBE, USE) and queries over
`information_schema` / `system` are answered from the catalog; every other statement is read
as Trino SQL, its tables given the session's catalog and schema, written in the catalog's own
dialect and run exactly as `/queries/execute` runs SQL: `check_sql` (the SQL guard), the row
cap, a read-only connection and the timeout. Metadata queries pass the same guard too, over an
in-memory database that holds only this project's metadata."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import urllib.parse
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokens import TokenType

from parley import __version__
from parley.data.connections import DataServices, open_connector
from parley.data.connectors.base import Connector
from parley.data.connectors.results import ResultCaps, ResultSet
from parley.data.execute import (
    ProjectCatalog,
    ResultTooLarge,
    check_sql,
    effective_limits,
    pick_scope,
    project_catalogs,
    run_guarded,
)
from parley.data.sql_guard import GuardedSql, QueryRejected, guard, table_references
from parley.data.virtual_tables import expand_tree
from parley.errors import ParleyError
from parley.trino import metadata as meta
from parley.trino.commands import (
    DIALECT,
    Deallocate,
    Execute,
    ExecuteImmediate,
    Prepare,
    ResetSession,
    SetSession,
    Show,
    Use,
    read_command,
)
from parley.trino.errors import TrinoError, from_domain
from parley.trino.session import check_property
from parley.trino.types import TrinoType, refine, trino_type

SERVER_VERSION = f"476-parley-{__version__}"  # what `SELECT version()` answers
# the response headers by which clients keep their session (prepared statements, properties)
ADDED_PREPARE = "X-Trino-Added-Prepare"
DEALLOCATED_PREPARE = "X-Trino-Deallocated-Prepare"
SET_SESSION = "X-Trino-Set-Session"
CLEAR_SESSION = "X-Trino-Clear-Session"


@dataclass(frozen=True)
class StatementContext:
    project_id: str
    user: str | None
    catalog: str | None
    schema: str | None
    timeout_s: float | None
    prepared: dict[str, str] = field(default_factory=dict)  # the session's, by name


@dataclass
class StatementResult:
    columns: list[tuple[str, TrinoType]]
    rows: list[list[Any]]  # JSON values as the connector made them (see `types.writer`)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    update_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # X-Trino-Set-Catalog, ...
    bytes: int = 0
    # the batches after `rows`, fetched from the source as they are read (a data query);
    # together they keep the caps, and their warnings are known when they end
    more: AsyncGenerator[ResultSet, None] | None = None
    row_cap: int = 0  # the server's cap (PARLEY_QUERY_MAX_ROWS), for the warnings at the end
    truncated: bool = False  # `rows` (a stream's first batch) were cut at the byte cap
    cells_cut: int = 0  # cells of `rows` cut at the cell cap


def _syntax_error(err: SqlglotError) -> TrinoError:
    if isinstance(err, ParseError) and err.errors:
        first = err.errors[0]
        where = f"line {first.get('line')}:{first.get('col')}: "
        return TrinoError("SYNTAX_ERROR", where + str(first.get("description")))
    return TrinoError("SYNTAX_ERROR", str(err))


def parse(sql: str) -> exp.Expr:
    try:
        trees = [t for t in sqlglot.parse(sql, read=DIALECT) if t is not None]
    except SqlglotError as err:
        raise _syntax_error(err) from err
    except RecursionError as err:
        raise TrinoError("SYNTAX_ERROR", "the statement is nested too deeply") from err
    if len(trees) != 1:
        raise TrinoError(
            "PERMISSION_DENIED",
            f"send exactly one statement; this text holds {len(trees)} statements",
        )
    return trees[0]


def _marked(sql: str) -> tuple[str, str]:
    """`sql` with each `?` placeholder (a token: not one in a string or a comment) made a
    named one, `:<prefix><n>` by its position in the text, so parameters bind in the order
    they were written (a tree puts a WITH after the SELECT it belongs to); and the prefix."""
    prefix = f"parley_{secrets.token_hex(4)}_"
    if "?" not in sql:
        return sql, prefix
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
    except SqlglotError as err:
        raise _syntax_error(err) from err
    marks = [t for t in tokens if t.token_type is TokenType.PLACEHOLDER and t.text == "?"]
    for n, mark in reversed(list(enumerate(marks))):
        sql = f"{sql[: mark.start]}:{prefix}{n}{sql[mark.end + 1 :]}"
    return sql, prefix


def _bind(tree: exp.Expr, parameters: tuple[exp.Expr, ...], prefix: str) -> None:
    """Each marked placeholder (`_marked`) becomes its parameter's literal: a node of the
    tree, written by the generator in the source's dialect, never text put into SQL."""
    marks = [m for m in tree.find_all(exp.Placeholder) if str(m.this or "").startswith(prefix)]
    if len(marks) != len(parameters):
        raise TrinoError(
            "GENERIC_USER_ERROR",
            f"Incorrect number of parameters: expected {len(marks)} but found {len(parameters)}",
        )
    for mark in marks:
        mark.replace(parameters[int(str(mark.this)[len(prefix) :])].copy())


def _session_values(tree: exp.Expr, ctx: StatementContext) -> exp.Expr:
    """`version()`, `current_user`, `current_catalog` and `current_schema` as literals."""

    def literal(value: str | None) -> exp.Expr:
        return exp.null() if value is None else exp.Literal.string(value)

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.CurrentVersion):
            return literal(SERVER_VERSION)
        if isinstance(node, exp.CurrentUser):
            return literal(ctx.user)
        if isinstance(node, exp.CurrentCatalog):
            return literal(ctx.catalog)
        if isinstance(node, exp.CurrentSchema) or (
            isinstance(node, exp.Column) and not node.table and node.name == "current_schema"
        ):
            return literal(ctx.schema)
        return node

    return tree.transform(swap)


def _name_columns(tree: exp.Expr) -> None:
    """Trino names an unnamed result column `_col<position>`."""
    select = tree if isinstance(tree, exp.Select) else None
    if select is None and isinstance(tree, exp.SetOperation):
        left = tree.left
        select = left if isinstance(left, exp.Select) else None
    if select is None:
        return
    for i, expression in enumerate(list(select.expressions)):
        if not isinstance(expression, exp.Alias | exp.Column | exp.Star):
            expression.replace(exp.alias_(expression.copy(), f"_col{i}", quoted=True))


def _qualify(tree: exp.Expr, ctx: StatementContext) -> list[exp.Table]:
    """Give the tables the session's catalog and schema where they name none."""
    refs = table_references(tree)
    for ref in refs:
        if not ref.args.get("db") and ctx.schema:
            ref.set("db", exp.to_identifier(ctx.schema, quoted=True))
        if not ref.args.get("catalog") and ref.args.get("db") and ctx.catalog:
            ref.set("catalog", exp.to_identifier(ctx.catalog, quoted=True))
    return refs


def _columns(result: ResultSet, dialect: str) -> list[tuple[str, TrinoType]]:
    out = []
    for index, (name, source_type) in enumerate(result.columns):
        kind = refine(trino_type(source_type, dialect), [row[index] for row in result.rows])
        out.append((name, kind))
    return out


def _warnings(result: ResultSet, row_cap: int) -> list[dict[str, Any]]:
    return warnings_of(
        truncated=result.truncated, rows=len(result.rows), cells_cut=result.cells_cut,
        row_cap=row_cap,
    )  # fmt: skip


def warnings_of(
    *, truncated: bool, rows: int, cells_cut: int, row_cap: int
) -> list[dict[str, Any]]:
    """What a client is told of a result the caps cut."""
    notes = []
    if truncated:
        notes.append("the result was cut at PARLEY_QUERY_MAX_BYTES; more rows exist")
    elif row_cap and rows >= row_cap:
        notes.append(f"the result was capped at {row_cap} rows (PARLEY_QUERY_MAX_ROWS)")
    if cells_cut:
        notes.append(f"{cells_cut} cells were cut at PARLEY_QUERY_MAX_CELL_BYTES")
    return [
        {"warningCode": {"code": 0, "name": "PARLEY_RESULT_CAPPED"}, "message": n} for n in notes
    ]


async def _translated(more: AsyncGenerator[ResultSet, None]) -> AsyncGenerator[ResultSet, None]:
    """The source's batches, its errors as the client will see them."""
    async with contextlib.aclosing(more):
        try:
            async for batch in more:
                yield batch
        except ParleyError as err:
            raise from_domain(err) from err


def _session_command(
    command: Prepare | Deallocate | SetSession | ResetSession, ctx: StatementContext
) -> StatementResult:
    """What changes the client's session: answered in the headers the clients keep it by."""
    if isinstance(command, Prepare):
        inner = read_command(command.sql)
        if inner is not None and not isinstance(inner, Show):
            raise TrinoError("NOT_SUPPORTED", "PREPARE takes a query, SHOW or DESCRIBE")
        if inner is None:
            parse(command.sql)  # refused now if it cannot be read, as Trino does
        added = f"{command.name}={urllib.parse.quote_plus(command.sql)}"
        return StatementResult([], [], update_type="PREPARE", headers={ADDED_PREPARE: added})
    if isinstance(command, Deallocate):
        if command.name not in ctx.prepared:
            raise TrinoError("NOT_FOUND", f"Prepared statement not found: {command.name}")
        headers = {DEALLOCATED_PREPARE: urllib.parse.quote_plus(command.name)}
        return StatementResult([], [], update_type="DEALLOCATE", headers=headers)
    if isinstance(command, SetSession):
        check_property(command.name, command.value)
        pair = f"{command.name}={urllib.parse.quote_plus(command.value)}"
        return StatementResult([], [], update_type="SET SESSION", headers={SET_SESSION: pair})
    check_property(command.name)
    headers = {CLEAR_SESSION: command.name}
    return StatementResult([], [], update_type="RESET SESSION", headers=headers)


class StatementRunner:
    """Runs statements of one project for one session."""

    def __init__(
        self, services: DataServices, ctx: StatementContext, *, page_rows: int = 1000
    ) -> None:
        self.services = services
        self.ctx = ctx
        self.page_rows = page_rows  # the batches a data query's source is read in
        self._catalogs: dict[str, meta.CatalogMeta] | None = None

    async def run(self, sql: str) -> StatementResult:
        try:
            return await self._run(sql)
        except ParleyError as err:
            raise from_domain(err) from err

    async def _run(self, sql: str) -> StatementResult:
        command = read_command(sql)
        parameters: tuple[exp.Expr, ...] = ()
        if isinstance(command, Prepare | Deallocate | SetSession | ResetSession):
            return _session_command(command, self.ctx)
        if isinstance(command, Execute):
            found = self.ctx.prepared.get(command.name)
            if found is None:
                raise TrinoError("NOT_FOUND", f"Prepared statement not found: {command.name}")
            command = ExecuteImmediate(found, command.parameters)
        if isinstance(command, ExecuteImmediate):
            sql, parameters = command.sql, command.parameters
            command = read_command(sql)
            if command is not None and (parameters or not isinstance(command, Show)):
                raise TrinoError("NOT_SUPPORTED", "EXECUTE takes a query, SHOW or DESCRIBE")
        if isinstance(command, Use):
            return await self._use(command)
        if isinstance(command, Show):
            return await self._show(command)
        marked, prefix = _marked(sql)
        tree = parse(marked)
        _bind(tree, parameters, prefix)
        tree = _session_values(tree, self.ctx)
        _name_columns(tree)
        refs = _qualify(tree, self.ctx)
        special = [
            r for r in refs if meta.is_metadata_table(r.catalog or None, r.db or None, r.name)
        ]
        if special and len(special) != len(refs):
            raise TrinoError(
                "NOT_SUPPORTED",
                "a query reads either the metadata tables (information_schema, system) or "
                "data tables, not both",
            )
        catalogs = await project_catalogs(self.services, self.ctx.project_id)
        if special or (not refs and not catalogs):
            return await self._metadata_query(tree, special)
        return await self._data_query(tree, catalogs)

    # --- data ----------------------------------------------------------------------------

    def _check_catalog(self, catalogs: list[ProjectCatalog]) -> None:
        name = self.ctx.catalog
        if name is None or name == meta.SYSTEM:
            return
        if not any(name.casefold() in c.scope.names for c in catalogs):
            raise TrinoError("CATALOG_NOT_FOUND", f"Catalog '{name}' not found")

    async def _data_query(self, tree: exp.Expr, catalogs: list[ProjectCatalog]) -> StatementResult:
        self._check_catalog(catalogs)
        if not catalogs:
            raise QueryRejected("this project has no catalogs yet: connect a data source first")
        services = self.services
        # semantic and parametric tables become their queries before the catalog is picked
        if catalogs[0].virtual:  # parsing their queries is CPU work: off the event loop
            await asyncio.to_thread(expand_tree, tree, catalogs[0].virtual, DIALECT)
        trino_sql = tree.sql(dialect=DIALECT)
        # the catalog is picked from the Trino text (its tables' names), then the statement
        # is written in that catalog's dialect and guarded there
        session = self.ctx.catalog
        refs = table_references(tree)
        if session and (not refs or any(not r.catalog for r in refs)):
            # tables without a catalog are the session catalog's
            catalogs = [c for c in catalogs if session.casefold() in c.scope.names]
            if not catalogs:
                raise TrinoError(
                    "NOT_SUPPORTED",
                    f"catalog {session} holds only the metadata tables (system.jdbc, "
                    "system.metadata); name a project catalog",
                )
        scopes = [replace(c.scope, dialect=DIALECT) for c in catalogs]
        index = await services.sql_work.run(pick_scope, trino_sql, scopes, chars=len(trino_sql))
        catalog = catalogs[index]
        dialect = catalog.scope.dialect
        try:
            sql = tree.sql(dialect=dialect, comments=False)
        except SqlglotError as err:
            raise TrinoError(
                "NOT_SUPPORTED", f"cannot write this query for {dialect}: {err}"
            ) from err
        caps, timeout = effective_limits(services, limit=None, timeout_s=self.ctx.timeout_s)
        catalog, guarded = await check_sql(services, sql, [catalog], row_cap=caps.rows)
        connector = await open_connector(services, catalog.connection)
        return await self._stream(connector, guarded, caps, timeout, dialect)

    async def _stream(
        self, connector: Connector, guarded: GuardedSql, caps: ResultCaps, timeout: float,
        dialect: str,
    ) -> StatementResult:  # fmt: skip
        """The result's first batch (its columns typed from it), and the rest as a stream the
        registry reads page by page (see `Connector.stream`): a big result is never held."""
        row_cap = caps.rows
        caps = replace(caps, rows=guarded.row_cap)
        more = connector.stream(
            guarded.sql, timeout_s=timeout, caps=caps, batch_rows=self.page_rows
        )
        try:
            first = await anext(more, None)
            if first is None:
                first = ResultSet([], [])
            if first.truncated and not first.rows:
                raise ResultTooLarge(
                    f"one row of this result is larger than {caps.bytes} bytes, the most a "
                    "result may hold here; select fewer or shorter columns (substr, left) to "
                    "see it"
                )
        except BaseException:
            await more.aclose()
            raise
        return StatementResult(
            _columns(first, dialect),
            first.rows,
            bytes=first.bytes,
            more=_translated(more),
            row_cap=row_cap,
            truncated=first.truncated,
            cells_cut=first.cells_cut,
        )

    # --- metadata -------------------------------------------------------------------------

    async def _metadata(self) -> dict[str, meta.CatalogMeta]:
        if self._catalogs is None:
            async with self.services.database.read() as db:
                self._catalogs = await meta.load_metadata(db=db, project_id=self.ctx.project_id)
        return self._catalogs

    async def _catalog_named(self, name: str | None) -> str:
        if name is None:
            raise TrinoError(
                "GENERIC_USER_ERROR", "Catalog must be specified when session catalog is not set"
            )
        if name != meta.SYSTEM and name not in await self._metadata():
            raise TrinoError("CATALOG_NOT_FOUND", f"Catalog '{name}' not found")
        return name

    async def _metadata_query(self, tree: exp.Expr, refs: list[exp.Table]) -> StatementResult:
        catalogs = await self._metadata()
        tables: dict[str, meta.MetadataTable] = {}
        for ref in refs:
            catalog = await self._catalog_named(ref.catalog or None)
            schema, name = ref.db, ref.name
            flat = meta.flat_name(catalog, schema, name)
            if flat not in tables:
                tables[flat] = meta.MetadataTable(
                    flat,
                    meta.columns_of(catalog, schema, name),
                    meta.table_rows(catalogs, catalog, schema, name),
                )
            if not ref.alias:
                ref.set("alias", exp.TableAlias(this=exp.to_identifier(name, quoted=True)))
            ref.set("catalog", None)
            ref.set("db", None)
            ref.set("this", exp.to_identifier(flat, quoted=True))
        sql = tree.sql(dialect="sqlite", comments=False)
        services = self.services
        caps, timeout = effective_limits(services, limit=None, timeout_s=self.ctx.timeout_s)
        scope = meta.scope_of(list(tables.values()))
        guarded = await services.sql_work.run(
            guard, sql, scope=scope, row_cap=caps.rows, chars=len(sql)
        )
        connector = meta.MetadataConnector(list(tables.values()))
        try:
            result = await run_guarded(connector, guarded, timeout_s=timeout, caps=caps)
        finally:
            await connector.close()
        return StatementResult(
            _columns(result, "sqlite"),
            result.rows,
            _warnings(result, caps.rows),
            bytes=result.bytes,
        )

    async def _show(self, show: Show) -> StatementResult:
        """SHOW and DESCRIBE, as the queries over the metadata tables that Trino runs."""
        like = exp.Literal.string(show.like) if show.like is not None else None
        ctx = self.ctx

        def table(catalog: str, schema: str, name: str) -> exp.Table:
            return exp.table_(name, db=schema, catalog=catalog, quoted=True)

        def col(name: str) -> exp.Column:
            return exp.column(name, quoted=True)

        if show.what == "CATALOGS":
            query = exp.select(exp.alias_(col("catalog_name"), "Catalog", quoted=True)).from_(
                table(meta.SYSTEM, "metadata", "catalogs")
            )
            filtered = col("catalog_name")
        elif show.what == "SCHEMAS":
            if len(show.name) > 1:
                raise TrinoError("SYNTAX_ERROR", "SHOW SCHEMAS FROM takes a catalog name")
            catalog = await self._catalog_named(show.name[0] if show.name else ctx.catalog)
            query = exp.select(exp.alias_(col("schema_name"), "Schema", quoted=True)).from_(
                table(catalog, meta.INFORMATION_SCHEMA, "schemata")
            )
            filtered = col("schema_name")
        elif show.what == "TABLES":
            if len(show.name) > 2:
                raise TrinoError("SYNTAX_ERROR", "SHOW TABLES FROM takes [catalog.]schema")
            catalog = await self._catalog_named(
                show.name[0] if len(show.name) == 2 else ctx.catalog
            )
            schema = show.name[-1] if show.name else ctx.schema
            await self._check_schema(catalog, schema)
            assert schema is not None
            query = (
                exp.select(exp.alias_(col("table_name"), "Table", quoted=True))
                .from_(table(catalog, meta.INFORMATION_SCHEMA, "tables"))
                .where(exp.EQ(this=col("table_schema"), expression=exp.Literal.string(schema)))
            )
            filtered = col("table_name")
        else:
            return await self._describe(show.name)
        if like is not None:
            query = query.where(exp.Like(this=filtered, expression=like))
        query = query.order_by("1")
        return await self._metadata_query(query, table_references(query))

    async def _check_schema(self, catalog: str, schema: str | None) -> None:
        if schema is None:
            raise TrinoError(
                "GENERIC_USER_ERROR", "Schema must be specified when session schema is not set"
            )
        if catalog == meta.SYSTEM:
            known = list(meta.SYSTEM_SCHEMAS)
        else:
            known = (await self._metadata())[catalog].schemas
        if schema not in known:
            raise TrinoError("SCHEMA_NOT_FOUND", f"Schema '{schema}' does not exist")

    async def _describe(self, name: tuple[str, ...]) -> StatementResult:
        ctx = self.ctx
        if len(name) > 3:
            raise TrinoError("SYNTAX_ERROR", "a table name has at most three parts")
        parts = [None] * (3 - len(name)) + list(name)
        catalog = await self._catalog_named(parts[0] or ctx.catalog)
        schema = parts[1] or ctx.schema
        await self._check_schema(catalog, schema)
        assert schema is not None and parts[2] is not None
        table_name = parts[2]
        if catalog == meta.SYSTEM:
            found = (schema, table_name) in meta.SYSTEM_TABLES
        else:
            found = (await self._metadata())[catalog].table(schema, table_name) is not None
        if not found:
            raise TrinoError(
                "TABLE_NOT_FOUND", f"Table '{catalog}.{schema}.{table_name}' does not exist"
            )
        if catalog == meta.SYSTEM:
            columns = [
                [c, trino_type(t).name, "", ""] for c, t in meta.SYSTEM_TABLES[(schema, table_name)]
            ]
        else:
            table = (await self._metadata())[catalog].table(schema, table_name)
            assert table is not None
            columns = [[c.name, c.kind.name, "", c.comment or ""] for c in table.columns]
        varchar = trino_type("varchar")
        heads = [("Column", varchar), ("Type", varchar), ("Extra", varchar), ("Comment", varchar)]
        return StatementResult(heads, columns)

    async def _use(self, use: Use) -> StatementResult:
        catalog = await self._catalog_named(use.catalog or self.ctx.catalog)
        await self._check_schema(catalog, use.schema)
        headers = {"X-Trino-Set-Schema": use.schema}
        if use.catalog is not None:
            headers["X-Trino-Set-Catalog"] = catalog
        return StatementResult([], [], update_type="USE", headers=headers)
