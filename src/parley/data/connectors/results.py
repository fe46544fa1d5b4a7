"""What a connector keeps of a result: rows made JSON values as they are fetched, a chunk at a
time, and cut to three caps (rows, bytes of the rows as JSON, bytes of one cell), so memory is
bounded by the caps and not by what the source would return. `ResultBuilder` does the work in
the connector's thread; sources that can cut long cells themselves are handed the statement
wrapped by `cut_in_source`, so that not even the source's own result holds them whole."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from parley.data.sql_text import quoted_name

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_CELL_BYTES = 1024 * 1024
MARKER = "…[truncated]"  # ends a cell that was cut
MARKER_BYTES = len(MARKER.encode())
MIN_CELL_BYTES = 64  # a cut cell keeps at least a little of its text
CHUNK_BYTES = 1024 * 1024  # what one fetch aims at, from the sizes of the rows so far
MAX_CHUNK_ROWS = 4096
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

# the response's own encoding (Starlette's JSONResponse): UTF-8, nothing escaped to ASCII
_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
).encode
_quote: Callable[[str], str] = json.encoder.encode_basestring


class RowLayout(StrEnum):
    """How rows are written out in a response (Peaka's `format`)."""

    COMPACT = "COMPACT"  # [value, ...]
    SIMPLE = "SIMPLE"  # {"column": value, ...}
    CELL_TYPED = "CELL_TYPED"  # [{"name", "displayName", "dataType", "order", "value"}, ...]

    def shape(self, columns: Sequence[tuple[str, str]]) -> Callable[[list[Any]], Any]:
        """Turns a row of JSON values into this layout's JSON."""
        if self is RowLayout.COMPACT:
            return lambda row: row
        names = [name for name, _ in columns]
        if self is RowLayout.SIMPLE:
            return lambda row: dict(zip(names, row, strict=True))
        cells = [
            {"name": name, "displayName": name, "dataType": data_type, "order": i}
            for i, (name, data_type) in enumerate(columns)
        ]
        return lambda row: [{**c, "value": v} for c, v in zip(cells, row, strict=True)]

    def overhead(self, columns: Sequence[tuple[str, str]]) -> int:
        """The bytes a row adds in this layout beyond its values, with the comma between rows:
        exactly, from a row of nulls."""
        nulls = _encode(self.shape(columns)([None] * len(columns)))
        return len(nulls.encode()) - 4 * len(columns) + 1


@dataclass(frozen=True)
class ResultCaps:
    """How much of a result to keep: `rows` rows, `bytes` bytes of rows as JSON in `layout`
    (the row that would pass it is left out, and the result says so), and cells of at most
    `cell_bytes` (longer text, binary and nested values are cut and end with MARKER; None:
    cells are kept whole, for the source's own output such as EXPLAIN)."""

    rows: int
    bytes: int = DEFAULT_MAX_BYTES
    cell_bytes: int | None = DEFAULT_MAX_CELL_BYTES
    layout: RowLayout = RowLayout.COMPACT


@dataclass
class ResultSet:
    columns: list[tuple[str, str]]  # (name, data type)
    rows: list[list[Any]]  # JSON values (`json_value`), cut to the caps
    truncated: bool = False  # a row was left out at the byte cap (more rows exist)
    cells_cut: int = 0  # cells cut at the cell cap
    bytes: int = 0  # the rows' size as JSON in the caps' layout


def render_rows(
    columns: Sequence[tuple[str, str]], rows: list[list[Any]], layout: RowLayout
) -> bytes:
    """The JSON array of `rows` in `layout`, as UTF-8, written a slice at a time (CELL_TYPED
    makes one object per cell: never all of them at once), each slice encoded as it is made,
    so the text is never held twice. CPU work: call it in a thread."""
    shape = layout.shape(columns)
    parts = [
        _encode([shape(row) for row in rows[start : start + 512]])[1:-1].encode()
        for start in range(0, len(rows), 512)
    ]
    return b"[" + b",".join(parts) + b"]"


def json_value(value: Any) -> Any:
    """A result cell as JSON: exact decimals and 64-bit integers stay exact (as text when a
    float could not hold them), times in ISO 8601, bytes in base64, NaN and infinities as
    text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float):
        # JSON has no NaN or infinities: written as text, like Trino does
        return value if math.isfinite(value) else NON_FINITE[str(value)]
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def value_type_name(value: Any) -> str:
    """A column type from one of its values, for drivers that report none (SQLite)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, bytes):
        return "varbinary"
    return "varchar"


def cut_text(text: str, limit: int) -> str | None:
    """`text` cut to at most `limit` bytes of UTF-8, MARKER included, at a character boundary;
    None when it fits whole."""
    if len(text) * 4 <= limit or (len(text) <= limit and len(text.encode()) <= limit):
        return None
    keep = limit - MARKER_BYTES
    return text[:keep].encode()[:keep].decode("utf-8", "ignore") + MARKER


def _text_size(text: str) -> int:
    quoted = _quote(text)
    return len(quoted) if quoted.isascii() else len(quoted.encode())


