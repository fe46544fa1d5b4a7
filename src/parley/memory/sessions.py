"""Sessions and their peers (membership with per-peer observation settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Update, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import BadRequest, NotFound
from parley.ids import new_public_id
from parley.memory.filters import FilterField, Kind, compile_filters
from parley.memory.pages import Page, ordered, paginate
from parley.memory.peers import ensure_peers, get_peer
from parley.memory.workspaces import apply_changes, ensure_workspace
from parley.store.models import Message, Session, SessionPeer, utcnow
from parley.store.upsert import insert_missing

MAX_OBSERVERS_PER_SESSION = 10

FILTER_FIELDS = {
    "id": FilterField(Session.id, Kind.TEXT),
    "workspace_id": FilterField(Session.workspace_id, Kind.TEXT),
    "is_active": FilterField(Session.is_active, Kind.BOOL),
    "metadata": FilterField(Session.metadata_, Kind.JSON),
    "created_at": FilterField(Session.created_at, Kind.DATETIME),
}


@dataclass(frozen=True)
class PeerConfig:
    """A peer's observation settings in a session; None leaves a stored value as it is."""

    observe_me: bool | None = None
    observe_others: bool | None = None


async def get_session(*, db: AsyncSession, workspace_id: str, session_id: str) -> Session:
    session = await db.get(Session, (workspace_id, session_id))
    if session is None:
        raise NotFound(f"Session {session_id} not found in workspace {workspace_id}")
    return session


async def get_or_create_session(
    *,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    metadata: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
    peers: Mapping[str, PeerConfig] | None = None,
) -> Session:
    """Return the session, creating it (and its workspace) if needed. On an existing session
    given metadata replaces the stored one and given configuration is merged into it. Given
    peers join (see `add_peers`)."""
    if metadata is None and configuration is None:
        session = await _session_with_members(db, workspace_id, session_id, peers or {})
        if session is not None:
            return session
    await ensure_workspace(db=db, workspace_id=workspace_id)
    await insert_missing(
        db,
        Session,
        [
            {
                "workspace_id": workspace_id,
                "id": session_id,
                "is_active": True,
                "metadata_": metadata or {},
                "configuration": configuration or {},
            }
        ],
    )
    session = await get_session(db=db, workspace_id=workspace_id, session_id=session_id)
    apply_changes(session, metadata, configuration, merge_configuration=True)
    if peers:
        await add_peers(db=db, workspace_id=workspace_id, session_id=session_id, peers=peers)
    await db.flush()
    return session


async def _session_with_members(
    db: AsyncSession, workspace_id: str, session_id: str, peers: Mapping[str, PeerConfig]
) -> Session | None:
    """The session when nothing of `get_or_create_session` would change it: it exists and
    each peer is a member now (joining changes nothing, and no observer is named, so no
    observer limit is checked). Two reads instead of seven statements: a message batch to a
    session its senders are in, the common write, holds SQLite's write lock that much less."""
    if any(config.observe_others for config in peers.values()):
        return None
    session = await db.get(Session, (workspace_id, session_id))
    if session is None or not peers:
        return session
    members = await db.scalar(
        select(func.count())
        .select_from(SessionPeer)
        .where(
            SessionPeer.workspace_id == workspace_id,
            SessionPeer.session_id == session_id,
            SessionPeer.peer_id.in_(list(peers)),
            SessionPeer.left_at.is_(None),
        )
    )
    return session if members == len(peers) else None


async def list_sessions(
    *,
    db: AsyncSession,
    workspace_id: str,
    filters: dict[str, Any] | None,
    page: int,
    size: int,
    peer_id: str | None = None,
    reverse: bool = False,
) -> Page[Session]:
    """Sessions of the workspace, or only those `peer_id` is or was a member of (Honcho's
    src/crud/peer.py get_sessions_for_peer keeps the sessions a peer left); an unknown
    workspace or peer has none (as in Honcho)."""
    where = await compile_filters(filters, FILTER_FIELDS, db.get_bind().dialect.name)
    stmt = select(Session).where(Session.workspace_id == workspace_id, where)
    if peer_id is not None:
        members = select(SessionPeer.session_id).where(
            SessionPeer.workspace_id == workspace_id, SessionPeer.peer_id == peer_id
        )
        stmt = stmt.where(Session.id.in_(members))
    order = ordered(reverse, Session.created_at, Session.id)
    return await paginate(db, stmt.order_by(*order), page=page, size=size)


def _memberships(workspace_id: str, session_id: str) -> Update:
    """An UPDATE of the session's membership rows, for the caller to narrow and set."""
    return update(SessionPeer).where(
        SessionPeer.workspace_id == workspace_id, SessionPeer.session_id == session_id
    )


