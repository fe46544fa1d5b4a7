"""Semantic catalogs (named catalogs of semantic tables, each a saved query seen as a table),
parametric tables (a catalog's table with some columns fixed to values) and catalog shares (a
catalog readable from another project of the same organization).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.store.models import UTCDateTime

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(length=512)
PUBLIC_ID = sa.String(length=21)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _fk(table: str, column: str, target: str, target_column: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.{target_column}"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "semantic_catalogs",
        sa.Column("id", PUBLIC_ID, nullable=False),
        sa.Column("project_id", NAME, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("semantic_catalogs", "project_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_semantic_catalogs")),
        sa.UniqueConstraint(
            "project_id", "name", name=op.f("uq_semantic_catalogs_project_id_name")
        ),
    )
    op.create_table(
        "semantic_tables",
        sa.Column("id", PUBLIC_ID, nullable=False),
        sa.Column("project_id", NAME, nullable=False),
        sa.Column("catalog_id", PUBLIC_ID, nullable=False),
        sa.Column("schema_name", sa.String(length=200), nullable=False),
        sa.Column("table_name", sa.String(length=200), nullable=False),
        sa.Column("query_id", PUBLIC_ID, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("columns", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("semantic_tables", "project_id", "workspaces"),
        _fk("semantic_tables", "catalog_id", "semantic_catalogs"),
        _fk("semantic_tables", "query_id", "saved_queries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_semantic_tables")),
        sa.UniqueConstraint(
            "catalog_id",
            "schema_name",
            "table_name",
            name=op.f("uq_semantic_tables_catalog_id_schema_name_table_name"),
        ),
    )
    op.create_index(op.f("ix_semantic_tables_project_id"), "semantic_tables", ["project_id"])
    op.create_index(op.f("ix_semantic_tables_query_id"), "semantic_tables", ["query_id"])
    op.create_table(
        "parametric_tables",
        sa.Column("id", PUBLIC_ID, nullable=False),
        sa.Column("project_id", NAME, nullable=False),
        sa.Column("catalog_id", PUBLIC_ID, nullable=False),
        sa.Column("from_schema", sa.String(length=200), nullable=False),
        sa.Column("from_table", sa.String(length=200), nullable=False),
        sa.Column("to_schema", sa.String(length=200), nullable=False),
        sa.Column("to_table", sa.String(length=200), nullable=False),
        sa.Column("param_values", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("parametric_tables", "project_id", "workspaces"),
        _fk("parametric_tables", "catalog_id", "data_catalogs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parametric_tables")),
        sa.UniqueConstraint(
            "catalog_id",
            "to_schema",
            "to_table",
            name=op.f("uq_parametric_tables_catalog_id_to_schema_to_table"),
        ),
    )
    op.create_index(op.f("ix_parametric_tables_project_id"), "parametric_tables", ["project_id"])
    op.create_table(
        "catalog_shares",
        sa.Column("id", PUBLIC_ID, nullable=False),
        sa.Column("project_id", NAME, nullable=False),
        sa.Column("catalog_id", PUBLIC_ID, nullable=True),
        sa.Column("semantic_catalog_id", PUBLIC_ID, nullable=True),
        sa.Column("target_project_id", NAME, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("catalog_shares", "project_id", "workspaces"),
        _fk("catalog_shares", "catalog_id", "data_catalogs"),
        _fk("catalog_shares", "semantic_catalog_id", "semantic_catalogs"),
        _fk("catalog_shares", "target_project_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_shares")),
        sa.UniqueConstraint(
            "catalog_id",
            "target_project_id",
            name=op.f("uq_catalog_shares_catalog_id_target_project_id"),
        ),
        sa.UniqueConstraint(
            "semantic_catalog_id",
            "target_project_id",
            name=op.f("uq_catalog_shares_semantic_catalog_id_target_project_id"),
        ),
    )
    op.create_index(
        op.f("ix_catalog_shares_target_project_id"), "catalog_shares", ["target_project_id"]
    )


def downgrade() -> None:
    for table in ("catalog_shares", "parametric_tables", "semantic_tables", "semantic_catalogs"):
        op.drop_table(table)
