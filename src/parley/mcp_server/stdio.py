"""`parley mcp --stdio`: the same tools for a client that launches a local process (Claude
Desktop, Cursor). It opens the same services `parley serve` does, on the same database, and acts
for one key (`--key`, or PARLEY_MCP_KEY); with auth off, as the HTTP routes, for everyone.
Stdout carries only the protocol: logs go to stderr."""

from __future__ import annotations

from parley.api.deps import principal_from_key
from parley.app import running_state
from parley.auth.keys import ADMIN
from parley.config import Settings
from parley.errors import Unauthorized
from parley.mcp_server.reach import Caller
from parley.mcp_server.server import stdio_server
from parley.metrics import Metrics

NEEDS_KEY = (
    "authentication is on (PARLEY_AUTH_ENABLED): give the key this process acts with, "
    "--key KEY or PARLEY_MCP_KEY"
)


class KeyRefused(Exception):
    """The key is missing (auth on) or not valid: the process exits saying so."""


async def serve_stdio(settings: Settings, key: str | None) -> None:
    if settings.auth_enabled and not key:
        raise KeyRefused(NEEDS_KEY)
    async with running_state(settings, metrics=Metrics()) as state:
        principal = ADMIN
        if settings.auth_enabled:
            assert key is not None
            try:
                principal = await principal_from_key(key.strip(), settings=settings, state=state)
            except Unauthorized as err:
                raise KeyRefused(err.detail) from err
        await stdio_server(Caller(state, principal)).run_stdio_async()
