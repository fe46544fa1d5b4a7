"""Models of Peaka's partner hierarchy and of the small per-project settings next to it:
organizations hold workspaces, a workspace holds projects (`org_workspace_projects`, one row a
project); a partner key belongs to one organization (`organization_keys`; a partner key without
a row belongs to the default organization). Also: a project's default metadata refresh
callback, embedded-UI session tokens (hashed) and OAuth2 grants (sealed).

"Workspace" here is Peaka's organization workspace, not the memory workspace a project is: the
tables say `org_workspaces` so that the two never share a name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.store.models import NAME, Base, utcnow

WORKSPACE_FK = "workspaces.id"  # the memory workspace a project is


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(36), nullable=True)
    icon_file_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrgWorkspace(Base):
    __tablename__ = "org_workspaces"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrgWorkspaceProject(Base):
    """Where a project lives. A workspace with projects cannot be deleted (RESTRICT)."""

    __tablename__ = "org_workspace_projects"

    project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), primary_key=True
    )
    org_workspace_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("org_workspaces.id", ondelete="RESTRICT"), index=True
    )


class OrganizationKey(Base):
    """The organization of a partner key (one without a row: the default organization)."""

    __tablename__ = "organization_keys"

    api_key_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )


class RefreshCallback(Base):
    """A project's default metadata refresh callback; `token` is sealed like credentials."""

    __tablename__ = "refresh_callbacks"

    project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(Text)
    token: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UiSession(Base):
    """An embedded-UI session token of one project: only its SHA-256 is kept."""

    __tablename__ = "ui_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OAuth2Grant(Base):
    """What an OAuth2 redirection handed over for a connector type (sealed)."""

    __tablename__ = "oauth2_grants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), index=True
    )
    connector_type: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    grant: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
