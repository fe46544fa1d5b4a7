"""SQLAlchemy models: one set for SQLite and PostgreSQL.

Every row of the memory domain carries its `workspace_id`, and every foreign key includes it, so
a query scoped by workspace can never join into another tenant's rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import LargeBinary

from parley.store.pgvector_codec import PgVector

NAME = String(512)
PUBLIC_ID = String(21)

naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EmbeddingVector(TypeDecorator[Any]):
    """A float32 vector: a BLOB on SQLite, pgvector's `vector` on PostgreSQL. Python sees a
    1-d numpy float32 array. The dimension is not fixed in the column: the database records
    the embedding model it was built with (`parley_meta`), and the PostgreSQL HNSW index is an
    expression index over `embedding::vector(<dims>)`. On PostgreSQL the array goes to the wire
    in pgvector's binary format (`store/pgvector_codec.py`), never as text."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PgVector())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        import numpy as np

        array = np.asarray(value, dtype=np.float32)
        return array if dialect.name == "postgresql" else array.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        import numpy as np

        if isinstance(value, bytes | memoryview):
            return np.frombuffer(value, dtype=np.float32)
        return np.asarray(value, dtype=np.float32)


JSONDict = JSON().with_variant(JSONB(), "postgresql")
SEQ = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=naming_convention)
    type_annotation_map = {dict[str, Any]: JSONDict, datetime: UTCDateTime()}


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(NAME, primary_key=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Peer(Base):
    __tablename__ = "peers"

    workspace_id: Mapped[str] = mapped_column(
        NAME, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(NAME, primary_key=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Session(Base):
    __tablename__ = "sessions"

    workspace_id: Mapped[str] = mapped_column(
        NAME, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(NAME, primary_key=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SessionPeer(Base):
    """A peer's membership of a session, with its observation settings (None = default).
    A peer that leaves keeps its row with `left_at` set (as in Honcho); it is a member while
    `left_at` is None, and rejoining clears it."""

    __tablename__ = "session_peers"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "session_id"],
            ["sessions.workspace_id", "sessions.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "peer_id"], ["peers.workspace_id", "peers.id"], ondelete="CASCADE"
        ),
        Index(None, "workspace_id", "peer_id"),
    )

    workspace_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    session_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    peer_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    observe_me: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    observe_others: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(nullable=True)

    @classmethod
    def current(cls) -> ColumnElement[bool]:
        """Memberships that have not ended: the peer is in the session now."""
        return cls.left_at.is_(None)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "session_id"],
            ["sessions.workspace_id", "sessions.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "peer_id"], ["peers.workspace_id", "peers.id"], ondelete="CASCADE"
        ),
        Index(None, "workspace_id", "session_id", "seq"),
        Index(None, "workspace_id", "peer_id", "seq"),
        # Never reuse a deleted row's seq: caches detect change by (count, max seq).
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True)
    workspace_id: Mapped[str] = mapped_column(NAME)
    session_id: Mapped[str] = mapped_column(NAME)
    peer_id: Mapped[str] = mapped_column(NAME)
    content: Mapped[str] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    internal_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    token_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("workspace_id", "url"),)

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(NAME, ForeignKey("workspaces.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageEmbedding(Base):
    """A message's vector, written by the embedding indexer shortly after the message."""

    __tablename__ = "message_embeddings"
    __table_args__ = (Index(None, "workspace_id", "seq"),)

    seq: Mapped[int] = mapped_column(
        SEQ, ForeignKey("messages.seq", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(NAME)
    session_id: Mapped[str] = mapped_column(NAME)
    peer_id: Mapped[str] = mapped_column(NAME)
    embedding: Mapped[Any] = mapped_column(EmbeddingVector())


class Meta(Base):
    """Facts the database must keep about how it was built (e.g. its embedding model)."""

    __tablename__ = "parley_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()


class Observation(Base):
    """A fact one peer holds about another (or itself), with its vector for semantic search.

    `level` is explicit, deductive, inductive or contradiction; a derived repeat is merged by
    raising `times_derived` instead of storing the fact again, and a changed fact supersedes
    the one it replaces (`superseded_by`), which stays as history (memory/fact_identity.py)."""

    __tablename__ = "observations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "observer_id"],
            ["peers.workspace_id", "peers.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "observed_id"],
            ["peers.workspace_id", "peers.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "session_id"],
            ["sessions.workspace_id", "sessions.id"],
            ondelete="CASCADE",
        ),
        # deleting the observation that replaced this one makes this one current again
        ForeignKeyConstraint(["superseded_by"], ["observations.id"], ondelete="SET NULL"),
        Index(None, "workspace_id", "observer_id", "observed_id"),
        # covers the (count, superseded, newest) check of the in-memory pair cache
        # (observation_index; migration 0014 added superseded_by)
        Index(
            "ix_observations_pair_created_superseded",
            "workspace_id",
            "observer_id",
            "observed_id",
            "created_at",
            "superseded_by",
        ),
        # the history of one observation, and the foreign key's lookups on delete
        Index(
            "ix_observations_superseded_by",
            "superseded_by",
            sqlite_where=text("superseded_by IS NOT NULL"),
            postgresql_where=text("superseded_by IS NOT NULL"),
        ),
        # the most derived and a session's newest, read in order (migration 0012)
        Index(
            "ix_observations_pair_times_derived",
            "workspace_id",
            "observer_id",
            "observed_id",
            "times_derived",
            "created_at",
        ),
        Index(
            "ix_observations_pair_session",
            "workspace_id",
            "observer_id",
            "observed_id",
            "session_id",
            "created_at",
        ),
        Index(None, "workspace_id", "session_id"),
        Index(None, "workspace_id", "observed_id"),
    )

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(NAME)
    observer_id: Mapped[str] = mapped_column(NAME)
    observed_id: Mapped[str] = mapped_column(NAME)
    session_id: Mapped[str | None] = mapped_column(NAME, nullable=True)
    content: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(20), default="explicit")
    premises: Mapped[list[str]] = mapped_column(JSONDict, default=list)
    message_ids: Mapped[list[str]] = mapped_column(JSONDict, default=list)
    times_derived: Mapped[int] = mapped_column(Integer, default=1)
    embedding: Mapped[Any] = mapped_column(EmbeddingVector())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the observation that replaced this one (a changed fact); None while it is current
    superseded_by: Mapped[str | None] = mapped_column(PUBLIC_ID, nullable=True, default=None)


class MessageEmbeddingCount(Base):
    """How many message embeddings a workspace has had inserted and deleted, kept by SQLite
    triggers (migration 0004) in the same transaction as the change. The in-memory vector index
    compares these instead of counting rows on every search. Unused on PostgreSQL."""

    __tablename__ = "message_embedding_counts"

    workspace_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    inserted: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[int] = mapped_column(BigInteger, default=0)


class WorkItem(Base):
    """One task of the durable work queue, enqueued in the transaction of the write that
    causes it. Items sharing a `work_unit_key` run in `id` order, one unit at a time (see
    `store/queue.py`). `status`: pending, in_progress, done, failed."""

    __tablename__ = "work_items"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "session_id"],
            ["sessions.workspace_id", "sessions.id"],
            ondelete="CASCADE",
        ),
        Index(None, "status", "id"),
        Index(None, "work_unit_key", "status", "id"),
        Index(None, "workspace_id", "status"),
        Index(None, "task_type", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(NAME, ForeignKey("workspaces.id", ondelete="CASCADE"))
    task_type: Mapped[str] = mapped_column(String(20))
    work_unit_key: Mapped[str] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(NAME, nullable=True)
    sender_id: Mapped[str | None] = mapped_column(NAME, nullable=True)
    observer_id: Mapped[str | None] = mapped_column(NAME, nullable=True)
    message_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WorkUnitLease(Base):
    """Who runs a work unit, until when. A worker that dies leaves a lease that expires; the
    next claim takes the unit over and redoes its unfinished items."""

    __tablename__ = "work_unit_leases"

    work_unit_key: Mapped[str] = mapped_column(Text, primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))  # the claim's token, or "backoff"
    expires_at: Mapped[datetime] = mapped_column()


class SessionSummary(Base):
    """A rolling summary of a session up to one message; the newest of each kind is current."""

    __tablename__ = "session_summaries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "session_id"],
            ["sessions.workspace_id", "sessions.id"],
            ondelete="CASCADE",
        ),
        Index(None, "workspace_id", "session_id", "kind", "message_seq"),
    )

    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(NAME)
    session_id: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(10))
    content: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(PUBLIC_ID)
    message_seq: Mapped[int] = mapped_column(BigInteger)
    token_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PeerCard(Base):
    """The short list of stable facts an observer keeps about a peer (itself by default)."""

    __tablename__ = "peer_cards"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "observer_id"],
            ["peers.workspace_id", "peers.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "observed_id"],
            ["peers.workspace_id", "peers.id"],
            ondelete="CASCADE",
        ),
    )

    workspace_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    observer_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    observed_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    facts: Mapped[list[str]] = mapped_column(JSONDict, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelUsage(Base):
    """Model calls and tokens spent per workspace, role and model, added up as work commits."""

    __tablename__ = "model_usage"

    workspace_id: Mapped[str] = mapped_column(
        NAME, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)


# The data and agent domains' models live in their own modules; importing them here
# registers them on Base.metadata for the migrations and their test.
from parley.store import agent_models as _agent_models  # noqa: E402,F401
from parley.store import cache_models as _cache_models  # noqa: E402,F401
from parley.store import data_models as _data_models  # noqa: E402,F401
from parley.store import org_models as _org_models  # noqa: E402,F401
