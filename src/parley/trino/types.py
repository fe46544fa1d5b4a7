"""Trino types for result columns: a source's type name (SQLite, PostgreSQL, DuckDB, or the
value-derived names connectors report) mapped to the Trino type the clients decode, and each
cell written as Trino writes that type on the wire (decimals and timestamps as text, binary
as base64)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

UNBOUNDED_VARCHAR = 2_147_483_647
MAX_DECIMAL_PRECISION = 38
_PARAMS = re.compile(r"\(([^)]*)\)")


@dataclass(frozen=True)
class TrinoType:
    """`raw` is Trino's base name; `args` its numeric parameters (precision, scale, length)."""

    raw: str
    args: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        if self.raw == "varchar" and self.args == (UNBOUNDED_VARCHAR,):
            return "varchar"
        if not self.args:
            return self.raw
        params = "(" + ",".join(str(a) for a in self.args) + ")"
        if self.raw.endswith(" with time zone"):
            return self.raw.replace(" with time zone", params + " with time zone")
        return self.raw + params

    def signature(self) -> dict[str, Any]:
        return {
            "rawType": self.raw,
            "arguments": [{"kind": "LONG", "value": a} for a in self.args],
        }


VARCHAR = TrinoType("varchar", (UNBOUNDED_VARCHAR,))
BIGINT = TrinoType("bigint")
UNKNOWN = TrinoType("unknown")

_SIMPLE = {
    "boolean": "boolean",
    "bool": "boolean",
    "tinyint": "tinyint",
    "int1": "tinyint",
    "smallint": "smallint",
    "int2": "smallint",
    "utinyint": "smallint",
    "integer": "integer",
    "int": "integer",
    "int4": "integer",
    "signed": "integer",
    "usmallint": "integer",
    "bigint": "bigint",
    "int8": "bigint",
    "long": "bigint",
    "uinteger": "bigint",
    "real": "real",
    "float4": "real",
    "float": "real",
    "double": "double",
    "float8": "double",
    "double precision": "double",
    "date": "date",
    "json": "json",
    "jsonb": "json",
    "uuid": "uuid",
    "bytea": "varbinary",
    "blob": "varbinary",
    "varbinary": "varbinary",
    "binary": "varbinary",
    "unknown": "unknown",
    "null": "unknown",
}
_TEXT = ("char", "text", "string", "clob", "enum", "name", "citext")
_TIMESTAMPS = ("timestamp", "datetime", "timestamp without time zone", "timestamp_ns",
               "timestamp_ms", "timestamp_s")  # fmt: skip
_ZONED = ("timestamp with time zone", "timestamptz")
_TIMES = ("time", "time without time zone")
# what SQLite results are typed as (from their values: `results.value_type_name`)
_VALUE_NAMES = frozenset({"bigint", "double", "varchar", "varbinary", "boolean", "unknown"})
# a type whose parameters come from the values when the source gives none (see `refine`)
NEEDS_VALUES = frozenset({"decimal", "timestamp", "timestamp with time zone", "time"})


def _sqlite_type(name: str) -> TrinoType:
    """SQLite's type affinity of a declared column type (its documented rules, in order)."""
    if "int" in name:
        return BIGINT
    if any(t in name for t in ("char", "clob", "text")):
        return VARCHAR
    if "blob" in name or not name:
        return TrinoType("varbinary")
    if any(t in name for t in ("real", "floa", "doub")):
        return TrinoType("double")
    if "bool" in name:
        return TrinoType("boolean")
    return VARCHAR  # NUMERIC affinity: SQLite keeps such values as they were written


