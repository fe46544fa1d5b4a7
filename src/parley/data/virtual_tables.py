"""Tables that are queries: semantic tables (a saved query, `<semantic_catalog>.<schema>.<table>`)
and parametric tables (a catalog's table with some columns fixed to values,
`<catalog>.<to_schema>.<to_table>`).

Before the SQL guard sees a statement, `expand` replaces every reference to one of them with its
defining query as a subquery (with sqlglot, on the parsed tree): a semantic table by its saved
query (itself expanded, so semantic tables may build on each other, but never on themselves), a
parametric table by `SELECT * FROM <catalog>.<from_schema>.<from_table> WHERE <key> = <value>
AND ...`. Parameter values become literal nodes of the tree (quoted by the generator, like the
guard's `?` bindings), never text spliced into SQL. The guard then checks the expanded statement
like any other: read-only, tables that exist, one catalog.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlglot import exp

from parley.data.sql_guard import (
    MAX_SQL_CHARS,
    QueryRejected,
    check_tree,
    parse_one_statement,
    table_references,
)
from parley.errors import InvalidInput

MAX_DEPTH = 16  # semantic tables built on semantic tables, at most this deep
ParamValue = str | int | float | bool | None


@dataclass(frozen=True)
class SemanticDef:
    catalog: str  # the semantic catalog's name
    schema: str
    table: str
    sql: str  # the saved query's text
    query_id: str = ""

    @property
    def label(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"


@dataclass(frozen=True)
class ParametricDef:
    catalog: str  # the name of the catalog it lives in (and reads)
    catalog_names: frozenset[str]  # lower-case names a query may qualify it with
    schema: str  # to_schema
    table: str  # to_table
    from_schema: str
    from_table: str
    params: tuple[tuple[str, ParamValue], ...]


@dataclass(frozen=True)
class VirtualTables:
    """A project's semantic and parametric tables (picklable: guarded off the event loop)."""

    semantic: tuple[SemanticDef, ...] = ()
    parametric: tuple[ParametricDef, ...] = ()
    semantic_catalogs: frozenset[str] = field(default=frozenset())  # lower-case names

    def __bool__(self) -> bool:
        return bool(self.semantic or self.parametric or self.semantic_catalogs)

    def with_semantic(self, extra: SemanticDef) -> VirtualTables:
        return VirtualTables(
            (*self.semantic, extra),
            self.parametric,
            self.semantic_catalogs | {extra.catalog.casefold()},
        )

    def with_query_text(self, query_id: str, sql: str) -> VirtualTables:
        """As if saved query `query_id` read `sql` (to check a change to it)."""
        return VirtualTables(
            tuple(replace(s, sql=sql) if s.query_id == query_id else s for s in self.semantic),
            self.parametric,
            self.semantic_catalogs,
        )


NO_VIRTUAL_TABLES = VirtualTables()


def _same(a: str | None, b: str) -> bool:
    return a is not None and a.casefold() == b.casefold()


def _semantic_match(virtual: VirtualTables, ref: exp.Table) -> SemanticDef | None:
    if not ref.catalog or ref.catalog.casefold() not in virtual.semantic_catalogs:
        return None
    for item in virtual.semantic:
        if (
            _same(ref.catalog, item.catalog)
            and _same(ref.db, item.schema)
            and _same(ref.name, item.table)
        ):
            return item
    label = ".".join(p for p in (ref.catalog, ref.db, ref.name) if p)
    raise QueryRejected(f"table {label} is not in semantic catalog {ref.catalog}")


def _parametric_match(virtual: VirtualTables, ref: exp.Table) -> ParametricDef | None:
    found = [
        p
        for p in virtual.parametric
        if (not ref.catalog or ref.catalog.casefold() in p.catalog_names)
        and _same(ref.db, p.schema)  # by schema and name: a bare name is a real table's
        and _same(ref.name, p.table)
    ]
    return found[0] if len(found) == 1 else None


def _replace(ref: exp.Table, inner: exp.Query, name: str) -> None:
    alias = ref.args.get("alias")
    subquery = exp.Subquery(
        this=inner,
        alias=alias.copy() if alias is not None else exp.TableAlias(this=exp.to_identifier(name)),
    )
    ref.replace(subquery)


def _value_node(value: ParamValue, now: datetime) -> exp.Expr:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(resolve_macro(value, now))


def parametric_query(item: ParametricDef, now: datetime) -> exp.Select:
    """`SELECT * FROM catalog.from_schema.from_table WHERE key = value AND ...`, the values
    as literal nodes."""
    source = exp.table_(item.from_table, db=item.from_schema, catalog=item.catalog, quoted=True)
    query = exp.select("*").from_(source)
    for key, value in item.params:
        column = exp.column(key, quoted=True)
        node = _value_node(value, now)
        condition: exp.Expr = (
            exp.Is(this=column, expression=node)
            if isinstance(node, exp.Null)
            else exp.EQ(this=column, expression=node)
        )
        query = query.where(condition, copy=False)
    return query


class _Budget:
    """The SQL one expansion may inline, in characters: semantic tables that each name the one
    below several times grow as a power of their depth, so the work stops at the guard's own
    statement limit instead of after the whole tree is built."""

    def __init__(self) -> None:
        self.left = MAX_SQL_CHARS

    def spend(self, sql: str) -> None:
        self.left -= len(sql)
        if self.left < 0:
            raise QueryRejected(
                f"the statement with its semantic tables expanded is longer than {MAX_SQL_CHARS} "
                "characters"
            )


