"""The SQL guard: every statement Parley runs against a data source passes through `guard`.

SQL from a user or a model is untrusted. It is parsed with sqlglot in the catalog's dialect
(never matched with a regex) and accepted only when it is exactly one read-only query:
a SELECT, a set operation of SELECTs, or WITH ... SELECT, with no DML, DDL, transaction,
PRAGMA, ATTACH, COPY, SET or command node anywhere in its tree, no dangerous function, and no
table outside the catalog's introspected tables. A row cap is added. The accepted tree is
written back out in the catalog's dialect, without comments, with every table name replaced by
the exact introspected one; that text, not the input, is what runs, and it runs on a read-only
connection with a timeout (see the connectors).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from parley.errors import ParleyError

MAX_SQL_CHARS = 100_000
MAX_CACHED_SQL_CHARS = 10_000  # longer statements are guarded every time, not kept in memory


class QueryRejected(ParleyError):
    """The statement is not one Parley will run; the message says why."""

    status_code = 400
    error_code = "QUERY_NOT_ALLOWED"


def _classes(*names: str) -> tuple[type[exp.Expression], ...]:
    return tuple(getattr(exp, name) for name in names if hasattr(exp, name))


# Nodes that write, change the session, or run something other than a query.
FORBIDDEN_NODES = _classes(
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterColumn",
    "TruncateTable", "Command", "Transaction", "Commit", "Rollback", "Pragma", "Attach",
    "Detach", "Copy", "Set", "SetItem", "Use", "Grant", "Revoke", "LoadData", "Into", "Lock",
    "Analyze", "Cache", "Uncache", "Refresh", "Kill", "Install", "Describe", "Show",
    "Declare", "Execute", "Summarize", "Parameter", "SessionParameter", "ReadCSV",
    "ReadParquet",
)  # fmt: skip

# Functions that read or write files, reach the network, run SQL given as text, sleep, change
# settings, touch large objects, or build huge values. Matched on the lower-case name.
_FORBIDDEN_FUNCTION_NAMES = """
    sleep sleep_ms benchmark zeroblob randomblob
    readfile writefile edit load_extension fts3_tokenizer
    read_csv read_csv_auto read_parquet parquet_scan read_json read_json_auto read_ndjson
    read_ndjson_auto read_json_objects read_text read_blob read_xlsx glob sniff_csv st_read
    sqlite_scan sqlite_attach postgres_scan postgres_attach postgres_query mysql_scan
    iceberg_scan delta_scan query query_table json_execute_serialized_sql getenv
    current_setting set_config nextval setval currval lastval
    lo_import lo_export lo_get lo_put lo_from_bytea lo_create lo_unlink lo_open loread lowrite
    dblink dblink_exec dblink_connect dblink_send_query
    query_to_xml query_to_xml_and_xmlschema query_to_xmlschema cursor_to_xml table_to_xml
    table_to_xmlschema schema_to_xml database_to_xml
    txid_current
"""
FORBIDDEN_FUNCTIONS = frozenset(_FORBIDDEN_FUNCTION_NAMES.split())
FORBIDDEN_PREFIXES = (
    "pg_", "lo_", "dblink", "read_", "duckdb_", "sqlite_", "parquet_", "http", "postgres_",
    "mysql_", "xact_", "txid_",
)  # fmt: skip
# Functions that build values as large as their arguments say: allowed only with literal sizes
# no larger than MAX_BUILT_SIZE, so no statement asks the database for a gigabyte of text.
SIZED_FUNCTIONS = frozenset({"lpad", "rpad", "pad", "repeat", "replicate", "space"})
MAX_BUILT_SIZE = 10_000
# Table-valued functions a FROM clause may call; any other function in FROM is refused.
TABLE_FUNCTIONS = frozenset(
    {"generate_series", "exploding_generate_series", "range", "unnest", "json_each", "json_tree"}
)


@dataclass(frozen=True)
class TableName:
    schema: str
    table: str


@dataclass(frozen=True)
class CatalogScope:
    """What one catalog may be asked about: its names and its introspected tables."""

    names: frozenset[str]  # lower-case names a query may qualify tables with
    dialect: str
    default_schema: str
    tables: tuple[TableName, ...]

    def resolve(self, schema: str | None, table: str) -> TableName | None:
        """Exact match first, then a unique case-insensitive one; None when not ours."""
        candidates = [
            t for t in self.tables if (schema is None or t.schema == schema) and t.table == table
        ]
        if not candidates:
            candidates = [
                t
                for t in self.tables
                if (schema is None or t.schema.casefold() == schema.casefold())
                and t.table.casefold() == table.casefold()
            ]
        if len(candidates) > 1 and schema is None:
            candidates = [t for t in candidates if t.schema == self.default_schema]
        return candidates[0] if len(candidates) == 1 else None


@dataclass(frozen=True)
class GuardedSql:
    sql: str  # what runs: regenerated from the checked tree
    tables: tuple[TableName, ...]
    row_cap: int  # the LIMIT the statement runs with


def parse_one_statement(sql: str, dialect: str) -> exp.Expr:
    if not sql or not sql.strip():
        raise QueryRejected("the statement is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise QueryRejected(f"the statement is longer than {MAX_SQL_CHARS} characters")
    if "\x00" in sql:
        raise QueryRejected("the statement contains a NUL character")
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as err:
        raise QueryRejected(
            f"could not parse the statement as {dialect} SQL: {_describe(err)}"
        ) from err
    except RecursionError as err:
        raise QueryRejected("the statement is nested too deeply") from err
    if len(statements) != 1:
        raise QueryRejected(
            f"send exactly one statement; this text holds {len(statements)} statements"
        )
    return statements[0]


def _describe(err: SqlglotError) -> str:
    """sqlglot's message without its terminal colour codes."""
    if isinstance(err, ParseError) and err.errors:
        first = err.errors[0]
        return f"{first.get('description')} at line {first.get('line')}, column {first.get('col')}"
    return re.sub(r"\x1b\[[0-9;]*m", "", str(err))


