"""API keys are HS256 JWTs with Honcho's claims: `ad` (admin), `w` (workspace), `p` (peer),
`s` (session), and `t` (when it was made, as text). Keys made by a Honcho deployment decode
here unchanged when both share the secret: they carry no `iat`, and their `exp`, when there is
one, is an ISO 8601 string rather than RFC 7519's number. Parley writes a numeric `exp` (and
`iat`), and reads both forms.

A peer or session key should also carry `w`. Honcho mints one without it (`POST /v2/keys` with
only `peer_id`), and then lets it get-or-create that peer or session, and manage webhooks, in
every workspace. Parley accepts such a key but lets it reach no workspace: a workspace is the
boundary between tenants, and a claim that names none cannot say which one it was meant for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from parley.errors import InvalidInput, Unauthorized
from parley.ids import is_valid_name

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the narrowest claim decides what they may reach. A key with both a peer
    and a session reaches what either would, and acts as its peer (as in Honcho)."""

    admin: bool = False
    workspace: str | None = None
    peer: str | None = None
    session: str | None = None
    key_id: str | None = None  # a Peaka-style key's id (the data agent's default user)
    # a partner key's organization (None: the default one); see parley.data.organizations
    organization: str | None = None
    ui_session: bool = False  # an embedded-UI session token (parley.auth.ui_sessions)

    @property
    def is_partner_key(self) -> bool:
        """A Peaka partner key: an admin principal bound to one organization (an admin JWT,
        or any key with auth off, reaches every organization)."""
        return self.admin and self.key_id is not None

    @property
    def is_workspace_key(self) -> bool:
        return self.workspace is not None and self.peer is None and self.session is None

    def describe(self) -> str:
        if self.admin:
            return "an admin key"
        scope = " and ".join(
            f"{kind} {value}"
            for kind, value in (("peer", self.peer), ("session", self.session))
            if value is not None
        )
        if self.workspace is None:
            if not scope:
                return "no key"
            return f"a key for {scope} that names no workspace (mint it with workspace_id)"
        if scope:
            return f"a key for {scope} of workspace {self.workspace}"
        return f"a key for workspace {self.workspace}"


ADMIN = Principal(admin=True)
ANONYMOUS = Principal()  # what a PUBLIC route sees; never the result of decoding a key


def create_key(principal: Principal, *, secret: str, expires_at: datetime | None = None) -> str:
    _check_ids(principal)
    if not principal.admin and principal.workspace is None:
        raise InvalidInput(
            "a non-admin key needs a workspace: Parley lets a key that names no workspace "
            "reach none"
        )
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "t": now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "iat": int(now.timestamp()),
    }
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
        # `exp` is checked below: pyjwt refuses Honcho's ISO strings outright.
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"verify_exp": False})
    except jwt.InvalidTokenError as err:
        raise Unauthorized("API key is invalid") from err
    expires = _expiry(claims.get("exp"))
    if expires is not None and expires <= datetime.now(UTC):
        raise Unauthorized("API key has expired")
    principal = Principal(
        admin=claims.get("ad") is True,
        workspace=_claim(claims, "w"),
        peer=_claim(claims, "p"),
        session=_claim(claims, "s"),
    )
    if principal == ANONYMOUS:
        raise Unauthorized(
            "API key is invalid: it names no workspace, peer or session and is not an admin key"
        )
    return principal


def _expiry(value: object) -> datetime | None:
    """`exp` as RFC 7519's NumericDate or as Honcho's ISO 8601 text (a zone-less one is UTC);
    absent, null or empty means the key does not expire, as Honcho reads it."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Unauthorized("API key is invalid: claim 'exp' is not a date")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as err:
            raise Unauthorized("API key is invalid: claim 'exp' is not a date") from err
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            when = datetime.fromisoformat(text)
        except ValueError as err:
            raise Unauthorized("API key is invalid: claim 'exp' is not a date") from err
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when
    raise Unauthorized("API key is invalid: claim 'exp' is not a date")


def _claim(claims: dict[str, object], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not is_valid_name(value):
        raise Unauthorized(f"API key is invalid: claim {name!r} is not a valid id")
    return value


def _check_ids(principal: Principal) -> None:
    for kind, value in (
        ("workspace", principal.workspace),
        ("peer", principal.peer),
        ("session", principal.session),
    ):
        if value is not None and not is_valid_name(value):
            raise InvalidInput(f"{value!r} is not a valid {kind} id")
