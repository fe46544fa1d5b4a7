"""What a statement request says about its session, from Trino's `X-Trino-*` headers: the
user, catalog and schema, session properties (`query_max_run_time` sets the timeout), and the
credential (the extra credential `peakaKey`, which Peaka's drivers send, or the
Authorization header: a bearer key, or a basic password)."""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from parley.trino.errors import TrinoError

KEY_CREDENTIAL = "peakakey"  # the extra credential's name, compared without case
TIMEOUT_PROPERTY = "query_max_run_time"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d)\s*$")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class ClientSession:
    user: str | None
    catalog: str | None
    schema: str | None
    source: str | None
    timeout_s: float | None  # from query_max_run_time; the server's limit still applies
    prepared: dict[str, str] = field(default_factory=dict)  # X-Trino-Prepared-Statement


def _pairs(header: str) -> list[tuple[str, str]]:
    """`a=1, b=x%20y`: comma-separated pairs with URL-encoded values."""
    out = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip():
            out.append((name.strip(), urllib.parse.unquote_plus(value.strip())))
    return out


def duration_s(text: str) -> float:
    """A Trino duration (`30s`, `1.5m`, `500ms`) in seconds."""
    found = _DURATION.match(text)
    if found is None or float(found.group(1)) <= 0:
        raise TrinoError(
            "INVALID_SESSION_PROPERTY",
            f"{TIMEOUT_PROPERTY} must be a positive duration such as 30s or 2m; got {text!r}",
        )
    return float(found.group(1)) * _UNIT_S[found.group(2)]


def client_session(headers: Mapping[str, str]) -> ClientSession:
    properties = dict(_pairs(headers.get("x-trino-session", "")))
    timeout = properties.get(TIMEOUT_PROPERTY)
    return ClientSession(
        user=headers.get("x-trino-user") or None,
        catalog=headers.get("x-trino-catalog") or None,
        schema=headers.get("x-trino-schema") or None,
        source=headers.get("x-trino-source") or None,
        timeout_s=None if timeout is None else duration_s(timeout),
        prepared=dict(_pairs(headers.get("x-trino-prepared-statement", ""))),
    )


# the session properties SET SESSION may set, each with the check of its value
SESSION_PROPERTIES = {TIMEOUT_PROPERTY: duration_s}


def check_property(name: str, value: str | None = None) -> None:
    """Refuse a session property this endpoint does not have, or a value it cannot take."""
    check = SESSION_PROPERTIES.get(name)
    if check is None:
        known = ", ".join(sorted(SESSION_PROPERTIES))
        raise TrinoError(
            "INVALID_SESSION_PROPERTY",
            f"Session property '{name}' does not exist; this endpoint has: {known}",
        )
    if value is not None:
        check(value)


def credential(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: the extra credential `peakaKey` first (Peaka's SQLAlchemy
    URL also sends `access_token=true` as a bearer token), then a bearer token, then the
    password of basic auth."""
    for name, value in _pairs(headers.get("x-trino-extra-credential", "")):
        if name.casefold() == KEY_CREDENTIAL and value.strip():
            return value.strip()
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        return token
    if scheme.lower() == "basic" and token:
        try:
            decoded = base64.b64decode(token, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        password = decoded.partition(":")[2]
        return password or None
    return None
