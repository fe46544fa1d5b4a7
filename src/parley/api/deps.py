"""Dependencies: database sessions, settings, and the auth policy every route declares.

A route states its policy with `requires(Scope.X)`; a test walks `app.routes` and fails on any
route without one, so nothing is reachable by accident.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from enum import Enum
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from parley.api.state import AppState
from parley.auth import peaka_keys, ui_sessions
from parley.auth.keys import ADMIN, ANONYMOUS, Principal, decode_key
from parley.config import Settings
from parley.data import organizations
from parley.errors import Forbidden, Unauthorized
from parley.ids import MAX_NAME_LENGTH, NAME_PATTERN
from parley.memory.pages import MAX_PAGE_SIZE
from parley.memory.sessions import is_member
from parley.store.engine import Database


async def get_state(request: Request) -> AppState:
    # async: a plain def would be sent to the thread pool on every request
    return request.app.state.parley


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def read_db(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.database.read() as db:
        yield db


async def write_db(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.database.write() as db:
        yield db


async def _after_data_change(request: Request, state: StateDep) -> AsyncIterator[None]:
    yield
    params = request.path_params
    state.data.forget_project(params.get("project_id") or params["workspace_id"])


async def _after_key_change(state: StateDep) -> AsyncIterator[None]:
    yield
    state.keys.clear()


# Caches of what queries and auth read on every request. Declared before WriteDb, their
# teardown runs after the write transaction has committed (teardowns run in reverse order),
# so no request can reload the old state between the invalidation and the commit.
DataChange = Annotated[None, Depends(_after_data_change, scope="function")]
KeyChange = Annotated[None, Depends(_after_key_change, scope="function")]

ReadDb = Annotated[AsyncSession, Depends(read_db)]
# scope="function": the transaction commits before the response is sent, so a failed commit is
# an error response, never a 200 for data that was not stored.
WriteDb = Annotated[AsyncSession, Depends(write_db, scope="function")]

Name = Annotated[str, Path(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)]
# an id in the query string, when given (`?target=alice`)
OptionalName = Annotated[
    str | None, Query(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)
]
# a page past 10**9 is past any real data, and its offset must still fit a 64-bit integer
MAX_PAGE = 1_000_000_000
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")]


class Scope(Enum):
    """Who may call a route. Narrower keys reach only their own peer or session."""

    PUBLIC = "public"  # no key at all (health)
    AUTHENTICATED = "authenticated"  # any valid key; the handler narrows it (workspace create)
    ADMIN = "admin"  # admin keys only
    WORKSPACE = "workspace"  # admin or a whole-workspace key of the path's workspace
    WORKSPACE_MEMBER = "workspace_member"  # any key of the workspace; the handler narrows it
    PEER = "peer"  # also the path peer's own key
    SESSION = "session"  # also the path session's key, and keys of its member peers
    PROJECT = "project"  # admin/partner keys, or a whole-workspace key of the path's project


async def get_principal(request: Request, settings: SettingsDep, state: StateDep) -> Principal:
    return await principal_from_header(
        request.headers.get("authorization", ""), settings=settings, state=state
    )


async def principal_from_header(header: str, *, settings: Settings, state: AppState) -> Principal:
    """Two kinds of bearer key: Honcho-style JWTs (checked by signature) and Peaka-style
    `<8>.<32>` keys (looked up by hash and cached for PARLEY_KEY_CACHE_TTL_S; revoking one
    through this process takes effect on the next request); and embedded-UI session tokens
    `uis_...`, looked up like Peaka keys. The MCP server reads its
    requests' keys with it too."""
    if not settings.auth_enabled:
        return ADMIN
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    return await principal_from_key(token.strip(), settings=settings, state=state)


