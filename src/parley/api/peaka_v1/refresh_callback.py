"""/api/v1/metadata/{projectId}/refresh/callback: a project's default refresh callback, used by
`POST /metadata/{projectId}/refresh` when the request names no callbackURL. Included before the
metadata router, whose `/refresh/{catalogId}` would otherwise take `callback` for a catalog."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from parley.api.deps import Name, OwnProject, ReadDb, StateDep, WriteDb
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import Body, CallbackToken
from parley.data import refresh_callbacks as service
from parley.data.refresh_jobs import Callback, callback_check
from parley.store.org_models import RefreshCallback

router = family_router(tags=["metadata"])
PATH = "/metadata/{project_id}/refresh/callback"


class CallbackRequest(Body):
    """Peaka's MetadataRefreshMetadataCallbackRequest (callbackURL is required here)."""

    callbackURL: Annotated[str, Field(min_length=1, max_length=2048)]
    callbackToken: CallbackToken | None = None


class RegisteredCallback(out.Answer):
    """The token itself is never answered, only whether one is set."""

    projectId: str
    callbackURL: str | None
    callbackTokenSet: bool


def callback_out(project_id: str, row: RefreshCallback | None) -> dict[str, Any]:
    return {
        "projectId": project_id,
        "callbackURL": row.url if row else None,
        "callbackTokenSet": bool(row and row.token),
    }


@router.get(PATH, response_model=RegisteredCallback)
async def get_refresh_callback(project_id: Name, db: ReadDb, _: OwnProject) -> dict[str, Any]:
    """`callbackURL` null: none is registered."""
    return callback_out(project_id, await service.registered(db=db, project_id=project_id))


@router.post(PATH, response_model=RegisteredCallback)
async def register_refresh_callback(
    project_id: Name, body: CallbackRequest, data: DataDep, state: StateDep, _: OwnProject
) -> dict[str, Any]:
    """The URL is checked as a refresh's own callbackURL is (http(s), public unless private
    hosts are allowed); registering again replaces the callback."""
    row = await service.register(
        data,
        project_id=project_id,
        callback=Callback(body.callbackURL, body.callbackToken),
        check_callback=callback_check(
            allow_private_hosts=state.settings.callback_allow_private_hosts
        ),
    )
    return callback_out(project_id, row)


@router.delete(PATH, response_model=RegisteredCallback)
async def unregister_refresh_callback(
    project_id: Name, db: WriteDb, _: OwnProject
) -> dict[str, Any]:
    """Answers the callback that was removed (`callbackURL` null: there was none)."""
    return callback_out(project_id, await service.unregister(db=db, project_id=project_id))
