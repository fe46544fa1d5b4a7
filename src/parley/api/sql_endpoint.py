"""The SQL endpoint: Trino's client REST protocol (`POST /v1/statement`, then `GET` each
`nextUri`, `DELETE` it to cancel), for Peaka's drivers, the `trino` clients and BI tools.

Who is calling: the key in the extra credential `peakaKey` (what Peaka's drivers send), a
bearer key, or the password of basic auth. A project key queries its own project; an admin or
partner key, or no key with auth off, queries the project named as the user (`X-Trino-User`).
The project's catalogs are the Trino catalogs, by name. The slug in each `nextUri` is known
only to the client that posted the statement; with auth on, its polls must also carry a key
that reaches the query's project."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from parley.api.deps import Scope, StateDep, authorize_scope, principal_from_key
from parley.api.errors import detail_errors
from parley.api.state import AppState
from parley.auth.keys import ADMIN, Principal
from parley.data.projects import get_project
from parley.errors import Forbidden, NotFound, Unauthorized
from parley.trino import protocol
from parley.trino.errors import TrinoError
from parley.trino.queries import HeldQuery, StalePage, UnknownQuery
from parley.trino.session import ClientSession, client_session, credential
from parley.trino.statement import StatementContext, StatementRunner

router = APIRouter(tags=["sql"], responses=detail_errors(401, 413, 422))
PAGE = "/v1/statement/{phase}/{query_id}/{slug}/{token}"


async def sql_caller(request: Request, state: StateDep) -> Principal:
    """The key of a statement request, from Trino's headers (see the module docstring)."""
    token = credential(request.headers)
    if token is None:
        if state.settings.auth_enabled:
            raise Unauthorized(
                "missing API key: send it as the extra credential peakaKey, a bearer token or "
                "the basic auth password"
            )
        return ADMIN
    return await principal_from_key(token, settings=state.settings, state=state)


sql_caller.auth_scope = Scope.AUTHENTICATED  # type: ignore[attr-defined]  # read by auth_scope_of
SqlCaller = Annotated[Principal, Depends(sql_caller)]


def _project_of(principal: Principal, session: ClientSession) -> str:
    if principal.is_workspace_key:
        assert principal.workspace is not None
        return principal.workspace
    if principal.admin:
        if session.user is None:
            raise TrinoError(
                "PERMISSION_DENIED",
                "name the project as the user (X-Trino-User) when no project key is sent",
            )
        return session.user
    raise TrinoError(
        "PERMISSION_DENIED", f"{principal.describe()} cannot run SQL; use a project key"
    )


def _failed(error: TrinoError) -> JSONResponse:
    stats = protocol.stats_json(state=protocol.FAILED, elapsed_ms=0, rows=0, bytes_=0)
    body = protocol.results_json(query_id="", info_uri="", stats=stats, error=error.body())
    return JSONResponse(body)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _context(
    state: AppState, principal: Principal, session: ClientSession
) -> StatementContext:
    project_id = _project_of(principal, session)
    if principal.is_partner_key:  # a partner key reaches its own organization's projects
        try:
            await authorize_scope(
                principal, Scope.PROJECT, {"project_id": project_id}, database=state.database
            )
        except Forbidden as err:
            raise TrinoError("PERMISSION_DENIED", err.detail) from err
    async with state.database.read() as db:
        try:
            await get_project(db=db, project_id=project_id)
        except NotFound as err:
            raise TrinoError("NOT_FOUND", f"Project {project_id} not found") from err
    return StatementContext(
        project_id=project_id,
        user=session.user or principal.key_id,
        catalog=session.catalog,
        schema=session.schema,
        timeout_s=session.timeout_s,
        prepared=session.prepared,
    )


@router.post("/v1/statement", response_model=None)
async def post_statement(request: Request, state: StateDep, principal: SqlCaller) -> Response:
    """Starts a statement; its results are read by following `nextUri`."""
    try:
        session = client_session(request.headers)
        sql = (await request.body()).decode("utf-8")
        if not sql.strip():
            raise TrinoError("SYNTAX_ERROR", "SQL statement is empty")
        ctx = await _context(state, principal, session)
    except UnicodeDecodeError:
        return _failed(TrinoError("SYNTAX_ERROR", "the statement is not UTF-8 text"))
    except TrinoError as err:
        return _failed(err)
    runner = StatementRunner(state.data, ctx, page_rows=state.statements.page_rows)
    try:
        query = state.statements.submit(ctx.project_id, lambda: runner.run(sql))
    except TrinoError as err:
        return _failed(err)
    base = _base(request)
    stats = protocol.stats_json(state=protocol.QUEUED, elapsed_ms=0, rows=0, bytes_=0)
    body = protocol.results_json(
        query_id=query.id,
        info_uri=f"{base}/v1/query/{query.id}",
        stats=stats,
        next_uri=f"{base}/v1/statement/queued/{query.id}/{query.slug}/1",
    )
    return JSONResponse(body)


def _reaches(principal: Principal, state: AppState, query_id: str, slug: str) -> None:
    """With auth on, a poll's key must reach the query's project (a stranger learns nothing:
    the same 404 as for no such query)."""
    found = state.statements.find(query_id, slug)
    if principal.admin or not isinstance(found, HeldQuery):
        return  # a tombstone tells only that the query was cancelled or abandoned
    if principal.workspace == found.project_id:
        return
    raise UnknownQuery(query_id)


def _gone(query_id: str) -> Response:
    return JSONResponse({"detail": f"Query {query_id} not found"}, status_code=404)


@router.get(PAGE, response_model=None, responses=detail_errors(404, 410))
async def get_page(
    request: Request,
    phase: str,
    query_id: str,
    slug: str,
    token: int,
    state: StateDep,
    principal: SqlCaller,
) -> Response:
    """One page of a statement's results (or its state while it runs)."""
    if phase not in ("queued", "executing"):
        return _gone(query_id)
    base = _base(request)

    def uri(n: int) -> str:
        return f"{base}/v1/statement/executing/{query_id}/{slug}/{n}"

    try:
        _reaches(principal, state, query_id, slug)
        body, headers = await state.statements.page(query_id, slug, token, uri=uri)
    except UnknownQuery:
        return _gone(query_id)
    except StalePage as err:
        return JSONResponse({"detail": str(err)}, status_code=410)
    body["infoUri"] = f"{base}/v1/query/{query_id}"
    return JSONResponse(body, headers=headers)


@router.delete(PAGE, status_code=204, response_class=Response)
async def cancel_statement(
    phase: str, query_id: str, slug: str, token: int, state: StateDep, principal: SqlCaller
) -> Response:
    """Cancels the statement and frees its results at once; later polls say USER_CANCELED."""
    try:
        _reaches(principal, state, query_id, slug)
        state.statements.cancel(query_id, slug)
    except UnknownQuery:
        pass  # nothing to free: answered as a cancel is (clients close cursors twice)
    return Response(status_code=204)


@router.delete(
    "/v1/statement/executing/partialCancel/{query_id}/{stage}/{slug}/{token}",
    status_code=204,
    response_class=Response,
)
async def partial_cancel(
    query_id: str, stage: int, slug: str, token: int, _: SqlCaller
) -> Response:
    """A statement here is one stage: there is nothing to cancel part of."""
    return Response(status_code=204)
