"""Execution match: is the agent's result the gold query's result?

Both queries run on the demo SQLite file (read-only). The rule, strict but fair:

* **Values** are normalised before they are compared: numbers (and booleans, and strings that
  are plain decimal numbers, such as strftime's '2024') become floats rounded to 2 decimals, so
  2, 2.0, '2' and 2.004 are equal and 2.01 is not; after rounding, two numbers still count as
  equal when they differ by at most 0.01 (a sum of cents rounded on either side of a half).
  Other strings must be equal exactly (case and spacing included); NULL equals only NULL.
* **Rows** must be the same number and, as a multiset, the same rows. Order matters only when
  the gold query ends in ORDER BY with LIMIT (a top-N question); then row i must match row i.
* **Columns** are matched by content, not by name or position: every gold column must be one
  of the agent's columns (a one-to-one assignment under which the rows match). Extra agent
  columns are accepted (a name next to an id, the year next to a count); a missing gold column
  is a mismatch.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from parley.data.sql_guard import CatalogScope, guard, known_tables, scope_names
from parley.demo.register import CATALOG_NAME
from parley.demo.schema import TABLES

TOLERANCE = 0.01 + 1e-9
MAX_ASSIGNMENTS = 10_000  # column assignments tried before giving up
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
SCOPE = CatalogScope(
    names=scope_names([CATALOG_NAME]),
    dialect="sqlite",
    default_schema="main",
    tables=known_tables(("main", t.name) for t in TABLES),
)

Value = float | str | bytes | None
Row = tuple[Value, ...]


@dataclass(frozen=True)
class Result:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Verdict:
    match: bool
    reason: str  # why not, or how ("exact", "within 0.01", ...)


def normalise(value: Any) -> Value:
    if value is None:
        return None
    if isinstance(value, bool | int | float | Decimal):
        return round(float(value), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, str):
        text = value.strip()
        if NUMBER.fullmatch(text):
            return round(float(text), 2) + 0.0
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value)


def _close(a: Value, b: Value) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= TOLERANCE
    return a == b


def _sort_key(row: Row) -> tuple[tuple[int, Any], ...]:
    """Orders rows of mixed types: NULL, then numbers, then text, then bytes."""
    rank = {type(None): 0, float: 1, str: 2, bytes: 3}
    return tuple((rank[type(v)], v if v is not None else 0) for v in row)


def _same_rows(gold: list[Row], pred: list[Row], *, ordered: bool) -> str | None:
    """How the rows match ("exact" or "within 0.01"), or None."""
    if ordered:
        if gold == pred:
            return "exact"
        pairs = zip(gold, pred, strict=True)
    else:
        if Counter(gold) == Counter(pred):
            return "exact"
        pairs = zip(sorted(gold, key=_sort_key), sorted(pred, key=_sort_key), strict=True)
    if all(all(_close(a, b) for a, b in zip(g, p, strict=True)) for g, p in pairs):
        return "within 0.01"
    return None


def _column(rows: list[Row], index: int) -> list[Value]:
    return [row[index] for row in rows]


def _assignments(candidates: list[list[int]]) -> Iterator[tuple[int, ...]]:
    """One-to-one choices of an agent column for each gold column."""
    for choice in itertools.islice(itertools.product(*candidates), MAX_ASSIGNMENTS):
        if len(set(choice)) == len(choice):
            yield choice


def compare(gold: Result, pred: Result, *, ordered: bool) -> Verdict:
    gold_rows = [tuple(normalise(v) for v in row) for row in gold.rows]
    pred_rows = [tuple(normalise(v) for v in row) for row in pred.rows]
    if len(gold_rows) != len(pred_rows):
        return Verdict(False, f"{len(pred_rows)} rows, expected {len(gold_rows)}")
    if len(pred.columns) < len(gold.columns):
        return Verdict(False, f"{len(pred.columns)} columns, expected {len(gold.columns)}")
    if not gold_rows:
        return Verdict(True, "both empty")
    candidates = []
    for g in range(len(gold.columns)):
        wanted = [(v,) for v in _column(gold_rows, g)]
        found = [
            p
            for p in range(len(pred.columns))
            if _same_rows(wanted, [(v,) for v in _column(pred_rows, p)], ordered=False)
        ]
        if not found:
            return Verdict(False, f"no column holds the values of {gold.columns[g]!r}")
        candidates.append(found)
    for choice in _assignments(candidates):
        projected = [tuple(row[p] for p in choice) for row in pred_rows]
        how = _same_rows(gold_rows, projected, ordered=ordered)
        if how is not None:
            return Verdict(True, how)
    if ordered:
        return Verdict(False, "the rows differ or are in another order")
    return Verdict(False, "the columns hold the right values but not in the same rows")


def is_ordered(sql: str) -> bool:
    """True when the statement's outermost query has both ORDER BY and LIMIT."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    return (
        isinstance(tree, exp.Query)
        and bool(tree.args.get("order"))
        and bool(tree.args.get("limit"))
    )


def guarded(sql: str, max_rows: int) -> str:
    """The agent's SQL as Parley's guard would run it against the demo catalog: three-part
    names resolved, refused if it is not one read-only query (raises QueryRejected)."""
    return guard(sql, scope=SCOPE, row_cap=max_rows).sql


def run_sql(path: Path, sql: str, *, max_rows: int = 100_000, timeout_s: float = 30.0) -> Result:
    """Run one statement on a read-only connection; at most `max_rows` rows (more is an
    error: no answer to an evaluation question is that long)."""
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    deadline = time.monotonic() + timeout_s
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        conn.execute("PRAGMA query_only = 1")
        cursor = conn.execute(sql)
        rows = cursor.fetchmany(max_rows + 1)
        if len(rows) > max_rows:
            raise sqlite3.OperationalError(f"the query returned more than {max_rows} rows")
        columns = tuple(d[0] for d in cursor.description or ())
        return Result(columns, tuple(tuple(r) for r in rows))
    finally:
        conn.close()


def score(path: Path, gold_sql: str, pred_sql: str | None, *, max_rows: int = 100_000) -> Verdict:
    """Run both on the demo file and compare; the agent's SQL passes Parley's guard first."""
    if not pred_sql or not pred_sql.strip():
        return Verdict(False, "no SQL")
    gold = run_sql(path, gold_sql, max_rows=max_rows)
    try:
        pred = run_sql(path, guarded(pred_sql, max_rows), max_rows=max_rows)
    except Exception as err:  # the agent's SQL failing is a wrong answer, whatever the error
        return Verdict(False, f"the SQL failed: {type(err).__name__}: {err}"[:300])
    return compare(gold, pred, ordered=is_ordered(gold_sql))
