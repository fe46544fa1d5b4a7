"""/v3/keys: /v2's key creation (api/honcho_v2/keys.py), with Honcho 3's words for a peer or
session key that names no workspace (which /v2 refuses too, in Parley's words)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query

from parley.api.deps import OptionalName, Scope, SettingsDep, requires
from parley.api.honcho_v2 import keys as v2_keys
from parley.api.honcho_v3.routing import family_router
from parley.auth.keys import Principal
from parley.errors import InvalidInput

router = family_router(tags=["keys"])


@router.post("/keys")
async def create_api_key(
    settings: SettingsDep,
    principal: Annotated[Principal, requires(Scope.ADMIN)],
    workspace_id: OptionalName = None,
    peer_id: OptionalName = None,
    session_id: OptionalName = None,
    expires_at: Annotated[datetime | None, Query()] = None,
) -> dict[str, str]:
    if workspace_id is None and (peer_id is not None or session_id is not None):
        raise InvalidInput("workspace_id is required when scoping a key to a peer or session")
    return await v2_keys.create_api_key(
        settings, principal, workspace_id, peer_id, session_id, expires_at
    )
