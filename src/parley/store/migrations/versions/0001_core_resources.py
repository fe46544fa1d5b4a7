"""Core resources: workspaces, peers, sessions, session peers, messages, webhook endpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.store.models import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(length=512)
PUBLIC_ID = sa.String(length=21)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _created_at(name: str = "created_at") -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=False)


def _metadata_and_configuration() -> list[sa.Column]:
    return [
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("configuration", _json(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", NAME, nullable=False),
        *_metadata_and_configuration(),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    op.create_table(
        "peers",
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("id", NAME, nullable=False),
        *_metadata_and_configuration(),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_peers_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_peers")),
    )
    op.create_table(
        "sessions",
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("id", NAME, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_metadata_and_configuration(),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_sessions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_sessions")),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", PUBLIC_ID, nullable=False),
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_webhook_endpoints_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        sa.UniqueConstraint(
            "workspace_id", "url", name=op.f("uq_webhook_endpoints_workspace_id_url")
        ),
    )
    op.create_table(
        "messages",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", PUBLIC_ID, nullable=False),
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("session_id", NAME, nullable=False),
        sa.Column("peer_id", NAME, nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("internal_metadata", _json(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["workspace_id", "peer_id"],
            ["peers.workspace_id", "peers.id"],
            name=op.f("fk_messages_workspace_id_peer_id_peers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "session_id"],
            ["sessions.workspace_id", "sessions.id"],
            name=op.f("fk_messages_workspace_id_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_messages")),
        sa.UniqueConstraint("id", name=op.f("uq_messages_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_messages_workspace_id_peer_id_seq"),
        "messages",
        ["workspace_id", "peer_id", "seq"],
    )
    op.create_index(
        op.f("ix_messages_workspace_id_session_id_seq"),
        "messages",
        ["workspace_id", "session_id", "seq"],
    )
    op.create_table(
        "session_peers",
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("session_id", NAME, nullable=False),
        sa.Column("peer_id", NAME, nullable=False),
        sa.Column("observe_me", sa.Boolean(), nullable=True),
        sa.Column("observe_others", sa.Boolean(), nullable=True),
        _created_at("joined_at"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "peer_id"],
            ["peers.workspace_id", "peers.id"],
            name=op.f("fk_session_peers_workspace_id_peer_id_peers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "session_id"],
            ["sessions.workspace_id", "sessions.id"],
            name=op.f("fk_session_peers_workspace_id_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "session_id", "peer_id", name=op.f("pk_session_peers")
        ),
    )
    op.create_index(
        op.f("ix_session_peers_workspace_id_peer_id"), "session_peers", ["workspace_id", "peer_id"]
    )


def downgrade() -> None:
    for table in ("session_peers", "messages", "webhook_endpoints", "sessions", "peers"):
        op.drop_table(table)
    op.drop_table("workspaces")
