"""Peaka's query-builder body of `/queries/execute` (`from`, `columns`, `filters`, `orderBy`,
`offset`) as SQL text. The result is untrusted like any statement: the guard checks it.

Filters: `{"and": [cond, ...]}` or `{"or": [...]}`, where a condition is
`[{"column": {"columnName": ...}}, operator, [values]]` or a nested and/or object. Operators:
= != <> > >= < <= IN, NOT IN, LIKE, NOT LIKE, IS NULL, IS NOT NULL."""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from parley.data.sql_guard import QueryRejected
from parley.errors import InvalidInput

MAX_FILTER_DEPTH = 10
_COMPARE = {
    "=": exp.EQ,
    "!=": exp.NEQ,
    "<>": exp.NEQ,
    ">": exp.GT,
    ">=": exp.GTE,
    "<": exp.LT,
    "<=": exp.LTE,
}


def _value(raw: Any) -> exp.Expr:
    if raw is None or isinstance(raw, bool | int | float | str):
        return exp.convert(raw)
    raise InvalidInput(f"filter values must be text, numbers, booleans or null, not {raw!r}")


def _column(raw: Any) -> exp.Column:
    column = raw.get("column") if isinstance(raw, dict) else None
    name = column.get("columnName") if isinstance(column, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput('a filter condition starts with {"column": {"columnName": ...}}')
    return exp.column(name, quoted=True)


def _condition(raw: Any, depth: int) -> exp.Expr:
    if isinstance(raw, dict):
        return _group(raw, depth + 1)
    if not isinstance(raw, list) or len(raw) != 3 or not isinstance(raw[1], str):
        raise InvalidInput("a filter condition is [column, operator, [values]]")
    lhs, op, values = _column(raw[0]), " ".join(raw[1].upper().split()), raw[2]
    if not isinstance(values, list):
        raise InvalidInput("the values of a filter condition are a list")
    if op in ("IS NULL", "IS NOT NULL"):
        if values:
            raise InvalidInput(f"{op} takes no values")
        null = exp.Is(this=lhs, expression=exp.Null())
        return null if op == "IS NULL" else exp.Not(this=null)
    if op in ("IN", "NOT IN"):
        if not values:
            raise InvalidInput(f"{op} takes at least one value")
        found = exp.In(this=lhs, expressions=[_value(v) for v in values])
        return found if op == "IN" else exp.Not(this=found)
    if len(values) != 1:
        raise InvalidInput(f"operator {op} takes exactly one value")
    if op in ("LIKE", "NOT LIKE"):
        like = exp.Like(this=lhs, expression=_value(values[0]))
        return like if op == "LIKE" else exp.Not(this=like)
    compare = _COMPARE.get(op)
    if compare is None:
        known = ", ".join([*_COMPARE, "IN", "NOT IN", "LIKE", "NOT LIKE", "IS NULL", "IS NOT NULL"])
        raise InvalidInput(f"unknown filter operator {raw[1]!r}; use one of {known}")
    return compare(this=lhs, expression=_value(values[0]))


def _group(raw: dict[str, Any], depth: int) -> exp.Expr:
    if depth > MAX_FILTER_DEPTH:
        raise InvalidInput(f"filters nest at most {MAX_FILTER_DEPTH} levels deep")
    if len(raw) != 1 or next(iter(raw)).lower() not in ("and", "or"):
        raise InvalidInput('a filter group is {"and": [...]} or {"or": [...]}')
    key, items = next(iter(raw.items()))
    if not isinstance(items, list) or not items:
        raise InvalidInput(f"{key} takes a non-empty list of conditions")
    parts = [_condition(item, depth) for item in items]
    joined = exp.and_(*parts) if key.lower() == "and" else exp.or_(*parts)
    return exp.Paren(this=joined)


def builder_sql(
    *,
    table: tuple[str | None, str | None, str],
    columns: list[str],
    filters: dict[str, Any] | None,
    order_by: list[str],
    offset: int | None,
) -> str:
    catalog, schema, name = table
    source = exp.table_(name, db=schema, catalog=catalog, quoted=True)
    projections: list[exp.Expr] = [exp.column(c, quoted=True) for c in columns]
    select = exp.select(*(projections or [exp.Star()]))
    select = select.from_(source)
    if filters:
        select = select.where(_group(filters, 1))
    try:
        for entry in order_by:
            select = select.order_by(entry)
    except SqlglotError as err:
        raise QueryRejected(f"cannot read orderBy: {err}") from err
    if offset:
        select = select.offset(offset)
    return select.sql(dialect="postgres")
