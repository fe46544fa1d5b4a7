"""The web console: static files served at /console, talking only to the public APIs.

The files carry no data, so they are served without a key (as /docs is); every API call the
console makes sends the person's key and is authorised as any other client's would be."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"

# the types a browser insists on for modules and styles, whatever the host's mimetypes say
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


class ConsoleFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        served = "index.html" if path in ("", ".") or path.endswith("/") else path
        kind = CONTENT_TYPES.get(Path(served).suffix)
        if kind is not None and response.status_code == 200:
            response.headers["content-type"] = kind
        response.headers["cache-control"] = "no-cache"  # a new release is picked up at once
        return response


async def _to_index(request: Request) -> Response:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/console/", status_code=307)


def console_routes() -> list[BaseRoute]:
    """`/console` (redirects to `/console/`) and the files under it."""
    return [
        Route("/console", _to_index, include_in_schema=False),
        Mount("/console", app=ConsoleFiles(directory=STATIC, html=True), name="console"),
    ]