def _expand_tree(
    tree: exp.Expr,
    virtual: VirtualTables,
    dialect: str,
    now: datetime,
    stack: tuple[SemanticDef, ...],
    budget: _Budget,
) -> bool:
    """Replace the tree's semantic and parametric tables; True when there were any."""
    replaced = False
    for ref in table_references(tree):
        semantic = _semantic_match(virtual, ref)
        if semantic is not None:
            if semantic in stack:
                path = " -> ".join(s.label for s in (*stack[stack.index(semantic) :], semantic))
                raise QueryRejected(
                    f"semantic table {semantic.label} refers to itself through its query: {path}"
                )
            if len(stack) >= MAX_DEPTH:
                raise QueryRejected(
                    f"semantic tables are built on each other more than {MAX_DEPTH} deep"
                )
            budget.spend(semantic.sql)
            inner = check_tree(parse_one_statement(semantic.sql, dialect), semantic.sql, dialect)
            _expand_tree(inner, virtual, dialect, now, (*stack, semantic), budget)
            _replace(ref, inner, semantic.table)
            replaced = True
            continue
        parametric = _parametric_match(virtual, ref)
        if parametric is not None:
            _replace(ref, parametric_query(parametric, now), parametric.table)
            replaced = True
    return replaced


def expand_tree(
    tree: exp.Expr, virtual: VirtualTables, dialect: str, now: datetime | None = None
) -> None:
    """`expand` on a parsed statement, in place (the SQL endpoint parses Trino's text)."""
    if virtual:
        _expand_tree(tree, virtual, dialect, now or datetime.now().astimezone(), (), _Budget())


def expand(
    sql: str, dialects: Sequence[str], virtual: VirtualTables, now: datetime | None = None
) -> str:
    """`sql` with its semantic and parametric tables replaced by their queries, written in the
    first of `dialects` that parses it (the text itself when it names none of them)."""
    if not virtual:
        return sql
    now = now or datetime.now().astimezone()
    first: QueryRejected | None = None
    for dialect in dialects:
        try:
            tree = parse_one_statement(sql, dialect)
        except QueryRejected as err:
            first = first or err
            continue
        tree = check_tree(tree, sql, dialect)
        if not _expand_tree(tree, virtual, dialect, now, (), _Budget()):
            return sql
        return tree.sql(dialect=dialect)
    assert first is not None
    raise first


# --- relative-date macros (Peaka's grammar: @<anchor>[(+|-)<n><unit>]...) -------------------

ANCHORS = ("today", "yesterday", "now", "sow", "eow", "som", "eom", "soq", "eoq", "soy", "eoy")
MACRO = re.compile(r"@(" + "|".join(ANCHORS) + r")((?:[+-]\d{1,6}[dwMqyhm])*)")
OFFSET = re.compile(r"([+-])(\d{1,6})([dwMqyhm])")


def is_macro(value: str) -> bool:
    return MACRO.fullmatch(value) is not None


def _add_months(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return day.replace(year=year, month=month + 1, day=min(day.day, last))


def _anchor(name: str, now: datetime) -> date | datetime:
    today = now.date()
    quarter_start = _add_months(today.replace(day=1), -((today.month - 1) % 3))
    match name:
        case "now":
            return now.replace(microsecond=0, tzinfo=None)
        case "today":
            return today
        case "yesterday":
            return today - timedelta(days=1)
        case "sow":
            return today - timedelta(days=today.weekday())
        case "eow":
            return today + timedelta(days=6 - today.weekday())
        case "som":
            return today.replace(day=1)
        case "eom":
            return _add_months(today.replace(day=1), 1) - timedelta(days=1)
        case "soq":
            return quarter_start
        case "eoq":
            return _add_months(quarter_start, 3) - timedelta(days=1)
        case "soy":
            return today.replace(month=1, day=1)
        case _:  # eoy
            return today.replace(month=12, day=31)


def resolve_macro(value: str, now: datetime) -> str:
    """A relative-date macro as an ISO date (or date and time, for @now and hour/minute
    offsets) at `now`; any other text as it is."""
    found = MACRO.fullmatch(value)
    if found is None:
        return value
    try:
        return _shifted(found, now)
    except (ValueError, OverflowError) as err:  # past year 1 or 9999
        raise QueryRejected(f"the relative date {value} is out of range") from err


def _shifted(found: re.Match[str], now: datetime) -> str:
    moment: date | datetime = _anchor(found.group(1), now)
    for sign, count, unit in OFFSET.findall(found.group(2)):
        n = int(count) * (1 if sign == "+" else -1)
        if unit in "hm":
            if not isinstance(moment, datetime):
                moment = datetime(moment.year, moment.month, moment.day)
            moment += timedelta(hours=n) if unit == "h" else timedelta(minutes=n)
        elif unit in "dw":
            moment += timedelta(days=n * (7 if unit == "w" else 1))
        else:
            months = n * {"M": 1, "q": 3, "y": 12}[unit]
            if isinstance(moment, datetime):
                moment = datetime.combine(_add_months(moment.date(), months), moment.time())
            else:
                moment = _add_months(moment, months)
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.isoformat()


def check_param_value(key: str, value: Any) -> ParamValue:
    """A parameter value as stored: text, a number, true/false or null."""
    if value is None or isinstance(value, str | bool | int | float):
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(f"the value of parameter {key} holds a NUL character")
        if isinstance(value, str) and value.startswith("@") and not is_macro(value):
            raise InvalidInput(
                f"the value of parameter {key} ({value}) is not a relative-date macro; "
                "write @today, @som-1M, @now-24h, ..."
            )
        if isinstance(value, str) and is_macro(value):
            try:
                resolve_macro(value, datetime.now().astimezone())
            except QueryRejected as err:
                raise InvalidInput(f"the value of parameter {key}: {err}") from err
        return value
    raise InvalidInput(f"the value of parameter {key} must be text, a number, true/false or null")


def semantic_names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.casefold() for n in names)
