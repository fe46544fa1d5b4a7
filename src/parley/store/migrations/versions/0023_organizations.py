"""Peaka's partner hierarchy (organizations, their workspaces, where each project lives, the
organization of a partner key), a project's default refresh callback, embedded-UI session
tokens and OAuth2 grants. Existing projects move into the default workspace of a new default
organization, which partner keys without an organization belong to.

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-02
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from parley.store.models import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"],
        ["workspaces.id"],
        name=op.f(f"fk_{table}_project_id_workspaces"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=36), nullable=True),
        sa.Column("icon_file_id", sa.String(length=200), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "org_workspaces",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_org_workspaces_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_workspaces")),
    )
    op.create_index(
        op.f("ix_org_workspaces_organization_id"), "org_workspaces", ["organization_id"]
    )
    op.create_table(
        "org_workspace_projects",
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("org_workspace_id", sa.String(length=36), nullable=False),
        _project_fk("org_workspace_projects"),
        sa.ForeignKeyConstraint(
            ["org_workspace_id"],
            ["org_workspaces.id"],
            name=op.f("fk_org_workspace_projects_org_workspace_id_org_workspaces"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_org_workspace_projects")),
    )
    op.create_index(
        op.f("ix_org_workspace_projects_org_workspace_id"),
        "org_workspace_projects",
        ["org_workspace_id"],
    )
    op.create_table(
        "organization_keys",
        sa.Column("api_key_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_organization_keys_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", name=op.f("pk_organization_keys")),
    )
    op.create_index(
        op.f("ix_organization_keys_organization_id"), "organization_keys", ["organization_id"]
    )
    op.create_table(
        "refresh_callbacks",
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _project_fk("refresh_callbacks"),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_refresh_callbacks")),
    )
    op.create_table(
        "ui_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _project_fk("ui_sessions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_ui_sessions_token_hash")),
    )
    op.create_index(op.f("ix_ui_sessions_project_id"), "ui_sessions", ["project_id"])
    op.create_table(
        "oauth2_grants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("connector_type", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("grant", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _project_fk("oauth2_grants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth2_grants")),
    )
    op.create_index(op.f("ix_oauth2_grants_project_id"), "oauth2_grants", ["project_id"])
    _place_existing_projects()


def _place_existing_projects() -> None:
    """The default organization and its default workspace, holding every existing project."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    org_id, workspace_id = str(uuid.uuid4()), str(uuid.uuid4())
    organizations = sa.table(
        "organizations",
        sa.column("id"),
        sa.column("name"),
        sa.column("description"),
        sa.column("is_default"),
        sa.column("created_at", UTCDateTime()),
    )
    workspaces = sa.table(
        "org_workspaces",
        sa.column("id"),
        sa.column("organization_id"),
        sa.column("name"),
        sa.column("description"),
        sa.column("is_default"),
        sa.column("created_at", UTCDateTime()),
    )
    placed = sa.table(
        "org_workspace_projects", sa.column("project_id"), sa.column("org_workspace_id")
    )
    bind.execute(
        organizations.insert().values(
            id=org_id,
            name="Default Organization",
            description="Default Organization",
            is_default=True,
            created_at=now,
        )
    )
    bind.execute(
        workspaces.insert().values(
            id=workspace_id,
            organization_id=org_id,
            name="Default Workspace",
            description="Default Workspace",
            is_default=True,
            created_at=now,
        )
    )
    bind.execute(
        placed.insert().from_select(
            ["project_id", "org_workspace_id"],
            sa.select(sa.column("id"), sa.literal(workspace_id)).select_from(sa.table("projects")),
        )
    )


def downgrade() -> None:
    for table in (
        "oauth2_grants",
        "ui_sessions",
        "refresh_callbacks",
        "organization_keys",
        "org_workspace_projects",
        "org_workspaces",
        "organizations",
    ):
        op.drop_table(table)