class ResultBuilder:
    """Collects a result as a connector fetches it: `chunk()` says how many rows to fetch next
    (0: stop), `add(rows)` makes them JSON, cuts long cells and counts bytes, and stops at the
    first row that would pass the byte cap; `finish()` is the ResultSet. Column types given as
    None are taken from the first value that is not null (drivers that report none)."""

    def __init__(
        self,
        caps: ResultCaps,
        columns: Sequence[tuple[str, str | None]],
        *,
        first_chunk: int = 1,
    ) -> None:
        self.caps = caps
        self.names = [name for name, _ in columns]
        self.types = [data_type for _, data_type in columns]
        self._untyped = [i for i, t in enumerate(self.types) if t is None]
        # a type not known yet counts as the longest `value_type_name` gives: an upper bound
        self._overhead = caps.layout.overhead([(n, t or "varbinary") for n, t in columns])
        self._first_chunk = first_chunk
        self.rows: list[list[Any]] = []
        self.bytes = 2  # the array's brackets; each row counts its comma
        self.cells_cut = 0
        self.truncated = False
        self.full = caps.rows <= 0

    def chunk(self) -> int:
        if self.full:
            return 0
        if self.rows:
            wanted = CHUNK_BYTES * len(self.rows) // max(self.bytes, 1)
        else:
            wanted = self._first_chunk
        return max(1, min(wanted, MAX_CHUNK_ROWS, self.caps.rows - len(self.rows)))

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        caps = self.caps
        for raw in rows:
            if self.full:
                return
            if self._untyped:
                self._take_types(raw)
            row = []
            size = self._overhead
            cut = self.cells_cut
            for value in raw:
                cell, cell_size = self._cell(value)
                row.append(cell)
                size += cell_size
            if self.bytes + size > caps.bytes:
                self.cells_cut = cut  # the cells of a row left out were not cut: not sent
                self.truncated = self.full = True
                return
            self.rows.append(row)
            self.bytes += size
            if len(self.rows) >= caps.rows:
                self.full = True

    def _take_types(self, raw: Sequence[Any]) -> None:
        for i in list(self._untyped):
            if raw[i] is not None:
                self.types[i] = value_type_name(raw[i])
                self._untyped.remove(i)
        if not self._untyped:  # all known now: the exact overhead from here on
            self._overhead = self.caps.layout.overhead(
                [(n, t or "unknown") for n, t in zip(self.names, self.types, strict=True)]
            )

    def _cell(self, value: Any) -> tuple[Any, int]:
        if value is None:
            return None, 4
        if value is True:
            return True, 4
        if value is False:
            return False, 5
        limit = self.caps.cell_bytes
        if isinstance(value, str):
            if limit is not None and (cut := cut_text(value, limit)) is not None:
                self.cells_cut += 1
                value = cut
            return value, _text_size(value)
        if isinstance(value, int):
            if abs(value) < 2**53:
                return value, len(str(value))
            return str(value), len(str(value)) + 2
        if isinstance(value, float):
            if math.isfinite(value):
                return value, len(repr(value))  # how json writes floats
            return NON_FINITE[str(value)], len(NON_FINITE[str(value)]) + 2
        if isinstance(value, bytes | bytearray | memoryview):
            if limit is not None and (len(value) + 2) // 3 * 4 > limit:
                self.cells_cut += 1
                keep = (limit - MARKER_BYTES) // 4 * 3
                text = base64.b64encode(bytes(value[:keep])).decode() + MARKER
            else:
                text = base64.b64encode(bytes(value)).decode()
            return text, len(text.encode()) + 2
        cell = json_value(value)
        if isinstance(cell, str):
            return self._cell(cell)
        encoded = _encode(cell)
        size = len(encoded.encode())
        if limit is not None and size > limit:  # nested values: their JSON text, cut
            self.cells_cut += 1
            text = cut_text(encoded, limit) or encoded
            return text, _text_size(text)
        return cell, size

    def finish(self) -> ResultSet:
        return ResultSet(
            columns=[(n, t or "unknown") for n, t in zip(self.names, self.types, strict=True)],
            rows=self.rows,
            truncated=self.truncated,
            cells_cut=self.cells_cut,
            bytes=self.bytes,
        )


def cut_in_source(
    sql: str,
    columns: Sequence[tuple[str, str]],
    cut: Callable[[str, str], str | None],
) -> str | None:
    """`sql` wrapped so that the source cuts long cells itself: `cut(column, source type)` is
    the expression that keeps enough of a cuttable column for `ResultBuilder` to cut it to the
    cap (None: the column as it is). Columns are renamed in the subquery and named again as
    they were, so duplicate and odd names pass; None when no column needs it."""
    aliases = [f'"c{i}"' for i in range(len(columns))]
    exprs = []
    wrapped = False
    for alias, (name, source_type) in zip(aliases, columns, strict=True):
        column = f"q.{alias}"
        expression = cut(column, source_type)
        wrapped = wrapped or expression is not None
        exprs.append(f"{expression or column} AS {quoted_name(name)}")
    if not wrapped:
        return None
    return f"SELECT {', '.join(exprs)} FROM ({sql}) AS q({', '.join(aliases)})"
