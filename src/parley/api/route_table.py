"""The API's routes, built once per process and shared by every app that `create_app` makes.

FastAPI (0.165+) builds a route's dependant, validators and handler again for each router or
app that includes it: Parley's routes cost about 1.2 s of CPU each time, and a process paid it
three times (the module's router, the family's, the app) before each family's modules made
their routers at the full path (`parley.api.family`), so the routes the modules
build are the ones served. The routes hold no per-app state: the app's state reaches them
through `request.app`, so the same route objects serve any app (the test suite makes one per
test). One thing they do not consult is `app.dependency_overrides` (no provider is bound to
them); Parley uses none: its tests register fakes through the real registries instead.
"""

from __future__ import annotations

from functools import lru_cache

from fastapi.routing import APIRoute

from parley.api import honcho_v2, honcho_v3, peaka_v1
from parley.api.family import routes_of
from parley.api.metrics import build_router as build_metrics
from parley.api.sql_endpoint import router as sql_endpoint


@lru_cache(maxsize=1)
def api_routes() -> tuple[APIRoute, ...]:
    """Honcho's /v2 and /v3, Peaka's /api/v1, and the SQL endpoint (Trino's /v1/statement)."""
    modules = (*honcho_v2.MODULES, *honcho_v3.MODULES, *peaka_v1.MODULES)
    return routes_of([*(module.router for module in modules), sql_endpoint])


@lru_cache(maxsize=2)
def metrics_routes(*, public: bool) -> tuple[APIRoute, ...]:
    return routes_of([build_metrics(public=public)])
