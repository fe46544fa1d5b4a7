"""`GET /metrics` (Prometheus text format) and the middleware that counts HTTP requests.

The middleware is plain ASGI: it only wraps `send` to read the status, so streamed responses
(SSE chat) pass through untouched and are timed to their last byte, and it does no database
work. Requests are labelled by route template (`/v2/workspaces/{workspace_id}/peers`), never
by the raw path, so the label set stays bounded; a request no route matched is `unknown`.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from parley.api.deps import ReadDb, Scope, StateDep, requires
from parley.api.errors import detail_errors
from parley.auth.keys import Principal
from parley.data.exports import EXPORT
from parley.data.refresh_jobs import CATALOG_REFRESH, REFRESH_CALLBACK
from parley.memory.queue_status import queue_depth
from parley.memory.reasoning import REASONING
from parley.memory.webhook_delivery import WEBHOOK
from parley.metrics import UNMATCHED, Metrics

METRICS_PATH = "/metrics"
TASK_TYPES = (*REASONING, WEBHOOK, CATALOG_REFRESH, REFRESH_CALLBACK, EXPORT)


def _template(path: str) -> str:
    """Honcho's form: no trailing slash (`.../messages/` and `.../messages` are one route)."""
    return path.rstrip("/") if path != "/" else path


def route_templates(app: Any) -> dict[int, str]:
    """id(route object) -> its full path template. FastAPI 0.165+ keeps included routers
    nested, and the route a request matched (`scope["route"]`) knows only its path within its
    own router, so the full paths are read once from the app's flattened route contexts."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: routes are flat and carry their full path
        return {id(route): _template(route.path) for route in app.routes if hasattr(route, "path")}
    return {
        id(context.original_route): _template(context.path)
        for context in iter_route_contexts(app.routes)
        if getattr(context, "original_route", None) is not None and context.path is not None
    }


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[int, str] | None = None  # built on the first request

    def _endpoint(self, scope: AsgiScope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        if self._templates is None:
            self._templates = route_templates(scope["app"])
        found = self._templates.get(id(route))
        if found is None and isinstance(route, APIRoute):
            found = _template(route.path)
        return found or UNMATCHED

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the response starts becomes a 500 further out

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.request(scope["method"], self._endpoint(scope), status, seconds)


def build_router(*, public: bool) -> APIRouter:
    """`public`: no key even when auth is on (PARLEY_METRICS_PUBLIC); otherwise an admin key."""
    router = APIRouter(tags=["meta"])
    # a default, not an annotation: annotations are strings here, and `public` is a local
    auth = requires(Scope.PUBLIC if public else Scope.ADMIN)

    @router.get(
        METRICS_PATH,
        response_class=Response,
        responses={
            200: {
                "description": "The Prometheus text format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **detail_errors(413, *(() if public else (401, 403))),
        },
    )
    async def metrics(db: ReadDb, state: StateDep, _: Principal = auth) -> Response:
        """Prometheus metrics: HTTP requests, queue depth, embedding backlog, model calls and
        tokens, webhook deliveries. The queue and backlog are read from the database now."""
        queue = await queue_depth(db)
        backlog = await state.indexer.backlog(db)
        body = state.metrics.render(queue=queue, task_types=TASK_TYPES, backlog=backlog)
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return router