async def principal_from_key(token: str, *, settings: Settings, state: AppState) -> Principal:
    """The principal of a bearer key of either kind (also read by MCP and by the SQL endpoint,
    which takes keys from Trino's headers)."""
    if peaka_keys.looks_like_key(token):
        return await peaka_keys.authenticate_cached(
            cache=state.keys, database=state.database, token=token
        )
    if ui_sessions.looks_like_token(token):
        return await ui_sessions.authenticate_cached(
            cache=state.keys, database=state.database, token=token
        )
    return decode_key(token, secret=settings.signing_key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def authorize_scope(
    principal: Principal, scope: Scope, params: Mapping[str, Any], *, database: Database
) -> None:
    """Raises Forbidden unless `principal` may reach what `params` name (a route's path
    parameters: workspace_id, peer_id, session_id, project_id) under `scope`. The one access
    policy: routes apply it through `requires`, the MCP tools to their arguments."""
    if scope is Scope.AUTHENTICATED:
        return
    if principal.admin:
        if principal.is_partner_key:
            await _partner_reach(principal, params, database=database)
        return
    if scope is Scope.ADMIN:
        raise Forbidden(f"this route needs an admin key; the request used {principal.describe()}")
    if scope is Scope.PROJECT:
        project_id = params.get("project_id")
        if principal.is_workspace_key and principal.workspace == project_id:
            return
        raise Forbidden(f"{principal.describe()} cannot reach project {project_id}")
    if principal.workspace != params.get("workspace_id"):
        raise Forbidden(
            f"{principal.describe()} cannot reach workspace {params.get('workspace_id')}"
        )
    if principal.is_workspace_key or scope is Scope.WORKSPACE_MEMBER:
        return
    if (
        scope is Scope.PEER
        and principal.peer is not None
        and principal.peer == params.get("peer_id")
    ):
        return
    if scope is Scope.SESSION:
        session_id = params.get("session_id")
        if principal.session is not None and principal.session == session_id:
            return
        # a session route always has both in its path; without them no one is a member
        if (
            principal.peer is not None
            and principal.workspace is not None
            and session_id is not None
        ):
            async with database.read() as db:
                if await is_member(
                    db=db,
                    workspace_id=principal.workspace,
                    session_id=session_id,
                    peer_id=principal.peer,
                ):
                    return
    raise Forbidden(f"{principal.describe()} cannot reach this resource")


async def _partner_reach(
    principal: Principal, params: Mapping[str, Any], *, database: Database
) -> None:
    """A partner key reaches its own organization and the projects in it, and memory
    workspaces that are no project, nothing else (one indexed read, only for routes that name
    an organization, a project or a workspace; a project that does not exist is left to the
    route, which answers 404)."""
    organization_id = params.get("organization_id")
    # a project is a memory workspace too: /v2 and /v3 name it as workspace_id
    project_id = params.get("project_id") or params.get("workspace_id")
    if organization_id is None and project_id is None:
        return
    async with database.read() as db:
        own = principal.organization or await organizations.default_organization_id(db=db)
        if organization_id is not None and organization_id != own:
            raise Forbidden(
                f"a partner key of organization {own} cannot reach organization {organization_id}"
            )
        # a project that does not exist is the route's 404
        found = (
            None
            if project_id is None
            else await organizations.organization_of_project(db=db, project_id=project_id)
        )
        if found is not None and found != own:
            raise Forbidden(
                f"a partner key of organization {own} cannot reach project {project_id}"
            )


def requires(scope: Scope) -> Any:
    """A dependency that authorizes the request under `scope` and yields the principal.

    PUBLIC routes do not read the Authorization header at all: with auth on, a missing or bad
    key must not turn /health into a 401."""

    if scope is Scope.PUBLIC:

        async def public() -> Principal:
            return ANONYMOUS

        public.auth_scope = scope  # type: ignore[attr-defined]  # read by auth_scope_of
        return Depends(public)

    async def authorize(request: Request, principal: PrincipalDep, state: StateDep) -> Principal:
        await authorize_scope(principal, scope, request.path_params, database=state.database)
        return principal

    authorize.auth_scope = scope  # type: ignore[attr-defined]  # read by auth_scope_of
    return Depends(authorize)


def auth_scope_of(call: Any) -> Scope | None:
    return getattr(call, "auth_scope", None)


# The access policies routes share, declared once (a route names the one it needs).
AnyKey = Annotated[Principal, requires(Scope.AUTHENTICATED)]
WorkspaceAccess = Annotated[Principal, requires(Scope.WORKSPACE)]
PeerAccess = Annotated[Principal, requires(Scope.PEER)]
SessionAccess = Annotated[Principal, requires(Scope.SESSION)]
OwnProject = Annotated[Principal, requires(Scope.PROJECT)]  # a Peaka project (= workspace)
