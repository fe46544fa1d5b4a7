"""The API's routes, built once per process and shared by every app that `create_app` makes.

FastAPI (0.165+) builds a route's dependant, validators and handler again for each app that
includes a router, about a second of CPU for Parley's routes; a process that makes many apps
(the test suite makes one per test) paid it each time. The routes hold no per-app state: the
app's state reaches them through `request.app`, so the same route objects serve any app.
One thing they do not consult is `app.dependency_overrides` (no provider is bound to them);
Parley uses none: its tests register fakes through the real registries instead.
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter
from fastapi.routing import APIRoute, iter_route_contexts

from parley.api.honcho_v2 import build_router as build_honcho_v2
from parley.api.honcho_v3 import build_router as build_honcho_v3
from parley.api.metrics import build_router as build_metrics
from parley.api.peaka_v1 import build_router as build_peaka_v1
from parley.api.sql_endpoint import router as sql_endpoint

# what an included route resolves from its router chain, copied onto a plain route
_FIELDS = (
    "response_model",
    "status_code",
    "tags",
    "dependencies",
    "summary",
    "description",
    "response_description",
    "responses",
    "deprecated",
    "name",
    "methods",
    "operation_id",
    "response_model_include",
    "response_model_exclude",
    "response_model_by_alias",
    "response_model_exclude_unset",
    "response_model_exclude_defaults",
    "response_model_exclude_none",
    "include_in_schema",
    "response_class",
    "callbacks",
    "openapi_extra",
    "strict_content_type",
    "max_body_size",
)


def _flatten(router: APIRouter) -> tuple[APIRoute, ...]:
    """Each route of `router` (and of the routers it includes) as a plain route at its full
    path, with what it inherits from those routers already merged in."""
    holder = APIRouter()
    holder.include_router(router)
    routes = []
    for context in iter_route_contexts(holder.routes):
        fields = {name: getattr(context, name) for name in _FIELDS}
        assert context.path is not None and context.endpoint is not None  # API routes have both
        routes.append(APIRoute(context.path, context.endpoint, **fields))
    return tuple(routes)


@lru_cache(maxsize=1)
def api_routes() -> tuple[APIRoute, ...]:
    """Honcho's /v2 and /v3, Peaka's /api/v1, and the SQL endpoint (Trino's /v1/statement)."""
    return (
        _flatten(build_honcho_v2())
        + _flatten(build_honcho_v3())
        + _flatten(build_peaka_v1())
        + _flatten(sql_endpoint)
    )


@lru_cache(maxsize=2)
def metrics_routes(*, public: bool) -> tuple[APIRoute, ...]:
    return _flatten(build_metrics(public=public))
