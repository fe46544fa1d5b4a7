"""Peaka-style API keys: `<8 chars>.<32 chars>`, shown once, stored as a SHA-256 hash,
revocable. A partner key reaches every project of its organization (it is an admin principal
bound to one organization, see `parley.data.organizations`); a project key is a
whole-workspace principal of its project, so it reaches that project under /api/v1 and the
same workspace under /v2, and nothing else."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.keys import Principal
from parley.errors import InvalidInput, NotFound, Unauthorized
from parley.store.data_models import ApiKey
from parley.store.dml import execute_dml
from parley.store.engine import Database
from parley.store.org_models import OrganizationKey
from parley.ttl_cache import TtlCache

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
    result = await execute_dml(db, delete(ApiKey).where(ApiKey.id == key_id, where))
    if result.rowcount == 0:
        raise NotFound(f"API key {key_id} not found")


@dataclass(frozen=True)
class KnownKey:
    """What a valid key stands for, as cached between requests (see `KeyCache`)."""

    principal: Principal
    expires_at: datetime | None

    def check(self) -> Principal:
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            raise Unauthorized("API key has expired")
        return self.principal


KeyCache = TtlCache[str, KnownKey]  # by the SHA-256 of the whole key; only valid keys


async def lookup(*, db: AsyncSession, token: str) -> KnownKey:
    """One indexed lookup by prefix (a Core select: this runs on every uncached request)."""
    stmt = (
        select(
            ApiKey.id,
            ApiKey.key_hash,
            ApiKey.project_id,
            ApiKey.expires_at,
            OrganizationKey.organization_id,
        )
        .outerjoin(OrganizationKey, OrganizationKey.api_key_id == ApiKey.id)
        .where(ApiKey.prefix == token[:8])
    )
    row = (await db.execute(stmt)).first()
    if row is None or not hmac.compare_digest(row.key_hash, _hash(token)):
        raise Unauthorized("API key is invalid")
    expires_at = row.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    principal = (
        Principal(admin=True, key_id=row.id, organization=row.organization_id)
        if row.project_id is None
        else Principal(workspace=row.project_id, key_id=row.id)
    )
    return KnownKey(principal, expires_at)


async def authenticate(*, db: AsyncSession, token: str) -> Principal:
    return (await lookup(db=db, token=token)).check()


async def authenticate_cached(*, cache: KeyCache, database: Database, token: str) -> Principal:
    """`authenticate`, answered from `cache` when the key was seen valid in the last
    `cache.ttl_s` seconds (expiry is still checked on every request)."""

    async def load() -> KnownKey:
        async with database.read() as db:
            return await lookup(db=db, token=token)

    return (await cache.get_or_load(_hash(token), load)).check()