def trino_type(source: str, dialect: str = "trino") -> TrinoType:
    """The Trino type of a source type name; what has no Trino counterpart is varchar (its
    values sent as text). Parameters the source gives are kept; decimal, time and timestamp
    without them get theirs from the values (`refine`)."""
    text = source.strip().lower()
    if dialect == "sqlite" and text not in _VALUE_NAMES:
        return _sqlite_type(text)
    params = [int(p) for p in re.findall(r"\d+", m.group(1))] if (m := _PARAMS.search(text)) else []
    base = _PARAMS.sub("", text).strip()
    if base in _ZONED or (base.startswith("timestamp") and "with time zone" in base):
        return TrinoType("timestamp with time zone", tuple(params[:1]))
    if base in _TIMESTAMPS:
        return TrinoType("timestamp", tuple(params[:1]))
    if base in _TIMES:
        return TrinoType("time", tuple(params[:1]))
    if base in ("decimal", "numeric", "number"):
        if len(params) == 2:
            return TrinoType("decimal", (min(params[0], MAX_DECIMAL_PRECISION), params[1]))
        if len(params) == 1:
            return TrinoType("decimal", (min(params[0], MAX_DECIMAL_PRECISION), 0))
        return TrinoType("decimal")
    if base in ("hugeint", "uhugeint", "ubigint"):
        return TrinoType("decimal", (MAX_DECIMAL_PRECISION, 0))
    if base in _SIMPLE:
        return TrinoType(_SIMPLE[base])
    if base == "varchar" or any(t in base for t in _TEXT):
        return VARCHAR
    return VARCHAR


def _fraction_digits(text: str) -> int:
    """Significant digits after the seconds' point of an ISO time or timestamp."""
    clock = text.split("T", 1)[-1].split(" ", 1)[-1]
    if "." not in clock:
        return 0
    digits = re.match(r"\d*", clock.split(".", 1)[1])
    return len(digits.group(0).rstrip("0")) if digits else 0


def refine(kind: TrinoType, values: Sequence[Any]) -> TrinoType:
    """Parameters the source did not give, from the column's values: a decimal's precision
    and scale (the widest seen), a time's or timestamp's precision (3, or 6 when a value has
    microseconds)."""
    if kind.raw not in NEEDS_VALUES or kind.args:
        return kind
    present = [v for v in values if v is not None]
    if kind.raw == "decimal":
        scale = whole = 0
        for value in present:
            text = str(value).lstrip("-+")
            left, _, right = text.partition(".")
            scale = max(scale, len(right))
            whole = max(whole, len(left.lstrip("0")))
        precision = min(max(whole + scale, 1), MAX_DECIMAL_PRECISION)
        return TrinoType("decimal", (precision, min(scale, precision)))
    fraction = max((_fraction_digits(str(v)) for v in present), default=0)
    return TrinoType(kind.raw, (3 if fraction <= 3 else 6,))


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _decimal(value: Any) -> Any:
    return None if value is None else str(value)


def _clock(precision: int, zoned: bool) -> Callable[[Any], Any]:
    """ISO 8601 (what results hold) to Trino's text: a space before the time, exactly
    `precision` fraction digits, and a zone as ` +HH:MM`."""

    def write(value: Any) -> Any:
        if value is None:
            return None
        text = str(value).replace("T", " ", 1)
        zone = ""
        if zoned:
            found = re.search(r"(Z|[+-]\d{2}(:?\d{2})?)$", text)
            if found:
                zone = found.group(1)
                text = text[: found.start()]
                zone = "+00:00" if zone == "Z" else zone
                if len(zone) == 3:
                    zone += ":00"
            else:
                zone = "+00:00"
        head, _, fraction = text.partition(".")
        if precision:
            head += "." + (fraction + "0" * precision)[:precision]
        return head + (" " + zone if zoned else "")

    return write


def _same(value: Any) -> Any:
    return value


def writer(kind: TrinoType) -> Callable[[Any], Any]:
    """How one cell of a column of `kind` goes on the wire."""
    if kind.raw == "varchar":
        return _text
    if kind.raw == "json":
        return _json
    if kind.raw == "decimal":
        return _decimal
    if kind.raw in ("timestamp", "timestamp with time zone", "time"):
        precision = kind.args[0] if kind.args else 3
        if kind.raw == "time":
            return _clock(precision, zoned=False)
        return _clock(precision, zoned=kind.raw.endswith("time zone"))
    return _same
