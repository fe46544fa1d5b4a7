"""One error body per API family: Honcho's `{"detail": ...}` and Peaka's
`{"errorCode": ..., "message": ...}`. Services raise domain errors; these render them."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from parley.errors import ParleyError

log = logging.getLogger("parley.api")

PEAKA_PREFIX = "/api/v1"


def _is_peaka(request: Request) -> bool:
    return request.url.path.startswith(PEAKA_PREFIX)


def error_response(request: Request, status: int, detail: str, code: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"errorCode": code, "message": detail} if _is_peaka(request) else {"detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ParleyError)
    return error_response(request, exc.status_code, exc.detail, exc.error_code)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(
        exc.status_code, "HTTP_ERROR"
    )
    return error_response(request, exc.status_code, str(exc.detail), code)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
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
    app.add_exception_handler(Exception, _unexpected)
