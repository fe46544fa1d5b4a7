"""/v2/keys: admin-only creation of scoped API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query

from parley.api.deps import OptionalName, Scope, SettingsDep, requires
from parley.api.honcho_v2.routing import family_router
from parley.auth.keys import Principal, create_key
from parley.errors import InvalidInput

router = family_router(tags=["keys"])


@router.post("/keys")
async def create_api_key(
    settings: SettingsDep,
    _: Annotated[Principal, requires(Scope.ADMIN)],
    workspace_id: OptionalName = None,
    peer_id: OptionalName = None,
    session_id: OptionalName = None,
    expires_at: Annotated[datetime | None, Query()] = None,
) -> dict[str, str]:
    """A key for a workspace, or a peer and/or session in it (admin keys come from
    `parley keys create --admin`). Honcho also mints a peer or session key without a
    workspace; Parley refuses to, as such a key would reach no workspace here."""
    if workspace_id is None and peer_id is None and session_id is None:
        raise InvalidInput("At least one of workspace_id, peer_id, or session_id must be provided")
    scope = Principal(workspace=workspace_id, peer=peer_id, session=session_id)
    return {"key": create_key(scope, secret=settings.signing_key, expires_at=expires_at)}
