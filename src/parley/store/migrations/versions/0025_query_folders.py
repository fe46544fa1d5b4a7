"""Query folders: folders (and subfolders) of a project's saved queries, and the folder each
saved query is in (`saved_queries.folder_id`, NULL at the root: every existing query starts
there). Names are unique among siblings; at the root, where parent_id is NULL, a partial unique
index does what the unique constraint cannot.

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from parley.store.models import UTCDateTime

revision: str = "0025"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_saved_queries_folder_id_query_folders"
ROOT = sa.text("parent_id IS NULL")


def upgrade() -> None:
    op.create_table(
        "query_folders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workspaces.id"],
            name=op.f("fk_query_folders_project_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["query_folders.id"],
            name=op.f("fk_query_folders_parent_id_query_folders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_folders")),
        sa.UniqueConstraint("parent_id", "name", name=op.f("uq_query_folders_parent_id_name")),
    )
    op.create_index(op.f("ix_query_folders_project_id"), "query_folders", ["project_id"])
    op.create_index(
        "uq_query_folders_project_id_name_root",
        "query_folders",
        ["project_id", "name"],
        unique=True,
        sqlite_where=ROOT,
        postgresql_where=ROOT,
    )
    # SQLite rebuilds the table (batch mode) to add the foreign key; PostgreSQL alters it
    with op.batch_alter_table("saved_queries") as batch:
        batch.add_column(sa.Column("folder_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key(FK, "query_folders", ["folder_id"], ["id"], ondelete="SET NULL")
    op.create_index(op.f("ix_saved_queries_folder_id"), "saved_queries", ["folder_id"])


def downgrade() -> None:
    # the queries stay; only where they were filed goes
    op.drop_index(op.f("ix_saved_queries_folder_id"), table_name="saved_queries")
    with op.batch_alter_table("saved_queries") as batch:
        batch.drop_constraint(FK, type_="foreignkey")
        batch.drop_column("folder_id")
    op.drop_index("uq_query_folders_project_id_name_root", table_name="query_folders")
    op.drop_index(op.f("ix_query_folders_project_id"), table_name="query_folders")
    op.drop_table("query_folders")
