"""Who a tool call acts for, and what it may reach: the bearer key of the HTTP request (or
the key `parley mcp --stdio` was started with) decides, exactly as for the HTTP routes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import ValidationError

from parley.api.deps import Scope, authorize_scope
from parley.api.state import AppState
from parley.auth.keys import Principal
from parley.errors import ParleyError

# the ASGI scope key under which /mcp hands each request's caller to the tools
CALLER_KEY = "parley.mcp.caller"


@dataclass(frozen=True)
class Caller:
    state: AppState
    principal: Principal

    async def check(self, scope: Scope, **names: str | None) -> None:
        """Raises Forbidden unless the key reaches what `names` name (workspace_id,
        peer_id, session_id, project_id) under `scope`: the check a route with those path
        parameters makes."""
        await authorize_scope(self.principal, scope, names, database=self.state.database)


def caller_of(ctx: Context[Any, Any]) -> Caller:
    """Over HTTP, the caller /mcp authenticated for this request; over stdio, the process's
    own (the server's lifespan yields it)."""
    request = ctx.request_context.request
    found = (
        request.scope.get(CALLER_KEY)
        if request is not None
        else ctx.request_context.lifespan_context
    )
    if not isinstance(found, Caller):  # a server built without either: a wiring mistake
        raise RuntimeError("this MCP request reached Parley without a caller")
    return found


def invalid_arguments(err: ValidationError) -> str:
    """`VALIDATION_ERROR: field: problem; ...`, the values sent left out."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in err.errors()
    )
    return f"VALIDATION_ERROR: {problems}"


def _message(err: ParleyError | ValidationError) -> str:
    if isinstance(err, ParleyError):
        return f"{err.error_code}: {err.detail}"
    return invalid_arguments(err)


@contextmanager
def tool_errors() -> Iterator[None]:
    """Parley's domain errors (and invalid values found past the argument schema) as tool
    errors: the client gets an `isError` result that says what went wrong, with the error code
    the HTTP APIs use (FORBIDDEN, NOT_FOUND, QUERY_NOT_ALLOWED, QUERY_TIMEOUT, ...)."""
    try:
        yield
    except (ParleyError, ValidationError) as err:
        raise ToolError(_message(err)) from err


@contextmanager
def resource_errors() -> Iterator[None]:
    try:
        yield
    except (ParleyError, ValidationError) as err:
        raise ResourceError(_message(err)) from err
