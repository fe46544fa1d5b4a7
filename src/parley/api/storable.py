"""Input types for what gets stored: text and JSON both databases can hold, aware datetimes.

PostgreSQL cannot store NUL in text or JSONB, and no UTF-8 database can store a lone surrogate
(which JSON's \\ud800 escapes can produce), so such input is a 422, not a 500 at INSERT time.
"""

from __future__ import annotations

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


def check_storable(value: Any) -> Any:
    """Check every key and string inside a JSON value; return it unchanged."""
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            check_storable(item)
    elif isinstance(value, list):
        for item in value:
            check_storable(item)
    return value


def _as_utc(value: datetime) -> datetime:
    """A datetime without a zone is taken as UTC, like the ones the server writes."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# Put length constraints before it (`Annotated[str, Field(max_length=N), Storable]`), so that
# they are string constraints with pydantic's `string_too_long` errors, as Honcho's are.
Storable = AfterValidator(_check_text)
StoredText = Annotated[str, Storable]
StoredJson = Annotated[dict[str, Any], AfterValidator(check_storable)]
AwareDatetime = Annotated[datetime, AfterValidator(_as_utc)]
