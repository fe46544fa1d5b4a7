"""Honcho 3's session allowlist in `filters` (peer chat, representation): only `session_id`,
as one id, a list of ids or `{"in": [...]}`; anything else is a 422, since a filter dropped
silently would widen what is read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from parley.api.access import check_named_session
from parley.auth.keys import Principal
from parley.errors import InvalidInput
from parley.store.engine import Database


def session_allowlist(
    filters: dict[str, Any] | None, session_id: str | None, *, limit: int
) -> tuple[str, ...] | None:
    """The sessions `filters` allows, without repeats, or None when there are no filters; at
    most `limit` entries. A `session_id` given beside them must be one of them."""
    if filters is None:
        return None
    if unsupported := sorted(set(filters) - {"session_id"}):
        raise InvalidInput(
            f"Unsupported filter key(s) for this endpoint: {unsupported}. "
            "Only 'session_id' is supported."
        )
    if "session_id" not in filters:
        raise InvalidInput("filters must contain 'session_id'")
    value = filters["session_id"]
    if isinstance(value, dict) and set(value) == {"in"} and isinstance(value["in"], list):
        value = value["in"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InvalidInput(
            'filters.session_id must be a session id, a list of session ids, or {"in": [...]}'
        )
    if len(value) > limit:
        raise InvalidInput(f"filters.session_id supports at most {limit} sessions per request")
    if not all(isinstance(e, str) and e for e in value):
        raise InvalidInput("filters.session_id entries must be non-empty strings")
    allowed = tuple(dict.fromkeys(cast(list[str], value)))
    if session_id is not None and session_id not in allowed:
        raise InvalidInput("session_id must be included in filters.session_id")
    return allowed


async def check_sessions(
    principal: Principal, database: Database, workspace_id: str, sessions: Sequence[str]
) -> None:
    """Each session as a session in the path would be checked (a peer key reaches only its
    peer's sessions)."""
    for session_id in sessions:
        await check_named_session(
            principal, database=database, workspace_id=workspace_id, session_id=session_id
        )
