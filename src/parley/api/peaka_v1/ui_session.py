"""/api/v1/ui/initSession: a short-lived session token for an embedded UI, scoped to one
project (see `parley.auth.ui_sessions`). A partner key of the project's organization or the
project's own key may ask; a session token may not (it cannot extend itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Query, Request
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from parley.api.deps import AnyKey, Scope, StateDep, WriteDb, authorize_scope
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import Body
from parley.auth import ui_sessions
from parley.auth.keys import Principal
from parley.config import Settings
from parley.data.projects import get_project
from parley.errors import Forbidden, InvalidInput
from parley.ids import MAX_NAME_LENGTH, NAME_PATTERN

router = family_router(tags=["embedded"])
ProjectId = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)]


class InitSessionRequest(Body):
    """Peaka's InitSessionRequest; the theme fields are accepted and kept by the UI itself."""

    projectId: ProjectId
    timeoutInSeconds: Annotated[int, Field(ge=1)] | None = None
    theme: Annotated[str, Field(max_length=200)] | None = None
    themeOverride: bool | None = None
    sessionMode: Literal["CONNECTOR_MODAL_ONLY", "FULL_STUDIO"] | None = None


class EmbeddedSession(out.Answer):
    """Peaka's EmbeddedSession, plus the token itself and when it expires (a Parley
    extension: the console reads the token from the URL's fragment, which no server logs)."""

    sessionUrl: str
    partnerOrigin: str | None
    sessionToken: str
    expiresAt: str


def _lifetime(settings: Settings, asked: int | None) -> int:
    if asked is None:
        return min(settings.ui_session_lifetime_s, settings.ui_session_max_lifetime_s)
    if asked > settings.ui_session_max_lifetime_s:
        raise InvalidInput(
            f"timeoutInSeconds is at most {settings.ui_session_max_lifetime_s} "
            "(PARLEY_UI_SESSION_MAX_LIFETIME_S)"
        )
    return asked


async def _init(
    request: Request,
    principal: Principal,
    state: StateDep,
    db: AsyncSession,
    project_id: str,
    timeout: int | None,
) -> dict[str, Any]:
    lifetime = _lifetime(state.settings, timeout)
    if principal.ui_session:
        raise Forbidden("a session token cannot start another session; use the project's key")
    await authorize_scope(
        principal, Scope.PROJECT, {"project_id": project_id}, database=state.database
    )
    await get_project(db=db, project_id=project_id)
    row, token = await ui_sessions.create_session(db=db, project_id=project_id, lifetime_s=lifetime)
    return {
        "sessionUrl": f"{str(request.base_url).rstrip('/')}/console/#token={token}"
        f"&page=/data/{quote(project_id, safe='')}",  # the console opens the project's page
        "partnerOrigin": None,
        "sessionToken": token,
        "expiresAt": _iso(row.expires_at),
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@router.post("/ui/initSession", response_model=EmbeddedSession)
async def init_session(
    request: Request, body: InitSessionRequest, principal: AnyKey, state: StateDep, db: WriteDb
) -> dict[str, Any]:
    """A session token of `projectId` for `timeoutInSeconds` (default
    PARLEY_UI_SESSION_LIFETIME_S); it works as `Authorization: Bearer <sessionToken>` with the
    project key's reach until it expires."""
    return await _init(request, principal, state, db, body.projectId, body.timeoutInSeconds)


@router.get("/ui/initSession", response_model=EmbeddedSession, deprecated=True)
async def init_session_deprecated(
    request: Request,
    principal: AnyKey,
    state: StateDep,
    db: WriteDb,
    projectId: Annotated[  # noqa: N803 - Peaka's parameter names
        str, Query(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)
    ],
    timeoutInSeconds: Annotated[int | None, Query(ge=1)] = None,  # noqa: N803
    theme: Annotated[str | None, Query(max_length=200)] = None,
    themeOverride: bool | None = None,  # noqa: N803
) -> dict[str, Any]:
    """Peaka's deprecated form of `POST /ui/initSession`, with query parameters."""
    return await _init(request, principal, state, db, projectId, timeoutInSeconds)