async def is_member(*, db: AsyncSession, workspace_id: str, session_id: str, peer_id: str) -> bool:
    """Whether the peer is in the session now (one that left is not)."""
    row = await db.get(SessionPeer, (workspace_id, session_id, peer_id))
    return row is not None and row.left_at is None


async def add_peers(
    *,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    peers: Mapping[str, PeerConfig],
) -> None:
    """Peers join the session (missing peers are created), as in Honcho's
    `_get_or_add_peers_to_session`: a new member or one that had left joins now with the
    given config; a peer that is a member already keeps its stored config (and when it
    joined: Honcho moves `joined_at` too, see the README)."""
    await ensure_peers(db=db, workspace_id=workspace_id, peer_ids=peers)
    given = sum(1 for config in peers.values() if config.observe_others)
    if given:
        # Honcho counts the members not named here that observe, plus the observers named
        await _check_observer_limit(
            db=db,
            workspace_id=workspace_id,
            session_id=session_id,
            extra=given,
            excluding=list(peers),
        )
    await insert_missing(
        db,
        SessionPeer,
        [
            {
                "workspace_id": workspace_id,
                "session_id": session_id,
                "peer_id": p,
                "observe_me": config.observe_me,
                "observe_others": config.observe_others,
            }
            for p, config in peers.items()
        ],
    )
    now = utcnow()
    by_config: dict[PeerConfig, list[str]] = {}
    for peer_id, config in peers.items():  # one statement per config (a message batch: one)
        by_config.setdefault(config, []).append(peer_id)
    for config, peer_ids in by_config.items():
        await db.execute(
            _memberships(workspace_id, session_id)
            .where(SessionPeer.peer_id.in_(peer_ids), SessionPeer.left_at.is_not(None))
            .values(
                joined_at=now,
                left_at=None,
                observe_me=config.observe_me,
                observe_others=config.observe_others,
            )
        )


async def set_peers(
    *,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    peers: Mapping[str, PeerConfig],
) -> None:
    """Make `peers` exactly the session's members, as Honcho's set_peers_for_session does:
    every member leaves and the given peers join again, so all of them take the given
    config. A peer that stays keeps when it joined."""
    observers = sum(1 for config in peers.values() if config.observe_others)
    if observers > MAX_OBSERVERS_PER_SESSION:
        raise _too_many_observers(session_id, observers)
    await ensure_peers(db=db, workspace_id=workspace_id, peer_ids=peers)
    await _leave(db=db, workspace_id=workspace_id, session_id=session_id, peer_ids=None, but=peers)
    for peer_id, config in peers.items():  # those that stay: `add_peers` leaves members be
        await db.execute(
            _memberships(workspace_id, session_id)
            .where(SessionPeer.peer_id == peer_id, SessionPeer.current())
            .values(observe_me=config.observe_me, observe_others=config.observe_others)
        )
    await add_peers(db=db, workspace_id=workspace_id, session_id=session_id, peers=peers)


async def remove_peers(
    *, db: AsyncSession, workspace_id: str, session_id: str, peer_ids: list[str]
) -> None:
    """The peers leave the session: their rows stay, with `left_at` (Honcho's
    remove_peers_from_session); peers that are not members are ignored."""
    await _leave(db=db, workspace_id=workspace_id, session_id=session_id, peer_ids=peer_ids)


async def _leave(
    *,
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    peer_ids: list[str] | None,
    but: Mapping[str, PeerConfig] | None = None,
) -> None:
    """Members leave now: those in `peer_ids`, or all but those in `but`."""
    stmt = _memberships(workspace_id, session_id).where(SessionPeer.current())
    if peer_ids is not None:
        stmt = stmt.where(SessionPeer.peer_id.in_(peer_ids))
    if but:
        stmt = stmt.where(SessionPeer.peer_id.not_in(list(but)))
    await db.execute(stmt.values(left_at=utcnow()))


async def get_peer_config(
    *, db: AsyncSession, workspace_id: str, session_id: str, peer_id: str
) -> PeerConfig:
    """The peer's settings in the session as stored: None where never set (the defaults,
    observe_me true and observe_others false, then apply), as Honcho answers them; a peer that
    left still has its stored settings (as in Honcho's get_peer_config)."""
    row = await db.get(SessionPeer, (workspace_id, session_id, peer_id))
    if row is None:
        raise NotFound(f"Peer {peer_id} is not a member of session {session_id}")
    return PeerConfig(observe_me=row.observe_me, observe_others=row.observe_others)


