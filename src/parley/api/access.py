"""Checks that depend on the request body, for routes whose scope alone cannot decide
(get-or-create routes): a narrow key must never create things outside its own scope."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.keys import Principal
from parley.errors import Forbidden
from parley.memory.sessions import is_member
from parley.store.engine import Database
from parley.store.models import Session


def check_workspace_create(principal: Principal, workspace_id: str, *, changes: bool) -> None:
    """Any key may fetch its own workspace (the SDK does on start); only admin and
    whole-workspace keys may create other workspaces or change one."""
    if principal.admin:
        return
    if principal.workspace != workspace_id:
        raise Forbidden(f"{principal.describe()} cannot reach workspace {workspace_id}")
    if changes and not principal.is_workspace_key:
        raise Forbidden(f"{principal.describe()} cannot change workspace {workspace_id}")


def check_peer_create(principal: Principal, peer_id: str) -> None:
    if principal.admin or principal.is_workspace_key or principal.peer == peer_id:
        return
    raise Forbidden(f"{principal.describe()} cannot create or change peer {peer_id}")


async def check_session_write(
    principal: Principal,
    *,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    joining_peers: Iterable[str],
) -> None:
    """A session key reaches only its session. A peer key reaches sessions it is a member of,
    and may create a new session only by joining it itself; a key with both reaches either."""
    if await _reaches_session(principal, db=db, workspace_id=workspace_id, session_id=session_id):
        return
    if principal.peer is not None and principal.workspace == workspace_id:
        exists = await db.get(Session, (workspace_id, session_id)) is not None
        if not exists and principal.peer in set(joining_peers):
            return
    raise Forbidden(f"{principal.describe()} cannot reach session {session_id}")


async def _reaches_session(
    principal: Principal, *, db: AsyncSession, workspace_id: str, session_id: str
) -> bool:
    """Admin and workspace keys reach every session, a session key its own, a peer key the
    sessions its peer is in now."""
    if principal.admin or principal.is_workspace_key:
        return True
    if principal.session is not None and principal.session == session_id:
        return True
    if principal.peer is None or principal.workspace != workspace_id:
        return False
    return await is_member(
        db=db, workspace_id=workspace_id, session_id=session_id, peer_id=principal.peer
    )


def check_sends_as(principal: Principal, senders: Iterable[str]) -> None:
    """A peer key writes messages only as its own peer; wider keys may write for anyone (an
    agent backend records both sides of a conversation)."""
    others = sorted(set(senders) - {principal.peer}) if principal.peer is not None else []
    if others:
        raise Forbidden(f"{principal.describe()} cannot send messages as peer {others[0]}")


def check_deletes_as(principal: Principal, sender: str, message_id: str) -> None:
    """A peer key deletes only the messages its own peer sent (as it writes only those);
    session, workspace and admin keys delete any message they reach."""
    if principal.peer is not None and principal.peer != sender:
        raise Forbidden(
            f"{principal.describe()} cannot delete message {message_id} of peer {sender}"
        )


def check_membership_change(principal: Principal, peer_ids: Iterable[str]) -> None:
    """A peer key may join or leave a session and set its own settings there; adding,
    removing or configuring other peers takes a session, workspace or admin key."""
    others = sorted(set(peer_ids) - {principal.peer}) if principal.peer is not None else []
    if others:
        raise Forbidden(f"{principal.describe()} cannot change the membership of peer {others[0]}")


def check_not_peer_key(principal: Principal, action: str) -> None:
    if principal.peer is not None:
        raise Forbidden(f"{principal.describe()} cannot {action}")


async def check_named_session(
    principal: Principal, *, database: Database, workspace_id: str, session_id: str | None
) -> None:
    """A session named in a body (chat's and the representation's `session_id`) is checked
    as a session in the path would be: a session key reaches only its own, a peer key only the
    sessions its peer is in."""
    if session_id is None or principal.admin or principal.is_workspace_key:
        return  # no read needed
    async with database.read() as db:
        if await _reaches_session(
            principal, db=db, workspace_id=workspace_id, session_id=session_id
        ):
            return
    raise Forbidden(f"{principal.describe()} cannot reach session {session_id}")