def _first_word(sql: str, dialect: str) -> str:
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except SqlglotError:
        tokens = []
    return tokens[0].text.upper() if tokens else "?"


def _is_cte_reference(table: exp.Table) -> bool:
    """True when an unqualified name refers to a CTE visible where it is used: one attached to
    the query it is in or to a query enclosing it. A CTE of the same name elsewhere (say, in a
    subquery) does not hide a real table outside that subquery."""
    if table.args.get("db") or table.args.get("catalog"):
        return False
    name = table.name.casefold()
    node: exp.Expr | None = table.parent
    while node is not None:
        with_ = node.args.get("with") or node.args.get("with_")
        if isinstance(with_, exp.With) and any(
            cte.alias_or_name.casefold() == name for cte in with_.expressions
        ):
            return True
        node = node.parent
    return False


def table_references(tree: exp.Expr) -> list[exp.Table]:
    """Tables the statement reads, leaving out references to its own CTEs."""
    refs = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function; checked with the functions
        if _is_cte_reference(table):
            continue
        refs.append(table)
    return refs


def catalog_names_used(
    sql: str, dialects: Sequence[str]
) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    """The catalog parts of three-part table names, and the (schema, table) of every table,
    parsed with the first dialect that can. Used to pick the catalog a statement runs on
    before guarding it in that catalog's dialect. Memoized like `guard`."""
    run = (
        _catalog_names_used if len(sql) <= MAX_CACHED_SQL_CHARS else _catalog_names_used.__wrapped__
    )
    return run(sql, tuple(dialects))


@functools.lru_cache(maxsize=2048)
def _catalog_names_used(
    sql: str, dialects: tuple[str, ...]
) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    first: QueryRejected | None = None
    for dialect in dialects:
        try:
            tree = parse_one_statement(sql, dialect)
        except QueryRejected as err:
            first = first or err
            continue
        check_tree(tree, sql, dialect)
        refs = table_references(tree)
        names = frozenset(t.catalog.casefold() for t in refs if t.catalog)
        return names, tuple((t.db, t.name) for t in refs)
    assert first is not None
    raise first


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).casefold()
    return node.sql_name().casefold()


def _check_function(node: exp.Func) -> None:
    names = {_function_name(node)}
    names.update(n.casefold() for n in getattr(type(node), "_sql_names", ()) or ())
    for name in names:
        if name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES):
            raise QueryRejected(f"function {name}() is not allowed")
    if names & SIZED_FUNCTIONS:
        _check_sizes(node, _function_name(node))


def _check_sizes(node: exp.Func, name: str) -> None:
    """Every argument but the text being padded or repeated is a literal of bounded size."""
    if isinstance(node, exp.Anonymous):
        args = list(node.expressions)
        sizes = args[1:] if name != "space" else args
    else:
        sizes = [
            v
            for k, v in node.args.items()
            if isinstance(v, exp.Expression) and (k != "this" or isinstance(node, exp.Space))
        ]
    for arg in sizes:
        if arg is None or (isinstance(arg, exp.Literal) and arg.is_string):
            continue
        if not (isinstance(arg, exp.Literal) and arg.is_number):
            raise QueryRejected(f"the size given to {name}() must be a number written in the query")
        if float(arg.this) > MAX_BUILT_SIZE:
            raise QueryRejected(f"{name}() may build at most {MAX_BUILT_SIZE} characters")


NO_PARAMETERS = "parameters such as $1, :name or @var are not allowed; use ? with bindings"


def check_tree(tree: exp.Expr, sql: str, dialect: str) -> exp.Query:
    """Refuse anything but one read-only query, before looking at its tables; return it."""
    if not isinstance(tree, exp.Select | exp.SetOperation):
        raise QueryRejected(
            f"only SELECT queries may run; this statement starts with {_first_word(sql, dialect)}"
        )
    for node in tree.walk():
        if isinstance(node, exp.Parameter | exp.SessionParameter) or (
            isinstance(node, exp.Placeholder) and node.this
        ):
            raise QueryRejected(NO_PARAMETERS)
        if (
            isinstance(node, exp.Identifier)
            and not node.quoted
            and str(node.this)[:1] in ("$", ":", "@", "?")
        ):
            raise QueryRejected(NO_PARAMETERS)
        if isinstance(node, FORBIDDEN_NODES):
            raise QueryRejected(f"{node.key.upper()} is not allowed in a query")
        if isinstance(node, exp.Func):
            _check_function(node)
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            inner = node.this
            if isinstance(inner, exp.Func):
                _check_function(inner)
                name = _function_name(inner)
            else:
                name = inner.key
            if name not in TABLE_FUNCTIONS:
                raise QueryRejected(f"reading from {name}() is not allowed; query tables only")
    return tree


