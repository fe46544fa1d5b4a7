"""One error body per API family: Honcho's `{"detail": ...}` (also on every path outside
/api/v1) and Peaka's `{"errorCode": ..., "message": ...}`. Services raise domain errors; these
render them. The models below document the same bodies in the served OpenAPI schema, once per
family (`detail_errors`, `peaka_errors`)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from parley.errors import ParleyError

log = logging.getLogger("parley.api")

PEAKA_PREFIX = "/api/v1"
# PostgreSQL's deadlock_detected and serialization_failure: the database rolled the whole
# transaction back, and the same request sent again can succeed
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRY_AFTER_S = 1


class DetailError(BaseModel):
    """Honcho's error body."""

    detail: str


class ValidationIssue(BaseModel):
    """One thing wrong with the request, as FastAPI (and so Honcho) lists it."""

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class DetailValidationError(BaseModel):
    """Honcho's 422: the request's validation issues as a list (FastAPI's body), or one
    sentence for a rule checked past the request's shape (a filter, a webhook URL), as
    Honcho's own ValidationException and FilterError answer."""

    detail: list[ValidationIssue] | str


class PeakaError(BaseModel):
    """Peaka's error body; `errorCode` names the kind of error (`NOT_FOUND`, ...)."""

    errorCode: str  # noqa: N815 - Peaka's field name
    message: str


# when each status is answered, for the schema; the domain errors that carry them are in
# parley.errors and next to the services that raise them
WHEN = {
    400: "The body is not JSON in UTF-8 (or not a readable form), or the request breaks a "
    "rule of the domain: Honcho's limit of observers in a session; for Peaka, a data source, "
    "credential or SQL statement that cannot be used, or a feature that needs a model.",
    401: "No API key, or one that is malformed, expired or revoked (only with auth on).",
    403: "A valid API key that does not reach this resource.",
    404: "A resource the request names does not exist (Honcho's lenient reads answer 200 "
    "with nothing in them instead).",
    408: "The query ran past its time limit.",
    409: "A resource with that id or name exists already.",
    410: "A page of a SQL endpoint result that was passed already: pages are read in order.",
    413: "The request body is larger than PARLEY_MAX_BODY_BYTES, or an uploaded file larger "
    "than PARLEY_MAX_UPLOAD_BYTES.",
    415: "An uploaded file of a type that cannot be read.",
    422: "The request does not have the documented shape, or a value in it breaks a bound.",
    502: "The language model failed after its retries.",
    503: "The database was busy with a conflicting change and rolled this request back whole: "
    "nothing of it was stored. Send it again (the `Retry-After` header says when).",
}
# what every operation of a family may answer: auth (with auth on), the body limit (any
# request), bodies that cannot be read, unknown resources, validation, and a busy database
COMMON_ERRORS = (400, 401, 403, 404, 413, 422, 503)
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}


def _documented(status: int, model: type[BaseModel]) -> dict[str, Any]:
    doc: dict[str, Any] = {"model": model, "description": WHEN[status]}
    if status == 401:
        doc["headers"] = _WWW_AUTHENTICATE
    return doc


def detail_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for routes that answer errors in Honcho's shape."""
    return {s: _documented(s, DetailValidationError if s == 422 else DetailError) for s in statuses}


def peaka_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the /api/v1 routes."""
    return {s: _documented(s, PeakaError) for s in statuses}


def _is_peaka(request: Request) -> bool:
    return request.url.path.startswith(PEAKA_PREFIX)


def error_response(
    request: Request,
    status: int,
    detail: str,
    code: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    body = {"errorCode": code, "message": detail} if _is_peaka(request) else {"detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def is_retryable(exc: BaseException) -> bool:
    """A database error that says "try again", not "this is wrong": a PostgreSQL deadlock or
    serialization failure, or SQLite still locked by another writer after the busy timeout."""
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not is_retryable(exc):
        return await _unexpected(request, exc)
    log.warning("%s %s rolled back, to be retried: %s", request.method, request.url.path, exc)
    return error_response(
        request,
        503,
        "The database was busy with a conflicting change; nothing of this request was stored. "
        "Send it again.",
        "DATABASE_BUSY",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ParleyError)
    return error_response(request, exc.status_code, exc.detail, exc.error_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(
        exc.status_code, "HTTP_ERROR"
    )
    return error_response(request, exc.status_code, str(exc.detail), code)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(
        exc.errors(), custom_encoder={bytes: lambda b: b.decode("utf-8", "replace")}
    )
    for error in errors:
        error.pop("url", None)
    if _is_peaka(request):
        message = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in errors
        )
        return _ascii_json({"errorCode": "VALIDATION_ERROR", "message": message})
    return _ascii_json({"detail": errors})


def _ascii_json(body: object) -> Response:
    """422 bodies echo the bad input, which may hold a lone surrogate that UTF-8 cannot
    encode; ASCII JSON escapes it instead of failing."""
    return Response(
        json.dumps(body, ensure_ascii=True), status_code=422, media_type="application/json"
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "Internal server error", "INTERNAL_ERROR")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ParleyError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
