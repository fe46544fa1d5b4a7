"""Embedded-UI session tokens (`/api/v1/ui/initSession`): `uis_<40 letters and digits>`, shown
once, stored as a SHA-256 hash, valid until they expire (the request's timeoutInSeconds, capped
by PARLEY_UI_SESSION_MAX_LIFETIME_S). A token is a bearer credential with exactly a project
key's reach for its one project (a whole-workspace principal of it), and cannot mint another."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.keys import Principal
from parley.auth.peaka_keys import KeyCache, KnownKey
from parley.errors import Unauthorized
from parley.store.dml import execute_dml
from parley.store.engine import Database
from parley.store.org_models import UiSession

TOKEN_RE = re.compile(r"^uis_[A-Za-z0-9]{40}$")
_ALPHABET = string.ascii_letters + string.digits


def looks_like_token(token: str) -> bool:
    return TOKEN_RE.match(token) is not None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_session(
    *, db: AsyncSession, project_id: str, lifetime_s: int, now: datetime | None = None
) -> tuple[UiSession, str]:
    """Store a new session of `project_id` and return it with its token (never stored)."""
    now = now or datetime.now(UTC)
    # expired sessions are of no use to anyone: each new one clears them out
    await execute_dml(db, delete(UiSession).where(UiSession.expires_at <= now))
    token = "uis_" + "".join(secrets.choice(_ALPHABET) for _ in range(40))
    row = UiSession(
        id=str(uuid.uuid4()),
        project_id=project_id,
        token_hash=_hash(token),
        expires_at=now + timedelta(seconds=lifetime_s),
        created_at=now,
    )
    db.add(row)
    await db.flush()
    return row, token


def principal_of(row_id: str, project_id: str) -> Principal:
    return Principal(workspace=project_id, key_id=row_id, ui_session=True)


async def lookup(*, db: AsyncSession, token: str) -> KnownKey:
    row = (
        await db.execute(
            select(
                UiSession.id, UiSession.project_id, UiSession.token_hash, UiSession.expires_at
            ).where(UiSession.token_hash == _hash(token))
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, _hash(token)):
        raise Unauthorized("session token is invalid")
    expires_at = row.expires_at
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return KnownKey(principal_of(row.id, row.project_id), expires_at)


def check(known: KnownKey, *, now: datetime | None = None) -> Principal:
    """The principal of a session still valid at `now` (401 once it has expired)."""
    if known.expires_at is not None and known.expires_at <= (now or datetime.now(UTC)):
        raise Unauthorized("session token has expired: ask /api/v1/ui/initSession for a new one")
    return known.principal


async def authenticate_cached(*, cache: KeyCache, database: Database, token: str) -> Principal:
    """As `peaka_keys.authenticate_cached` (the same cache; expiry checked every request)."""

    async def load() -> KnownKey:
        async with database.read() as db:
            return await lookup(db=db, token=token)

    return check(await cache.get_or_load(_hash(token), load))
