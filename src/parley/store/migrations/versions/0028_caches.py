"""Cached tables and materialized queries: the local copies (`data_caches`) and their refresh
history (`data_cache_runs`).

Revision ID: 0028
Revises: 0023
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.store.models import UTCDateTime

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "data_caches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("catalog_id", sa.String(length=21), nullable=True),
        sa.Column("schema_name", sa.String(length=200), nullable=True),
        sa.Column("table_name", sa.String(length=200), nullable=True),
        sa.Column("incremental_column", sa.String(length=200), nullable=True),
        sa.Column("query_id", sa.String(length=21), nullable=True),
        sa.Column("full_schedule", _json(), nullable=True),
        sa.Column("incremental_schedule", _json(), nullable=True),
        sa.Column("next_full_at", UTCDateTime(), nullable=True),
        sa.Column("next_incremental_at", UTCDateTime(), nullable=True),
        sa.Column("file", sa.String(length=300), nullable=True),
        sa.Column("columns", _json(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("last_offset", sa.Text(), nullable=True),
        sa.Column("refreshed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workspaces.id"],
            name=op.f("fk_data_caches_project_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["catalog_id"],
            ["data_catalogs.id"],
            name=op.f("fk_data_caches_catalog_id_data_catalogs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["query_id"],
            ["saved_queries.id"],
            name=op.f("fk_data_caches_query_id_saved_queries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_caches")),
        sa.UniqueConstraint(
            "project_id",
            "catalog_id",
            "schema_name",
            "table_name",
            name=op.f("uq_data_caches_project_id_catalog_id_schema_name_table_name"),
        ),
        sa.UniqueConstraint(
            "project_id", "query_id", name=op.f("uq_data_caches_project_id_query_id")
        ),
    )
    op.create_index(op.f("ix_data_caches_next_full_at"), "data_caches", ["next_full_at"])
    op.create_index(
        op.f("ix_data_caches_next_incremental_at"), "data_caches", ["next_incremental_at"]
    )
    op.create_table(
        "data_cache_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("cache_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error", _json(), nullable=True),
        sa.Column("cached_records", sa.BigInteger(), nullable=False),
        sa.Column("inserted_records", sa.BigInteger(), nullable=False),
        sa.Column("last_offset", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cache_id"],
            ["data_caches.id"],
            name=op.f("fk_data_cache_runs_cache_id_data_caches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_cache_runs")),
    )
    op.create_index(
        op.f("ix_data_cache_runs_cache_id_created_at"),
        "data_cache_runs",
        ["cache_id", "created_at"],
    )
    op.create_index(op.f("ix_data_cache_runs_project_id"), "data_cache_runs", ["project_id"])


def downgrade() -> None:
    op.drop_table("data_cache_runs")
    op.drop_table("data_caches")
