"""Text values (from a CSV file, or a column's defaultValue) checked against a Peaka type and
written the one way DuckDB casts them, so an import fails here, naming the line and column,
and never half-way inside DuckDB."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
DECIMAL_INTEGER_DIGITS = 28  # DECIMAL(38,10)
DECIMAL_SCALE = 10
INTEGER = re.compile(r"^[+-]?\d+$")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
TRUE = {"true", "t", "yes", "y", "1"}
FALSE = {"false", "f", "no", "n", "0"}


def _bigint(text: str) -> str:
    value = text.strip()
    if not INTEGER.match(value):
        raise ValueError(f"{text!r} is not a whole number (BIGINT)")
    number = int(value)
    if not BIGINT_MIN <= number <= BIGINT_MAX:
        raise ValueError(f"{text!r} is out of the BIGINT range")
    return str(number)


def _decimal(text: str) -> str:
    value = text.strip()
    if not NUMBER.match(value):
        raise ValueError(f"{text!r} is not a number (DECIMAL)")
    try:
        number = Decimal(value)
    except InvalidOperation as err:
        raise ValueError(f"{text!r} is not a number (DECIMAL)") from err
    if abs(number) >= Decimal(10) ** DECIMAL_INTEGER_DIGITS:
        raise ValueError(f"{text!r} has more than {DECIMAL_INTEGER_DIGITS} digits before the point")
    return format(number.quantize(Decimal(1).scaleb(-DECIMAL_SCALE)), "f")


def _boolean(text: str) -> str:
    value = text.strip().lower()
    if value in TRUE:
        return "true"
    if value in FALSE:
        return "false"
    raise ValueError(f"{text!r} is not a boolean (true or false)")


def _date(text: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError as err:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from err


def _time(text: str) -> str:
    try:
        value = time.fromisoformat(text.strip())
    except ValueError as err:
        raise ValueError(f"{text!r} is not a time (HH:MM[:SS[.ffffff]])") from err
    if value.tzinfo is not None:
        raise ValueError(f"{text!r}: a TIME holds no time zone")
    return value.isoformat()


def _timestamp(text: str) -> str:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise ValueError(f"{text!r} is not a timestamp (YYYY-MM-DD HH:MM[:SS])") from err
    if value.tzinfo is not None:  # kept as UTC: a TIMESTAMP holds no zone
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ")


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError as err:
        raise ValueError(f"{text!r} is not a UUID") from err


def _json(text: str) -> str:
    try:
        json.loads(text)
    except ValueError as err:
        raise ValueError(f"{text[:50]!r} is not JSON: {err}") from err
    return text


CONVERTERS = {
    "VARCHAR": lambda text: text,
    "BIGINT": _bigint,
    "DECIMAL": _decimal,
    "BOOLEAN": _boolean,
    "DATE": _date,
    "TIME": _time,
    "TIMESTAMP": _timestamp,
    "UUID": _uuid,
    "JSON": _json,
}


def normalize(data_type: str, text: str) -> str:
    """`text` as DuckDB casts it to `data_type` (Peaka's name); ValueError says why not."""
    return str(CONVERTERS[data_type](text))


SAMPLES = {
    "VARCHAR": ("sample text", "another text", "more text"),
    "BIGINT": ("1176", "9354", "7658"),
    "DECIMAL": ("77.3711303273", "96.6658831270", "30.3928941706"),
    "BOOLEAN": ("true", "false", "true"),
    "DATE": ("2024-01-15", "2024-06-30", "2025-03-01"),
    "TIME": ("09:30:00", "13:45:10", "23:05:59"),
    "TIMESTAMP": ("2024-01-15 09:30:00", "2024-06-30 13:45:10", "2025-03-01 23:05:59"),
    "UUID": (
        "0b7e2c4a-7d7c-4e0b-9a55-1f2d3c4b5a69",
        "5d1f7a3e-2c44-4a8e-b3f1-8e9d0c1b2a37",
        "c3a9e5d2-6f1b-4c7a-8d2e-4b5a6c7d8e9f",
    ),
    "JSON": ('{"key": "value"}', '{"count": 2}', "[1, 2, 3]"),
}
