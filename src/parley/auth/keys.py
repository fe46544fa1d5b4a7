"""API keys are HS256 JWTs with Honcho's claims: `ad` (admin), `w` (workspace), `p` (peer),
`s` (session); peer and session keys also carry `w`. `exp` and `iat` are numeric dates, as
RFC 7519 requires (Honcho writes `exp` as an ISO string, which JWT libraries reject)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from parley.errors import InvalidInput, Unauthorized
from parley.ids import is_valid_name

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the narrowest claim decides what they may reach."""

    admin: bool = False
    workspace: str | None = None
    peer: str | None = None
    session: str | None = None
    key_id: str | None = None  # a Peaka-style key's id (the data agent's default user)

    @property
    def is_workspace_key(self) -> bool:
        return self.workspace is not None and self.peer is None and self.session is None

    def describe(self) -> str:
        if self.admin:
            return "an admin key"
        if self.peer:
            return f"a key for peer {self.peer} of workspace {self.workspace}"
        if self.session:
            return f"a key for session {self.session} of workspace {self.workspace}"
        if self.workspace is None:
            return "no key"
        return f"a key for workspace {self.workspace}"


ADMIN = Principal(admin=True)
ANONYMOUS = Principal()  # what a PUBLIC route sees; never the result of decoding a key


def create_key(principal: Principal, *, secret: str, expires_at: datetime | None = None) -> str:
    _check_shape(principal)
    now = datetime.now(UTC)
    claims: dict[str, object] = {"iat": int(now.timestamp())}
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= now:
            raise InvalidInput("expires_at must be in the future")
        claims["exp"] = int(expires_at.timestamp())
    if principal.admin:
        claims["ad"] = True
    for claim, value in (
        ("w", principal.workspace),
        ("p", principal.peer),
        ("s", principal.session),
    ):
        if value is not None:
            claims[claim] = value
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_key(token: str, *, secret: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["iat"]})
    except jwt.ExpiredSignatureError as err:
        raise Unauthorized("API key has expired") from err
    except jwt.InvalidTokenError as err:
        raise Unauthorized("API key is invalid") from err
    principal = Principal(
        admin=claims.get("ad") is True,
        workspace=_claim(claims, "w"),
        peer=_claim(claims, "p"),
        session=_claim(claims, "s"),
    )
    try:
        _check_shape(principal)
    except InvalidInput as err:
        raise Unauthorized(f"API key is invalid: {err.detail}") from err
    return principal


def _claim(claims: dict[str, object], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not is_valid_name(value):
        raise Unauthorized(f"API key is invalid: claim {name!r} is not a valid id")
    return value


def _check_shape(principal: Principal) -> None:
    for kind, value in (
        ("workspace", principal.workspace),
        ("peer", principal.peer),
        ("session", principal.session),
    ):
        if value is not None and not is_valid_name(value):
            raise InvalidInput(f"{value!r} is not a valid {kind} id")
    if principal.admin:
        return
    if principal.workspace is None:
        raise InvalidInput("a non-admin key needs a workspace")
    if principal.peer is not None and principal.session is not None:
        raise InvalidInput("a key is scoped to a peer or to a session, not both")
