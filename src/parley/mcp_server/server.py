"""The MCP server object: Parley's tools and resources on the SDK's `MCPServer`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, InputRequiredResult
from pydantic import ValidationError

from parley import __version__
from parley.mcp_server import data_tools, memory_tools, resources
from parley.mcp_server.reach import Caller, invalid_arguments

INSTRUCTIONS = (
    "Parley: memory of people and answers from data. Memory tools take a workspace_id (and "
    "peers, sessions); data tools a project_id (a project is the workspace of the same id). "
    "Your API key decides what you reach."
)

Lifespan = Callable[[MCPServer[Any]], AbstractAsyncContextManager[Any]]


class ParleyMcp(MCPServer[Any]):
    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Arguments that fail a tool's schema are told as the domain's errors are (`field:
        problem`, with the code the HTTP APIs use), not as pydantic's report, which echoes
        the values sent."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as err:
            cause = err.__cause__
            if isinstance(err, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {invalid_arguments(cause)}") from cause


def build_server(lifespan: Lifespan | None = None) -> MCPServer[Any]:
    # MCPServer() calls logging.basicConfig, which would give the root logger a handler and
    # the INFO level in the serving process; with a handler already there, it does nothing.
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        server = ParleyMcp(
            "parley", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan
        )
    finally:
        root.removeHandler(placeholder)
    for tool, hints in (*memory_tools.TOOLS, *data_tools.TOOLS):
        server.add_tool(tool, annotations=hints)
    for uri, read, name in resources.RESOURCES:
        server.resource(uri, name=name, mime_type="application/json")(read)
    return server


@lru_cache(maxsize=1)
def http_server() -> MCPServer[Any]:
    """The server /mcp answers with, built once per process (it holds no state: each request
    brings its caller; each app runs its own session manager)."""
    return build_server()


def stdio_server(caller: Caller) -> MCPServer[Any]:
    """A server whose every request acts for `caller` (a local process, one key)."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[Caller]:
        yield caller

    return build_server(lifespan)
