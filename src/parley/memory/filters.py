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

Anything else is an `InvalidInput` (422) naming the bad part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import (
    ColumnElement,
    Float,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement as _Col

from parley.errors import InvalidInput

OPERATORS = frozenset({"gte", "lte", "gt", "lt", "ne", "in", "contains", "icontains"})
LOGIC = ("AND", "OR", "NOT")
WILDCARD = "*"
MAX_DEPTH = 8
MAX_IN_VALUES = 1000

_datetime = TypeAdapter(datetime)


class Kind(Enum):
    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    DATETIME = "datetime"
    JSON = "json"


@dataclass(frozen=True)
class Field:
    column: ColumnElement[Any]
    kind: Kind


FilterFields = Mapping[str, Field]


def compile_filters(
    filters: Mapping[str, Any] | None, fields: FilterFields, dialect: str
) -> ColumnElement[bool]:
    """Translate `filters` into a WHERE clause over `fields`; `true()` when there is none."""
    if not filters:
        return true()
    return _Compiler(fields, dialect).node(filters, depth=0)


class _Compiler:
    def __init__(self, fields: FilterFields, dialect: str) -> None:
        self.fields = fields
        self.pg = dialect == "postgresql"

    def node(self, node: Any, depth: int) -> ColumnElement[bool]:
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
        subs = value if isinstance(value, list) else [value] if isinstance(value, Mapping) else None
        if subs is None:
            raise InvalidInput(f"{key} takes a list of filter objects")
        compiled = [self.node(sub, depth + 1) for sub in subs]
        if key == "AND":
            return and_(true(), *compiled)
        if key == "OR":
            return or_(false(), *compiled)
        return not_(and_(true(), *compiled))

    # --- plain columns -------------------------------------------------------------------

    def field(self, name: str, field: Field, value: Any) -> ColumnElement[bool]:
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
        return field.column == self.scalar(name, field.kind, value)

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

    def column_op(self, name: str, field: Field, op: str, value: Any) -> ColumnElement[bool]:
        column, kind = field.column, field.kind
        if op == "in":
            return column.in_(self.value_list(name, kind, value))
        if op in ("contains", "icontains"):
            if kind is not Kind.TEXT or not isinstance(value, str):
                raise InvalidInput(f"{op!r} on {name!r} needs a text field and a string value")
            return _substring(column, value, op == "icontains", self.pg)
        bound = self.scalar(name, kind, value)
        if kind is Kind.BOOL and op != "ne":
            raise InvalidInput(f"{op!r} does not apply to the boolean field {name!r}")
        if kind is Kind.TEXT:
            column = _bytewise(column, self.pg)
        return _compare(column, op, bound)

    def scalar(self, name: str, kind: Kind, value: Any) -> Any:
        ok = {
            Kind.TEXT: isinstance(value, str),
            Kind.INT: isinstance(value, int) and not isinstance(value, bool),
            Kind.BOOL: isinstance(value, bool),
            Kind.DATETIME: isinstance(value, str),
        }[kind]
        if not ok:
            raise InvalidInput(f"filter on {name!r} needs a {kind.value} value, got {value!r}")
        if kind is Kind.DATETIME:
            try:
                return _datetime.validate_python(value)
            except ValidationError as err:
                raise InvalidInput(
                    f"filter on {name!r}: {value!r} is not an ISO 8601 date"
                ) from err
        return value

    def value_list(self, name: str, kind: Kind, value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) > MAX_IN_VALUES:
            raise InvalidInput(f"'in' on {name!r} takes a list of at most {MAX_IN_VALUES} values")
        return [self.scalar(name, kind, item) for item in value]

    # --- JSON columns (metadata, configuration) ------------------------------------------

    def json_object(
        self, name: str, column: ColumnElement[Any], path: tuple[str, ...], value: Mapping[str, Any]
    ) -> ColumnElement[bool]:
        clauses = []
        for key, sub in value.items():
            if not isinstance(key, str) or not key or '"' in key or "\\" in key:
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
            return and_(jtype == "number", self.json_number(column, path) == value)
        if isinstance(value, str):
            return and_(jtype == "string", self.json_text(column, path) == value)
        raise InvalidInput(f"filter on {label!r} cannot match {value!r}")

    def json_op(
        self, label: str, column: ColumnElement[Any], path: tuple[str, ...], op: str, value: Any
    ) -> ColumnElement[bool]:
        if op == "in":
            if not isinstance(value, list) or len(value) > MAX_IN_VALUES:
                raise InvalidInput(f"'in' on {label!r} takes a list of values")
            return or_(false(), *(self.json_equals(label, column, path, v) for v in value))
        if op == "ne":
            return not_(self.json_equals(label, column, path, value))
        jtype = self.json_type(column, path)
        if op in ("contains", "icontains"):
            if not isinstance(value, str):
                raise InvalidInput(f"{op!r} on {label!r} takes a string")
            text = self.json_text(column, path)
            return and_(jtype == "string", _substring(text, value, op == "icontains", self.pg))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return and_(jtype == "number", _compare(self.json_number(column, path), op, value))
        if isinstance(value, str):
            text = self.json_text(column, path)
            return and_(jtype == "string", _compare(_bytewise(text, self.pg), op, value))
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
            clauses.append(self.array_has(column, path, item))
        return and_(*clauses)

    # --- dialect primitives --------------------------------------------------------------

    def json_type(self, column: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[str]:
        """The JSON type at `path`, with SQLite's names mapped onto PostgreSQL's."""
        if self.pg:
            node = func.jsonb_extract_path(column, *map(literal, path))
            return func.jsonb_typeof(node)
        raw = func.json_type(column, _sqlite_path(path))
        return case(
            (raw.in_(["integer", "real"]), "number"),
            (raw == "text", "string"),
            else_=raw,
        )

    def json_text(self, column: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[str]:
        if self.pg:
            return func.jsonb_extract_path_text(column, *map(literal, path))
        return cast(func.json_extract(column, _sqlite_path(path)), String)

    def json_number(self, column: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[Any]:
        if self.pg:
            return cast(func.jsonb_extract_path_text(column, *map(literal, path)), Numeric)
        return cast(func.json_extract(column, _sqlite_path(path)), Float)

    def array_has(
        self, column: ColumnElement[Any], path: tuple[str, ...], item: Any
    ) -> ColumnElement[bool]:
        if self.pg:
            node = func.jsonb_extract_path(column, *map(literal, path))
            return node.op("@>")(cast(literal([item], JSONB), JSONB))
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
    haystack, needle = column, literal(value, String)
    if insensitive:
        haystack, needle = func.lower(haystack), func.lower(needle)
    position = func.strpos(haystack, needle) if pg else func.instr(haystack, needle)
    return position > 0


def _bytewise(column: _Col[Any], pg: bool) -> _Col[Any]:
    """Compare text by code point on both backends (SQLite's BINARY, PostgreSQL's "C")."""
    return column.collate("C") if pg else column
