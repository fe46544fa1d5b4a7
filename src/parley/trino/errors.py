"""Errors in Trino's shape (`error` of a query result): a name, its code and its type, as
Trino's StandardErrorCode numbers them, so clients raise their own exception classes (the
Python client: TrinoUserError for USER_ERROR, TrinoExternalError for EXTERNAL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley.data.connectors.base import ConnectionFailed, QueryFailed, QueryTimeout
from parley.data.execute import ResultTooLarge
from parley.data.sql_guard import QueryRejected
from parley.errors import NotFound, ParleyError

USER_ERROR = "USER_ERROR"
INTERNAL_ERROR = "INTERNAL_ERROR"
INSUFFICIENT_RESOURCES = "INSUFFICIENT_RESOURCES"
EXTERNAL = "EXTERNAL"

# name -> (code, type), from Trino's StandardErrorCode
CODES: dict[str, tuple[int, str]] = {
    "GENERIC_USER_ERROR": (0, USER_ERROR),
    "SYNTAX_ERROR": (1, USER_ERROR),
    "ABANDONED_QUERY": (2, USER_ERROR),
    "USER_CANCELED": (3, USER_ERROR),
    "PERMISSION_DENIED": (4, USER_ERROR),
    "NOT_FOUND": (5, USER_ERROR),
    "NOT_SUPPORTED": (13, USER_ERROR),
    "INVALID_SESSION_PROPERTY": (14, USER_ERROR),
    "CATALOG_NOT_FOUND": (44, USER_ERROR),
    "SCHEMA_NOT_FOUND": (45, USER_ERROR),
    "TABLE_NOT_FOUND": (46, USER_ERROR),
    "GENERIC_INTERNAL_ERROR": (65536, INTERNAL_ERROR),
    "GENERIC_INSUFFICIENT_RESOURCES": (131072, INSUFFICIENT_RESOURCES),
    "QUERY_QUEUE_FULL": (131074, INSUFFICIENT_RESOURCES),
    "EXCEEDED_TIME_LIMIT": (131075, INSUFFICIENT_RESOURCES),
    "SOURCE_ERROR": (16777216, EXTERNAL),  # a connector's own error, as Trino's connectors
}


class TrinoError(Exception):
    """A statement's failure, as the client will see it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message

    def body(self) -> dict[str, Any]:
        code, kind = CODES[self.name]
        return {
            "message": self.message,
            "errorCode": code,
            "errorName": self.name,
            "errorType": kind,
            "failureInfo": {"type": "io.trino.spi.TrinoException", "message": self.message,
                            "suppressed": [], "stack": []},
        }  # fmt: skip


@dataclass(frozen=True)
class _Rule:
    kind: type[ParleyError]
    name: str


# the data domain's errors, most specific first
_RULES = (
    _Rule(QueryTimeout, "EXCEEDED_TIME_LIMIT"),
    _Rule(QueryRejected, "PERMISSION_DENIED"),  # the guard refused the statement
    _Rule(QueryFailed, "GENERIC_USER_ERROR"),  # the source refused the guarded statement
    _Rule(ConnectionFailed, "SOURCE_ERROR"),
    _Rule(ResultTooLarge, "GENERIC_INSUFFICIENT_RESOURCES"),
    _Rule(NotFound, "NOT_FOUND"),
)


def from_domain(err: ParleyError) -> TrinoError:
    for rule in _RULES:
        if isinstance(err, rule.kind):
            return TrinoError(rule.name, err.detail)
    if err.status_code < 500:
        return TrinoError("GENERIC_USER_ERROR", err.detail)
    return TrinoError("GENERIC_INTERNAL_ERROR", err.detail)