def _bind(tree: exp.Expr, bindings: Sequence[str]) -> None:
    """Replace each `?` with the next binding as a string literal (quoted by the generator)."""
    placeholders = list(tree.find_all(exp.Placeholder, bfs=False))
    if len(placeholders) != len(bindings):
        raise QueryRejected(
            f"the statement has {len(placeholders)} ? placeholders but {len(bindings)} "
            "bindings were given"
        )
    for node, value in zip(placeholders, bindings, strict=True):
        if not isinstance(value, str) or "\x00" in value:
            raise QueryRejected("bindings must be strings without NUL characters")
        node.replace(exp.Literal.string(value))


def _rewrite_tables(tree: exp.Expr, scope: CatalogScope) -> tuple[TableName, ...]:
    used: list[TableName] = []
    for ref in table_references(tree):
        label = ".".join(p for p in (ref.catalog, ref.db, ref.name) if p)
        if ref.catalog and ref.catalog.casefold() not in scope.names:
            raise QueryRejected(f"table {label} is not in this project")
        resolved = scope.resolve(ref.db or None, ref.name)
        if resolved is None:
            raise QueryRejected(f"table {label} is not in this project's catalog")
        ref.set("catalog", None)
        ref.set("db", exp.to_identifier(resolved.schema, quoted=True))
        ref.set("this", exp.to_identifier(resolved.table, quoted=True))
        used.append(resolved)
    return tuple(dict.fromkeys(used))


def _literal_int(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Limit):
        node = node.expression
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None


def _cap_rows(tree: exp.Query, cap: int) -> tuple[exp.Query, int]:
    """Keep a literal LIMIT at or under `cap`; otherwise make the LIMIT `cap`."""
    if tree.args.get("fetch") is not None:
        tree = exp.select("*").from_(tree.subquery("parley_capped"))
    limit = tree.args.get("limit")
    if limit is None:
        return tree.limit(cap, copy=False), cap
    current = _literal_int(limit)
    if current is not None and current <= cap:
        return tree, current
    if current is not None:
        return tree.limit(cap, copy=False), cap
    wrapped = exp.select("*").from_(tree.subquery("parley_capped")).limit(cap, copy=False)
    return wrapped, cap


def guard(
    sql: str,
    *,
    scope: CatalogScope,
    row_cap: int,
    bindings: Sequence[str] = (),
) -> GuardedSql:
    """Check `sql` and return the statement to run, or raise QueryRejected saying why.

    The result depends only on the arguments, so it is memoized: a dashboard or an agent
    that repeats a statement pays for parsing it once (refusals are not cached)."""
    run = _guard if len(sql) <= MAX_CACHED_SQL_CHARS else _guard.__wrapped__
    return run(sql, scope, row_cap, tuple(bindings))


@functools.lru_cache(maxsize=2048)
def _guard(sql: str, scope: CatalogScope, row_cap: int, bindings: tuple[str, ...]) -> GuardedSql:
    tree = check_tree(parse_one_statement(sql, scope.dialect), sql, scope.dialect)
    _bind(tree, bindings)
    tables = _rewrite_tables(tree, scope)
    tree, cap = _cap_rows(tree, row_cap)
    try:
        text = tree.sql(dialect=scope.dialect, comments=False)
    except RecursionError as err:
        raise QueryRejected("the statement is nested too deeply") from err
    except SqlglotError as err:
        raise QueryRejected(f"could not write the statement as {scope.dialect} SQL: {err}") from err
    return GuardedSql(sql=text, tables=tables, row_cap=cap)


def quoted_table(table: TableName, dialect: str) -> str:
    """`"schema"."table"` in `dialect`, for statements Parley writes itself (statistics)."""
    return exp.table_(table.table, db=table.schema, quoted=True).sql(dialect=dialect)


def quoted_column(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def scope_names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.casefold() for n in names if n)


def known_tables(rows: Iterable[tuple[str, str]]) -> tuple[TableName, ...]:
    return tuple(TableName(schema, table) for schema, table in rows)


def transpile(sql: str, *, read: str, write: str) -> str:
    """Rewrite one statement from `read` to `write` (any statement kind: it is not run)."""
    try:
        out = sqlglot.transpile(sql, read=read, write=write)
    except RecursionError as err:
        raise QueryRejected("the statement is nested too deeply") from err
    except SqlglotError as err:
        raise QueryRejected(f"could not transpile the statement: {err}") from err
    return ";\n".join(out)
