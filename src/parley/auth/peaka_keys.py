"""Peaka-style API keys: `<8 chars>.<32 chars>`, shown once, stored as a SHA-256 hash,
revocable. A partner key reaches every project (it is an admin principal); a project key is a
whole-workspace principal of its project, so it reaches that project under /api/v1 and the
same workspace under /v2, and nothing else."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.keys import Principal
from parley.errors import InvalidInput, NotFound, Unauthorized
from parley.store.data_models import ApiKey

KEY_RE = re.compile(r"^[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$")
_ALPHABET = string.ascii_letters + string.digits


def looks_like_key(token: str) -> bool:
    return KEY_RE.match(token) is not None


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_api_key(
    *, db: AsyncSession, project_id: str | None, name: str, expires_at: datetime | None
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its clear text, which is never stored."""
    if expires_at is not None:
        expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
        if expires_at <= datetime.now(UTC):
            raise InvalidInput("expiresAt must be in the future")
    prefix = _random(8)
    token = f"{prefix}.{_random(32)}"
    row = ApiKey(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=name,
        prefix=prefix,
        key_hash=_hash(token),
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    return row, token


async def list_api_keys(*, db: AsyncSession, project_id: str) -> list[ApiKey]:
    rows = await db.scalars(
        select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.created_at)
    )
    return list(rows)


async def delete_api_key(*, db: AsyncSession, project_id: str | None, key_id: str) -> None:
    where = ApiKey.project_id.is_(None) if project_id is None else ApiKey.project_id == project_id
    result = await db.execute(delete(ApiKey).where(ApiKey.id == key_id, where))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"API key {key_id} not found")


async def authenticate(*, db: AsyncSession, token: str) -> Principal:
    """One indexed lookup by prefix (a Core select: this runs on every request)."""
    stmt = select(ApiKey.id, ApiKey.key_hash, ApiKey.project_id, ApiKey.expires_at).where(
        ApiKey.prefix == token[:8]
    )
    row = (await db.execute(stmt)).first()
    if row is None or not hmac.compare_digest(row.key_hash, _hash(token)):
        raise Unauthorized("API key is invalid")
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        raise Unauthorized("API key has expired")
    if row.project_id is None:
        return Principal(admin=True, key_id=row.id)
    return Principal(workspace=row.project_id, key_id=row.id)
