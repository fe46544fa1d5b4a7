"""Reasoning: the durable work queue and its leases, session summaries, peer cards, model
usage per workspace, and an index for the observation pair cache.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.store.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(length=512)
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _session_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id", "session_id"],
        ["sessions.workspace_id", "sessions.id"],
        name=op.f(f"fk_{table}_workspace_id_session_id_sessions"),
        ondelete="CASCADE",
    )


def _peer_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id", column],
        ["peers.workspace_id", "peers.id"],
        name=op.f(f"fk_{table}_workspace_id_{column}_peers"),
        ondelete="CASCADE",
    )


OBSERVATION_PAIR_TIME = "ix_observations_workspace_id_observer_id_observed_id_created_at"
OBSERVATION_PAIR_DERIVED = "ix_observations_workspace_id_observer_id_observed_id_times_derived"


def upgrade() -> None:
    op.create_index(
        op.f(OBSERVATION_PAIR_TIME),
        "observations",
        ["workspace_id", "observer_id", "observed_id", "created_at"],
    )
    op.create_index(
        op.f(OBSERVATION_PAIR_DERIVED),
        "observations",
        ["workspace_id", "observer_id", "observed_id", "times_derived"],
    )
    op.create_table(
        "work_items",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("task_type", sa.String(length=20), nullable=False),
        sa.Column("work_unit_key", sa.Text(), nullable=False),
        sa.Column("session_id", NAME, nullable=True),
        sa.Column("sender_id", NAME, nullable=True),
        sa.Column("observer_id", NAME, nullable=True),
        sa.Column("message_seq", sa.BigInteger(), nullable=True),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        _session_fk("work_items"),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_work_items_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_items")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_work_items_status_id"), "work_items", ["status", "id"])
    op.create_index(
        op.f("ix_work_items_work_unit_key_status_id"),
        "work_items",
        ["work_unit_key", "status", "id"],
    )
    op.create_index(
        op.f("ix_work_items_workspace_id_status"), "work_items", ["workspace_id", "status"]
    )
    op.create_table(
        "work_unit_leases",
        sa.Column("work_unit_key", sa.Text(), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("work_unit_key", name=op.f("pk_work_unit_leases")),
    )
    op.create_table(
        "session_summaries",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("session_id", NAME, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=21), nullable=False),
        sa.Column("message_seq", sa.BigInteger(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _session_fk("session_summaries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_summaries")),
    )
    op.create_index(
        op.f("ix_session_summaries_workspace_id_session_id_kind_message_seq"),
        "session_summaries",
        ["workspace_id", "session_id", "kind", "message_seq"],
    )
    op.create_table(
        "peer_cards",
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("observer_id", NAME, nullable=False),
        sa.Column("observed_id", NAME, nullable=False),
        sa.Column("facts", _json(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _peer_fk("peer_cards", "observed_id"),
        _peer_fk("peer_cards", "observer_id"),
        sa.PrimaryKeyConstraint(
            "workspace_id", "observer_id", "observed_id", name=op.f("pk_peer_cards")
        ),
    )
    op.create_table(
        "model_usage",
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_model_usage_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "role", "model", name=op.f("pk_model_usage")),
    )


def downgrade() -> None:
    op.drop_index(op.f(OBSERVATION_PAIR_DERIVED), table_name="observations")
    op.drop_index(op.f(OBSERVATION_PAIR_TIME), table_name="observations")
    op.drop_table("model_usage")
    op.drop_table("peer_cards")
    op.drop_index(
        op.f("ix_session_summaries_workspace_id_session_id_kind_message_seq"),
        table_name="session_summaries",
    )
    op.drop_table("session_summaries")
    op.drop_table("work_unit_leases")
    for index in ("workspace_id_status", "work_unit_key_status_id", "status_id"):
        op.drop_index(op.f(f"ix_work_items_{index}"), table_name="work_items")
    op.drop_table("work_items")