async def set_peer_config(
    *, db: AsyncSession, workspace_id: str, session_id: str, peer_id: str, config: PeerConfig
) -> None:
    """Update the given settings of the peer's membership (values left None stay). As in
    Honcho's set_peer_config this does not make a peer that left join again, a peer of the
    workspace that was never in the session joins it with these settings, and a peer becoming
    an observer counts as one against the limit."""
    row = await db.get(SessionPeer, (workspace_id, session_id, peer_id))
    if row is None:
        await get_peer(db=db, workspace_id=workspace_id, peer_id=peer_id)
        await add_peers(  # checks the observer limit
            db=db, workspace_id=workspace_id, session_id=session_id, peers={peer_id: config}
        )
        return
    if config.observe_others and not row.observe_others:
        await _check_observer_limit(
            db=db, workspace_id=workspace_id, session_id=session_id, extra=1, excluding=[peer_id]
        )
    values = _config_values(config)
    if values:
        await db.execute(
            _memberships(workspace_id, session_id)
            .where(SessionPeer.peer_id == peer_id)
            .values(**values)
        )


async def clone_session(
    *, db: AsyncSession, workspace_id: str, session_id: str, up_to_message_id: str | None
) -> Session:
    """Copy the session (metadata, configuration, memberships) and its messages, up to and
    including `up_to_message_id` when given, into a new session with a generated id."""
    source = await get_session(db=db, workspace_id=workspace_id, session_id=session_id)
    last_seq: int | None = None
    if up_to_message_id is not None:
        last_seq = await db.scalar(
            select(Message.seq).where(
                Message.workspace_id == workspace_id,
                Message.session_id == session_id,
                Message.id == up_to_message_id,
            )
        )
        if last_seq is None:
            raise NotFound(f"Message {up_to_message_id} not found in session {session_id}")
    clone = Session(
        workspace_id=workspace_id,
        id=new_public_id(),
        is_active=source.is_active,
        metadata_=dict(source.metadata_),
        configuration=dict(source.configuration),
    )
    db.add(clone)
    await db.flush()
    messages = select(Message).where(
        Message.workspace_id == workspace_id, Message.session_id == session_id
    )
    if last_seq is not None:
        messages = messages.where(Message.seq <= last_seq)
    rows: list[dict[str, Any]] = [
        {
            "id": new_public_id(),
            "workspace_id": workspace_id,
            "session_id": clone.id,
            "peer_id": m.peer_id,
            "content": m.content,
            "metadata_": m.metadata_,
            "internal_metadata": m.internal_metadata | {"cloned_from": m.id},
            "token_count": m.token_count,
            "created_at": m.created_at,
        }
        for m in (await db.scalars(messages.order_by(Message.seq))).all()
    ]
    members = (
        await db.scalars(
            select(SessionPeer).where(
                SessionPeer.workspace_id == workspace_id, SessionPeer.session_id == session_id
            )
        )
    ).all()
    # Honcho's clone makes every copied member join now, with the copied messages stamped now,
    # so each member's peer_perspective sees all of them; the copies keep their times here, so
    # members join from the first of them. A peer that had left stays out of the clone (Honcho
    # lets it in again: see the README), with its time in the session kept.
    joined = min([utcnow(), *(r["created_at"] for r in rows)])
    await insert_missing(
        db,
        SessionPeer,
        [
            {
                "workspace_id": workspace_id,
                "session_id": clone.id,
                "peer_id": m.peer_id,
                "observe_me": m.observe_me,
                "observe_others": m.observe_others,
                "joined_at": joined if m.left_at is None else m.joined_at,
                "left_at": m.left_at,
            }
            for m in members
        ],
    )
    if rows:
        await db.execute(insert(Message), rows)
    return clone


async def _check_observer_limit(
    *, db: AsyncSession, workspace_id: str, session_id: str, extra: int, excluding: list[str]
) -> None:
    """Honcho's count: the members (not those that left) observing others, except
    `excluding`, plus `extra` observers about to be."""
    observers = await db.scalar(
        select(func.count()).where(
            SessionPeer.workspace_id == workspace_id,
            SessionPeer.session_id == session_id,
            SessionPeer.observe_others.is_(True),
            SessionPeer.peer_id.not_in(excluding),
            SessionPeer.current(),
        )
    )
    total = (observers or 0) + extra
    if total > MAX_OBSERVERS_PER_SESSION:
        raise _too_many_observers(session_id, total)


def _too_many_observers(session_id: str, observers: int) -> BadRequest:
    # Honcho's words, which clients may show or compare
    return BadRequest(
        f"Cannot create session {session_id} with {observers} observers. "
        f"Maximum allowed is {MAX_OBSERVERS_PER_SESSION} observers per session. "
        "Observers are peers with 'observe_others' set to true."
    )


def _config_values(config: PeerConfig) -> dict[str, bool]:
    values = {"observe_me": config.observe_me, "observe_others": config.observe_others}
    return {k: v for k, v in values.items() if v is not None}
