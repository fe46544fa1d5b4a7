"""Data projects: projects, Peaka API keys, connections, catalogs, tables, columns, relations,
golden SQLs and saved queries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 06:08:39.509624
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.store.models import EmbeddingVector, UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workspaces.id"],
            name=op.f("fk_api_keys_project_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_project_id"), "api_keys", ["project_id"], unique=False)

    op.create_table(
        "data_connections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("credential", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workspaces.id"],
            name=op.f("fk_data_connections_project_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_connections")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_data_connections_project_id_name")),
    )
    op.create_table(
        "golden_sqls",
        sa.Column("id", sa.String(length=21), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("embedding", EmbeddingVector(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workspaces.id"],
            name=op.f("fk_golden_sqls_project_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_golden_sqls")),
    )
    op.create_index(op.f("ix_golden_sqls_project_id"), "golden_sqls", ["project_id"], unique=False)

    op.create_table(
        "projects",
        sa.Column("id", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id"], ["workspaces.id"], name=op.f("fk_projects_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_table(
        "saved_queries",
        sa.Column("id", sa.String(length=21), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("input_query", sa.Text(), nullable=False),
        sa.Column("query_type", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workspaces.id"],
            name=op.f("fk_saved_queries_project_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_queries")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_saved_queries_project_id_name")),
    )
    op.create_table(
        "data_catalogs",
        sa.Column("id", sa.String(length=21), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("catalog_type", sa.String(length=40), nullable=False),
        sa.Column("refresh_status", sa.String(length=20), nullable=False),
        sa.Column("refresh_error", sa.Text(), nullable=True),
        sa.Column("refreshed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["data_connections.id"],
            name=op.f("fk_data_catalogs_connection_id_data_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workspaces.id"],
            name=op.f("fk_data_catalogs_project_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_catalogs")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_data_catalogs_project_id_name")),
    )
    op.create_index(
        op.f("ix_data_catalogs_connection_id"), "data_catalogs", ["connection_id"], unique=False
    )

    op.create_table(
        "data_relations",
        sa.Column("id", sa.String(length=21), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("catalog_id", sa.String(length=21), nullable=False),
        sa.Column("schema_name", sa.String(length=200), nullable=False),
        sa.Column("table_name", sa.String(length=200), nullable=False),
        sa.Column("column_name", sa.String(length=200), nullable=False),
        sa.Column("target_catalog_id", sa.String(length=21), nullable=False),
        sa.Column("target_schema_name", sa.String(length=200), nullable=False),
        sa.Column("target_table_name", sa.String(length=200), nullable=False),
        sa.Column("target_column_name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["catalog_id"],
            ["data_catalogs.id"],
            name=op.f("fk_data_relations_catalog_id_data_catalogs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_relations")),
    )
    op.create_index(
        op.f("ix_data_relations_project_id_catalog_id"),
        "data_relations",
        ["project_id", "catalog_id"],
        unique=False,
    )

    op.create_table(
        "data_tables",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("catalog_id", sa.String(length=21), nullable=False),
        sa.Column("schema_name", sa.String(length=200), nullable=False),
        sa.Column("table_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("use_with_ai", sa.Boolean(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column(
            "sample_rows",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("embedding", EmbeddingVector(), nullable=True),
        sa.ForeignKeyConstraint(
            ["catalog_id"],
            ["data_catalogs.id"],
            name=op.f("fk_data_tables_catalog_id_data_catalogs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_tables")),
        sa.UniqueConstraint(
            "catalog_id",
            "schema_name",
            "table_name",
            name=op.f("uq_data_tables_catalog_id_schema_name_table_name"),
        ),
    )
    op.create_index(op.f("ix_data_tables_project_id"), "data_tables", ["project_id"], unique=False)

    op.create_table(
        "data_columns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data_type", sa.String(length=100), nullable=False),
        sa.Column("is_not_null", sa.Boolean(), nullable=False),
        sa.Column("is_unique", sa.Boolean(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("default_value", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("distinct_fraction", sa.Float(), nullable=True),
        sa.Column(
            "categorical_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "sample_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["table_id"],
            ["data_tables.id"],
            name=op.f("fk_data_columns_table_id_data_tables"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_columns")),
        sa.UniqueConstraint("table_id", "name", name=op.f("uq_data_columns_table_id_name")),
    )


def downgrade() -> None:
    op.drop_table("data_columns")
    op.drop_index(op.f("ix_data_tables_project_id"), table_name="data_tables")

    op.drop_table("data_tables")
    op.drop_index(op.f("ix_data_relations_project_id_catalog_id"), table_name="data_relations")

    op.drop_table("data_relations")
    op.drop_index(op.f("ix_data_catalogs_connection_id"), table_name="data_catalogs")

    op.drop_table("data_catalogs")
    op.drop_table("saved_queries")
    op.drop_table("projects")
    op.drop_index(op.f("ix_golden_sqls_project_id"), table_name="golden_sqls")

    op.drop_table("golden_sqls")
    op.drop_table("data_connections")
    op.drop_index(op.f("ix_api_keys_project_id"), table_name="api_keys")

    op.drop_table("api_keys")
