"""Input types for what gets stored: text and JSON both databases can hold, aware datetimes.

PostgreSQL cannot store NUL in text or JSONB, and no UTF-8 database can store a lone surrogate
(which JSON's \\ud800 escapes can produce), so such input is a 422, not a 500 at INSERT time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator


def _check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError("text must be valid Unicode (it has an unpaired surrogate)") from err
    return value


MAX_JSON_DEPTH = 64  # deeper values cannot be written back out as JSON by the response


def check_storable(value: Any, depth: int = 0) -> Any:
    """Check every key, string and number inside a JSON value; return it unchanged. Numbers
    must be finite: Python's JSON reader takes `Infinity`, `NaN` and `1e400`, which no JSON
    column can hold (they were stored as null)."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite (not Infinity, NaN or out of range)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            check_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_storable(item, depth + 1)
    return value


def _as_utc(value: datetime) -> datetime:
    """A datetime without a zone is taken as UTC, like the ones the server writes; one that
    leaves the calendar once in UTC (9999-12-31T23:59:59-14:00) is refused."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as err:
        raise ValueError("datetime is out of range once converted to UTC") from err


# Put length constraints before it (`Annotated[str, Field(max_length=N), Storable]`), so that
# they are string constraints with pydantic's `string_too_long` errors, as Honcho's are.
Storable = AfterValidator(_check_text)
StoredText = Annotated[str, Storable]
StoredJson = Annotated[dict[str, Any], AfterValidator(check_storable)]
AwareDatetime = Annotated[datetime, AfterValidator(_as_utc)]
