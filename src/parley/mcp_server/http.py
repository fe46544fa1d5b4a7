"""/mcp: the MCP server over streamable HTTP, in the app's own process and lifespan.

Each request is authenticated before the SDK sees it, as the HTTP routes authenticate theirs
(`principal_from_header`: a missing or bad key is a 401 when auth is on), and carries its caller
to the tools in the ASGI scope. The SDK's session manager runs stateless: any replica can
answer any request, and each request is checked with the key it brings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from parley.api.deps import principal_from_header
from parley.api.state import AppState
from parley.config import Settings
from parley.errors import Unauthorized
from parley.mcp_server.reach import CALLER_KEY, Caller
from parley.mcp_server.server import http_server

PATH = "/mcp"
# Host and Origin are checked here (see `_foreign_origin`), not by the SDK: its Host allowlist
# would refuse a reverse proxy's host names, which the HTTP routes serve.
_NO_HOST_CHECK = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def _auth_error(detail: str) -> Response:
    """RFC 6750's answer to a missing or bad bearer token, which MCP clients read."""
    quoted = detail.replace('"', "'")
    return Response(
        json.dumps({"error": "invalid_token", "error_description": detail}),
        status_code=401,
        media_type="application/json",
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{quoted}"'},
    )


def _foreign_origin(request: Request) -> bool:
    """A browser page of another site (DNS rebinding, or a page calling a local server):
    MCP asks servers to refuse such requests. Clients that are not browsers send no Origin."""
    origin = request.headers.get("origin")
    if not origin:
        return False
    return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


class McpEndpoint:
    """The ASGI endpoint at /mcp of one app; `running` (in the app's lifespan) starts the SDK's
    session manager and hands it the app's services."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._manager: StreamableHTTPSessionManager | None = None
        self._state: AppState | None = None

    def route(self) -> Route:
        return Route(
            PATH, endpoint=self, methods=["GET", "POST", "DELETE"], include_in_schema=False
        )

    @asynccontextmanager
    async def running(self, state: AppState) -> AsyncIterator[None]:
        server = http_server()
        # builds a fresh session manager (one runs once), kept as `server.session_manager`
        server.streamable_http_app(
            streamable_http_path=PATH, stateless_http=True, transport_security=_NO_HOST_CHECK
        )
        manager = server.session_manager
        async with manager.run():
            self._manager, self._state = manager, state
            try:
                yield
            finally:
                self._manager = self._state = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager, state = self._manager, self._state
        if manager is None or state is None:
            await Response("the MCP server is not running", status_code=503)(scope, receive, send)
            return
        request = Request(scope)
        if _foreign_origin(request):
            answer = Response("requests from other sites' pages are refused", status_code=403)
            await answer(scope, receive, send)
            return
        try:
            principal = await principal_from_header(
                request.headers.get("authorization", ""), settings=self._settings, state=state
            )
        except Unauthorized as err:
            await _auth_error(err.detail)(scope, receive, send)
            return
        await manager.handle_request({**scope, CALLER_KEY: Caller(state, principal)}, receive, send)
