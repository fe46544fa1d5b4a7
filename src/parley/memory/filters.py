"""Honcho's filter language, compiled to one SQL expression that means the same on SQLite and
PostgreSQL.

    {"peer_id": "alice"}                          equality
    {"peer_id": ["alice", "bob"]}                 a bare list means `in`
    {"created_at": {"gte": "2025-01-01"}}         operators: gte lte gt lt ne in contains icontains
    {"session_id": "*"}                           wildcard: matches everything
    {"metadata": {"topic": "travel"}}             JSON containment, nested dicts recurse,
    {"metadata": {"tags": ["a", "b"]}}            a list at a JSON path must be contained in it,
    {"metadata": {"score": {"gte": 5}}}           operators work at JSON paths too
    {"AND": [...], "OR": [...], "NOT": [...]}     logic over lists of sub-filters

As in Honcho, `NOT: [a, b]` keeps the rows that match neither a nor b (a row whose metadata
lacks the key a condition looks at does not match it), `ne` on a JSON path keeps rows without
that key, and an empty AND/OR/NOT list adds no condition. JSON values compare by type:
1 (or 1.0), "1" and true are different values; text compares by code point on both backends.

Anything else is an `InvalidInput` (422) naming the bad part.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Numeric,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnElement as _Col
from sqlalchemy.sql.elements import TextClause

from parley.errors import InvalidInput

OPERATORS = frozenset({"gte", "lte", "gt", "lt", "ne", "in", "contains", "icontains"})
LOGIC = ("AND", "OR", "NOT")
WILDCARD = "*"
MAX_DEPTH = 8
MAX_JSON_DEPTH = 32
MAX_IN_VALUES = 1000
# Conditions (fields, operators, logic branches) in one filter: real filters use a handful; a
# bound keeps one request from building a huge SQL expression (5,000 OR branches once froze the
# server for 20 s)
MAX_CONDITIONS = 200
# Integers both backends can bind and compare exactly (SQLite's are 64-bit).
MIN_INT, MAX_INT = -(2**63), 2**63 - 1


class Kind(Enum):
    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    DATETIME = "datetime"
    JSON = "json"


@dataclass(frozen=True, init=False)
class FilterField:
    column: ColumnElement[Any]
    kind: Kind

    def __init__(self, column: QueryableAttribute[Any] | ColumnElement[Any], kind: Kind) -> None:
        """`column`: a mapped attribute (`Peer.id`) or a column expression; an attribute is kept
        as its column expression, which is what SQLAlchemy would coerce it to in a clause."""
        if isinstance(column, QueryableAttribute):
            column = column.__clause_element__()
        object.__setattr__(self, "column", column)
        object.__setattr__(self, "kind", kind)


FilterFields = Mapping[str, FilterField]


async def compile_filters(
    filters: Mapping[str, Any] | None, fields: FilterFields, dialect: str
) -> ColumnElement[bool] | TextClause:
    """Translate `filters` into a WHERE clause over `fields`; `true()` when there is none.

    The clause is built and rendered to SQL text in a worker thread: SQLAlchemy spends about
    2 ms of CPU per condition building, keying and compiling an expression, so a filter at
    MAX_CONDITIONS would otherwise hold the event loop (and every other request) for half a
    second. What the statement gets is a text fragment with typed bound parameters, which
    costs next to nothing to compile."""
    if not filters:
        return true()
    return await asyncio.to_thread(_rendered, filters, fields, dialect)


def build_filters(
    filters: Mapping[str, Any], fields: FilterFields, dialect: str
) -> ColumnElement[bool]:
    """The WHERE clause as a SQLAlchemy expression (CPU-heavy for big filters: see above)."""
    _check_unicode(filters)
    return _Compiler(fields, dialect).node(filters, depth=0)


# Dialects that render bound parameters as `:name` without casts (text() reads `:name::TYPE`
# wrongly); the statement's own dialect adds its casts when it binds the text's parameters.
_RENDERERS = {
    "sqlite": sqlite.dialect(paramstyle="named"),
    "postgresql": PGDialect(paramstyle="named"),
}


def _rendered(filters: Mapping[str, Any], fields: FilterFields, dialect: str) -> TextClause:
    """The clause as SQL text. Its parameters are renamed `filter_0`, `filter_1`, ... first,
    so that none can clash with a parameter of the statement it goes into."""
    binds: dict[int, BindParameter[Any]] = {}

    def rename(element: Any, **kw: Any) -> BindParameter[Any] | None:
        # **kw: the signature replacement_traverse declares for its callback
        if not isinstance(element, BindParameter):
            return None
        if id(element) not in binds:  # a parameter used twice keeps one name
            binds[id(element)] = BindParameter(
                f"filter_{len(binds)}",
                element.value,
                type_=element.type,
                expanding=element.expanding,
                unique=False,
            )
        return binds[id(element)]

    clause = visitors.replacement_traverse(build_filters(filters, fields, dialect), {}, rename)
    sql = str(clause.compile(dialect=_RENDERERS[dialect]))
    for bind in binds.values():
        if bind.expanding:  # text() takes an `IN :name` list parameter as ... IN :name
            sql = sql.replace(f"(__[POSTCOMPILE_{bind.key}])", f":{bind.key}")
    # Parenthesized: SQLAlchemy never groups text, and `a OR b` AND-ed with a caller's own
    # condition must stay one term.
    return text(f"({sql})").bindparams(*binds.values())


def _check_unicode(filters: Mapping[str, Any]) -> None:
    """No key or text may hold a lone surrogate (JSON's \\ud800 escapes make them), which no
    database driver can send. A walk with a stack: the compiler bounds the depth later."""
    stack: list[Any] = [filters]
    while stack:
        item = stack.pop()
        texts: list[Any] = []
        if isinstance(item, Mapping):
            texts = list(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            texts = [item]
        for string in texts:
            if isinstance(string, str):
                try:
                    string.encode("utf-8")
                except UnicodeEncodeError as err:
                    raise InvalidInput(
                        "filters must be valid Unicode (a string has an unpaired surrogate)"
                    ) from err


class _Compiler:
    def __init__(self, fields: FilterFields, dialect: str) -> None:
        self.fields = fields
        self.pg = dialect == "postgresql"
        self.conditions = 0

    def count(self, more: int = 1) -> None:
        self.conditions += more
        if self.conditions > MAX_CONDITIONS:
            raise InvalidInput(f"filters have more than {MAX_CONDITIONS} conditions")

    def node(self, node: Any, depth: int) -> ColumnElement[bool]:
        self.count(max(1, len(node)) if isinstance(node, Mapping) else 1)
        if depth > MAX_DEPTH:
            raise InvalidInput(f"filters are nested deeper than {MAX_DEPTH} levels")
        if not isinstance(node, Mapping):
            raise InvalidInput("each filter must be a JSON object")
        clauses: list[ColumnElement[bool]] = []
        for key, value in node.items():
            if key in LOGIC:
                clauses.append(self.logic(key, value, depth))
            elif key in self.fields:
                clauses.append(self.field(key, self.fields[key], value))
            else:
                allowed = ", ".join(sorted([*self.fields, *LOGIC]))
                raise InvalidInput(f"unknown filter field {key!r}; allowed: {allowed}")
        return and_(true(), *clauses) if clauses else true()

    def logic(self, key: str, value: Any, depth: int) -> ColumnElement[bool]:
        if not isinstance(value, list):
            raise InvalidInput(f"{key} takes a list of filter objects")
        compiled = [self.node(sub, depth + 1) for sub in value]
        if not compiled:
            return true()  # Honcho: an empty list adds no condition
        if key == "AND":
            return and_(true(), *compiled)
        if key == "OR":
            return or_(false(), *compiled)
        # Each sub-filter must not match; "unknown" (a missing JSON key) counts as no match.
        return and_(true(), *(_not_true(c) for c in compiled))

    # --- plain columns -------------------------------------------------------------------

    def field(self, name: str, field: FilterField, value: Any) -> ColumnElement[bool]:
        if value == WILDCARD:
            return true()
        if field.kind is Kind.JSON:
            if not isinstance(value, Mapping):
                raise InvalidInput(f"filter on {name!r} takes an object of keys to match")
            return self.json_object(name, field.column, (), value)
        if isinstance(value, list):
            return self.column_op(name, field, "in", value)
        if isinstance(value, Mapping):
            return self.operators(name, value, lambda op, v: self.column_op(name, field, op, v))
        bound = self.scalar(name, field.kind, value)
        if field.kind is Kind.INT:
            bound = literal(bound, BigInteger)
        return field.column == bound

    def operators(
        self, name: str, ops: Mapping[str, Any], build: Callable[[str, Any], ColumnElement[bool]]
    ) -> ColumnElement[bool]:
        if not ops:
            raise InvalidInput(f"filter on {name!r} is an empty object")
        unknown = set(ops) - OPERATORS
        if unknown:
            raise InvalidInput(
                f"unknown operator {sorted(unknown)[0]!r} on {name!r}; "
                f"allowed: {', '.join(sorted(OPERATORS))}"
            )
        return and_(true(), *(build(op, v) for op, v in ops.items() if v != WILDCARD))

    def column_op(self, name: str, field: FilterField, op: str, value: Any) -> ColumnElement[bool]:
        column, kind = field.column, field.kind
        if op == "in":
            values = self.value_list(name, kind, value)
            if WILDCARD in values:
                return true()
            if kind is Kind.INT:
                return column.in_([literal(v, BigInteger) for v in values])
            return column.in_(values)
        if op in ("contains", "icontains"):
            if kind is not Kind.TEXT or not isinstance(value, str):
                raise InvalidInput(f"{op!r} on {name!r} needs a text field and a string value")
            return _substring(column, _text(name, value), op == "icontains", self.pg)
        bound = self.scalar(name, kind, value)
        if kind is Kind.BOOL and op != "ne":
            raise InvalidInput(f"{op!r} does not apply to the boolean field {name!r}")
        if kind is Kind.TEXT:
            column = _bytewise(column, self.pg)
        if kind is Kind.INT:
            bound = literal(bound, BigInteger)  # int4 columns against any 64-bit value
        return _compare(column, op, bound)

    def scalar(self, name: str, kind: Kind, value: Any) -> Any:
        ok = {
            Kind.TEXT: isinstance(value, str),
            Kind.INT: isinstance(value, int) and not isinstance(value, bool),
            Kind.BOOL: isinstance(value, bool),
            Kind.DATETIME: isinstance(value, str),
        }[kind]
        if not ok:
            article = "an" if kind is Kind.INT else "a"
            raise InvalidInput(
                f"filter on {name!r} needs {article} {kind.value} value, got {value!r}"
            )
        if kind is Kind.DATETIME:
            return _iso_datetime(name, value)
        if kind is Kind.INT:
            return _integer(name, value)
        if kind is Kind.TEXT:
            return _text(name, value)
        return value

    def value_list(self, name: str, kind: Kind, value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) > MAX_IN_VALUES:
            raise InvalidInput(f"'in' on {name!r} takes a list of at most {MAX_IN_VALUES} values")
        return [self.scalar(name, kind, item) for item in value]

    # --- JSON columns (metadata, configuration) ------------------------------------------

    def json_object(
        self, name: str, column: ColumnElement[Any], path: tuple[str, ...], value: Mapping[str, Any]
    ) -> ColumnElement[bool]:
        if len(path) >= MAX_JSON_DEPTH:
            raise InvalidInput(f"filter on {name!r} is nested deeper than {MAX_JSON_DEPTH} levels")
        if path and not value:  # containment: {} below the top matches any object there
            return self.json_type(column, path) == "object"
        clauses = []
        for key, sub in value.items():
            if not isinstance(key, str) or not key or any(c in key for c in '"\\\x00'):
                raise InvalidInput(f"bad key {key!r} in the filter on {name!r}")
            clauses.append(self.json_value(name, column, (*path, key), sub))
        return and_(true(), *clauses)

    def json_value(
        self, name: str, column: ColumnElement[Any], path: tuple[str, ...], value: Any
    ) -> ColumnElement[bool]:
        label = ".".join((name, *path))
        if value == WILDCARD:
            return true()
        if isinstance(value, Mapping):
            keys = set(value)
            if keys and keys <= OPERATORS:
                return self.operators(
                    label, value, lambda op, v: self.json_op(label, column, path, op, v)
                )
            if keys & OPERATORS:
                raise InvalidInput(f"filter on {label!r} mixes operators and keys")
            return self.json_object(name, column, path, value)
        if isinstance(value, list):
            return self.json_contains_all(label, column, path, value)
        return self.json_equals(label, column, path, value)

    def json_equals(
        self, label: str, column: ColumnElement[Any], path: tuple[str, ...], value: Any
    ) -> ColumnElement[bool]:
        jtype = self.json_type(column, path)
        if value is None:
            return jtype == "null"
        if isinstance(value, bool):
            return jtype == ("true" if value else "false")
        if isinstance(value, int | float):
            number = _number(label, value)
            return and_(jtype == "number", self.json_number(column, path) == number)
        if isinstance(value, str):
            return and_(jtype == "string", self.json_text(column, path) == _text(label, value))
        raise InvalidInput(f"filter on {label!r} cannot match {value!r}")

    def json_op(
        self, label: str, column: ColumnElement[Any], path: tuple[str, ...], op: str, value: Any
    ) -> ColumnElement[bool]:
        if op == "in":
            if not isinstance(value, list) or len(value) > MAX_IN_VALUES:
                raise InvalidInput(
                    f"'in' on {label!r} takes a list of at most {MAX_IN_VALUES} values"
                )
            if WILDCARD in value:
                return true()
            return or_(false(), *(self.json_equals(label, column, path, v) for v in value))
        if op == "ne":
            return _not_true(self.json_equals(label, column, path, value))
        jtype = self.json_type(column, path)
        if op in ("contains", "icontains"):
            if not isinstance(value, str):
                raise InvalidInput(f"{op!r} on {label!r} takes a string")
            text = self.json_text(column, path)
            needle = _text(label, value)
            return and_(jtype == "string", _substring(text, needle, op == "icontains", self.pg))
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = self.json_number(column, path)
            return and_(jtype == "number", _compare(number, op, _number(label, value)))
        if isinstance(value, str):
            text = _bytewise(self.json_text(column, path), self.pg)
            return and_(jtype == "string", _compare(text, op, _text(label, value)))
        raise InvalidInput(f"{op!r} on {label!r} takes a number or a string, got {value!r}")

    def json_contains_all(
        self, label: str, column: ColumnElement[Any], path: tuple[str, ...], values: list[Any]
    ) -> ColumnElement[bool]:
        if len(values) > MAX_IN_VALUES:
            raise InvalidInput(f"filter on {label!r} lists more than {MAX_IN_VALUES} values")
        clauses: list[ColumnElement[bool]] = [self.json_type(column, path) == "array"]
        for item in values:
            if isinstance(item, Mapping | list):
                raise InvalidInput(f"filter on {label!r}: list items must be scalars")
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = _number(label, item)
            elif isinstance(item, str):
                item = _text(label, item)
            clauses.append(self.array_has(column, path, item))
        return and_(*clauses)

    # --- dialect primitives --------------------------------------------------------------

    def json_type(self, column: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[str]:
        """The JSON type at `path`: object, array, string, number, true, false or null (NULL
        where there is nothing), the same names on both backends."""
        if self.pg:
            raw = func.jsonb_typeof(_pg_node(column, path))
            return case((raw == "boolean", _pg_text(column, path)), else_=raw)
        raw = func.json_type(column, _sqlite_path(path))
        return case(
            (raw.in_(["integer", "real"]), "number"),
            (raw == "text", "string"),
            else_=raw,
        )

    def json_text(self, column: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[str]:
        if self.pg:
            return _pg_text(column, path)
        return cast(func.json_extract(column, _sqlite_path(path)), String)

    def json_number(self, column: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[Any]:
        """The number at `path`, exact on both backends (SQLite's json_extract gives INTEGER or
        REAL, which it compares exactly; a cast to REAL would round past 2**53)."""
        if self.pg:
            # Cast only numbers: PostgreSQL may evaluate this before the type check beside it.
            is_number = func.jsonb_typeof(_pg_node(column, path)) == "number"
            return case((is_number, cast(_pg_text(column, path), Numeric)))
        return func.json_extract(column, _sqlite_path(path))

    def array_has(
        self, column: ColumnElement[Any], path: tuple[str, ...], item: Any
    ) -> ColumnElement[bool]:
        if self.pg:
            # JSON text cast in SQL: a JSONB-typed parameter renders as `:p::JSONB`, which the
            # text fragment of _rendered cannot hold.
            return _pg_node(column, path).op("@>")(cast(literal(json.dumps([item]), Text), JSONB))
        each = func.json_each(column, _sqlite_path(path)).table_valued("value", "type")
        if item is None:
            match = each.c.type == "null"
        elif isinstance(item, bool):
            match = each.c.type == ("true" if item else "false")
        elif isinstance(item, int | float):
            match = and_(each.c.type.in_(["integer", "real"]), each.c.value == item)
        else:
            match = and_(each.c.type == "text", each.c.value == item)
        return exists(select(literal(1)).select_from(each).where(match))


def _sqlite_path(path: tuple[str, ...]) -> str:
    return "$" + "".join(f'."{key}"' for key in path)


def _pg_path(path: tuple[str, ...]) -> ColumnElement[Any]:
    # One text[] parameter: jsonb_extract_path(col, VARIADIC ...) stops at 100 arguments.
    return literal(list(path), ARRAY(Text))


def _pg_node(column: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[Any]:
    return _pg_walk(column, path, "#>", JSONB)


def _pg_text(column: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[str]:
    return _pg_walk(column, path, "#>>", Text)


def _pg_walk(column: ColumnElement[Any], path: tuple[str, ...], op: str, type_: Any) -> Any:
    """`column #> path`, NULL unless every step goes through an object: PostgreSQL's path
    steps also index arrays ('0' is the first item), SQLite's quoted keys never do."""
    node = column.op(op, return_type=type_)(_pg_path(path))
    parents = [
        func.jsonb_typeof(column.op("#>", return_type=JSONB)(_pg_path(path[:i]))) == "object"
        for i in range(1, len(path))
    ]
    return case((and_(*parents), node)) if parents else node


def _not_true(clause: ColumnElement[bool]) -> ColumnElement[bool]:
    """NOT in two-valued logic: true where `clause` is false or unknown (NULL)."""
    return clause.is_not(True)


def _text(label: str, value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold NUL, so nothing stored contains it
        raise InvalidInput(f"filter on {label!r}: strings cannot contain the NUL character")
    return value


def _integer(label: str, value: int) -> int:
    if not MIN_INT <= value <= MAX_INT:
        raise InvalidInput(f"filter on {label!r}: {value} is out of the 64-bit integer range")
    return value


def _number(label: str, value: float) -> float:
    if isinstance(value, int):
        return _integer(label, value)
    if not math.isfinite(value):
        raise InvalidInput(f"filter on {label!r}: {value!r} is not a finite number")
    return value


def _iso_datetime(label: str, value: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise InvalidInput(f"filter on {label!r}: {value!r} is not an ISO 8601 date") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as err:
        raise InvalidInput(f"filter on {label!r}: {value!r} is out of range") from err


def _compare(column: _Col[Any], op: str, value: Any) -> ColumnElement[bool]:
    if op == "gte":
        return column >= value
    if op == "lte":
        return column <= value
    if op == "gt":
        return column > value
    if op == "lt":
        return column < value
    if op == "ne":
        return column != value
    raise InvalidInput(f"operator {op!r} does not apply here")


def _substring(column: _Col[Any], value: str, insensitive: bool, pg: bool) -> ColumnElement[bool]:
    """Case-(in)sensitive substring match without LIKE, whose wildcards and case rules differ
    between the backends (SQLite's LIKE ignores ASCII case; `lower` is unicode-aware on both,
    see store.engine)."""
    haystack: ColumnElement[Any] = column
    needle: ColumnElement[Any] = literal(value, String)
    if insensitive:
        haystack, needle = func.lower(haystack), func.lower(needle)
    position = func.strpos(haystack, needle) if pg else func.instr(haystack, needle)
    return position > 0


def _bytewise(column: _Col[Any], pg: bool) -> _Col[Any]:
    """Compare text by code point on both backends (SQLite's BINARY, PostgreSQL's "C")."""
    return column.collate("C") if pg else column
