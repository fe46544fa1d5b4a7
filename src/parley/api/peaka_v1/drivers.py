"""/api/v1/supportedDrivers: how to connect SQL clients to this server's SQL endpoint (the
Trino protocol at /v1/statement, see `parley.api.sql_endpoint`), as Peaka answers: a JDBC URL
for Trino's JDBC driver (Peaka's is Trino's) and a SQLAlchemy URL for the `peaka` dialect,
each with the caller's key as the extra credential `peakaKey`."""

from __future__ import annotations

import json
import urllib.parse
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel

from parley.api.deps import AnyKey
from parley.api.peaka_v1.routing import family_router
from parley.auth.peaka_keys import looks_like_key

router = family_router(tags=["supported drivers"])
KEY_PLACEHOLDER = "{apiKey}"

CatalogName = Annotated[
    str | None,
    Query(
        alias="catalogName",
        min_length=1,
        max_length=200,
        description="The catalog to connect to (SQLAlchemy URLs name one catalog).",
    ),
]


def _key(request: Request) -> str:
    """The caller's own Peaka-style key, to paste into a client; a placeholder otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and looks_like_key(token) else KEY_PLACEHOLDER


def _host(request: Request) -> tuple[str, int, str]:
    url = request.base_url
    scheme = url.scheme
    port = url.port or (443 if scheme == "https" else 80)
    return url.hostname or "localhost", port, scheme


def jdbc_url(request: Request, catalog: str | None) -> str:
    host, port, scheme = _host(request)
    path = "/" + urllib.parse.quote(catalog, safe="") if catalog else "/"
    ssl = "&SSL=true" if scheme == "https" else ""
    return f"jdbc:trino://{host}:{port}{path}?extraCredentials=peakaKey:{_key(request)}{ssl}"


def sqlalchemy_url(request: Request, catalog: str | None) -> str:
    host, port, scheme = _host(request)
    name = urllib.parse.quote(catalog, safe="") if catalog else "{catalogName}"
    credential = urllib.parse.quote(json.dumps([["peakaKey", _key(request)]]), safe="")
    # access_token=true is what Peaka's URLs carry; the client sends it only over TLS
    token = "&access_token=true" if scheme == "https" else ""
    return f"peaka://{host}:{port}/{name}?http_scheme={scheme}&extra_credential={credential}{token}"


class JdbcDriver(BaseModel):
    JDBC: str


class SqlAlchemyDriver(BaseModel):
    SQL_ALCHEMY: str


class SupportedDrivers(JdbcDriver, SqlAlchemyDriver):
    """Connection strings of the SQL endpoint, by driver."""


@router.get("/supportedDrivers", response_model=SupportedDrivers)
async def supported_drivers(
    request: Request, _: AnyKey, catalog: CatalogName = None
) -> dict[str, str]:
    """Connection strings for every supported driver."""
    return {"JDBC": jdbc_url(request, catalog), "SQL_ALCHEMY": sqlalchemy_url(request, catalog)}


@router.get("/supportedDrivers/jdbc", response_model=JdbcDriver)
async def jdbc_driver(request: Request, _: AnyKey, catalog: CatalogName = None) -> dict[str, str]:
    """The JDBC URL (Trino's JDBC driver)."""
    return {"JDBC": jdbc_url(request, catalog)}


@router.get("/supportedDrivers/sql_alchemy", response_model=SqlAlchemyDriver)
async def sqlalchemy_driver(
    request: Request,
    _: AnyKey,
    catalog: Annotated[str, Query(alias="catalogName", min_length=1, max_length=200)],
) -> dict[str, str]:
    """The SQLAlchemy URL (the `peaka` dialect) for one catalog."""
    return {"SQL_ALCHEMY": sqlalchemy_url(request, catalog)}
