"""Models of the data domain: Peaka projects, their API keys, connections, catalogs with their
introspected tables and columns, the metadata the data agent reads, and saved queries.

A project is a workspace (same id): every row carries `project_id`, a foreign key to
`workspaces.id`, so deleting the workspace deletes the project's data too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from parley.store.models import NAME, PUBLIC_ID, Base, EmbeddingVector, JSONDict, utcnow

WORKSPACE_FK = "workspaces.id"


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A Peaka-style key `<prefix>.<secret>`: only the SHA-256 of the whole key is kept.
    `project_id` None is a partner key (every project)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(8), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataConnection(Base):
    """A link to a data source; `credential` is Fernet ciphertext under the server secret."""

    __tablename__ = "data_connections"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    credential: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataCatalog(Base):
    __tablename__ = "data_catalogs"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("data_connections.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    catalog_type: Mapped[str] = mapped_column(String(40))
    refresh_status: Mapped[str] = mapped_column(String(20), default="NOT_ACTIVE")
    refresh_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataTable(Base):
    """An introspected table, with what people and the agent know about it."""

    __tablename__ = "data_tables"
    __table_args__ = (
        UniqueConstraint("catalog_id", "schema_name", "table_name"),
        Index(None, "project_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(NAME)
    catalog_id: Mapped[str] = mapped_column(
        PUBLIC_ID, ForeignKey("data_catalogs.id", ondelete="CASCADE")
    )
    schema_name: Mapped[str] = mapped_column(String(200))
    table_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    use_with_ai: Mapped[bool] = mapped_column(Boolean, default=True)
    row_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sample_rows: Mapped[list[Any]] = mapped_column(JSONDict, default=list)
    embedding: Mapped[Any | None] = mapped_column(EmbeddingVector(), nullable=True)


class DataColumn(Base):
    __tablename__ = "data_columns"
    __table_args__ = (UniqueConstraint("table_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("data_tables.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    data_type: Mapped[str] = mapped_column(String(100))
    is_not_null: Mapped[bool] = mapped_column(Boolean, default=False)
    is_unique: Mapped[bool] = mapped_column(Boolean, default=False)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    default_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    distinct_fraction: Mapped[float | None] = mapped_column(Float, nullable=True)
    categorical_values: Mapped[list[Any] | None] = mapped_column(JSONDict, nullable=True)
    # who chose the categorical values: None automatic (from the data on each refresh), N > 0
    # generated on request with limit N (recomputed with N on refresh), 0 turned off on request
    categorical_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sample_values: Mapped[list[Any]] = mapped_column(JSONDict, default=list)


class DataRelation(Base):
    """A foreign key between two columns: found by introspection, or added by hand."""

    __tablename__ = "data_relations"
    __table_args__ = (Index(None, "project_id", "catalog_id"),)

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME)
    catalog_id: Mapped[str] = mapped_column(
        PUBLIC_ID, ForeignKey("data_catalogs.id", ondelete="CASCADE")
    )
    schema_name: Mapped[str] = mapped_column(String(200))
    table_name: Mapped[str] = mapped_column(String(200))
    column_name: Mapped[str] = mapped_column(String(200))
    target_catalog_id: Mapped[str] = mapped_column(PUBLIC_ID)
    target_schema_name: Mapped[str] = mapped_column(String(200))
    target_table_name: Mapped[str] = mapped_column(String(200))
    target_column_name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40), default="MANY_TO_ONE")
    origin: Mapped[str] = mapped_column(String(20), default="manual")


class GoldenSql(Base):
    """A question and the SQL that answers it, embedded for semantic search."""

    __tablename__ = "golden_sqls"

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), index=True
    )
    prompt: Mapped[str] = mapped_column(Text)
    sql: Mapped[str] = mapped_column(Text)
    embedding: Mapped[Any] = mapped_column(EmbeddingVector())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedQuery(Base):
    __tablename__ = "saved_queries"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    input_query: Mapped[str] = mapped_column(Text)
    query_type: Mapped[str] = mapped_column(String(20), default="PLAIN")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the query folder it is in (None: the root); see QueryFolder
    folder_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("query_folders.id", ondelete="SET NULL"), nullable=True, index=True
    )


ROOT_FOLDER = text("parent_id IS NULL")


class QueryFolder(Base):
    """A folder of saved queries; folders nest (`parent_id`, None at the root). A folder's path
    is the names from the root down, computed, never stored, so a rename or a move changes one
    row. Names are unique among siblings: the unique constraint covers folders under a parent,
    the partial index the root (where parent_id is NULL, which a constraint would not compare)."""

    __tablename__ = "query_folders"
    __table_args__ = (
        UniqueConstraint("parent_id", "name"),
        Index(
            "uq_query_folders_project_id_name_root",
            "project_id",
            "name",
            unique=True,
            sqlite_where=ROOT_FOLDER,
            postgresql_where=ROOT_FOLDER,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("query_folders.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- semantic catalogs, parametric tables, catalog shares (migration 0027) -----------------


class SemanticCatalog(Base):
    """A named catalog of semantic tables: no connection of its own, each table is a saved
    query of the project, queryable as `<catalog>.<schema>.<table>`."""

    __tablename__ = "semantic_catalogs"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SemanticTable(Base):
    """A saved query seen as a table; `columns` ([name, type] pairs) are what the query
    answered when the table was defined. Deleting the query deletes the table."""

    __tablename__ = "semantic_tables"
    __table_args__ = (UniqueConstraint("catalog_id", "schema_name", "table_name"),)

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), index=True
    )
    catalog_id: Mapped[str] = mapped_column(
        PUBLIC_ID, ForeignKey("semantic_catalogs.id", ondelete="CASCADE")
    )
    schema_name: Mapped[str] = mapped_column(String(200))
    table_name: Mapped[str] = mapped_column(String(200))
    query_id: Mapped[str] = mapped_column(
        PUBLIC_ID, ForeignKey("saved_queries.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    columns: Mapped[list[Any]] = mapped_column(JSONDict, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ParametricTable(Base):
    """A table of a catalog with some columns fixed to values (`param_values`: [{key, value}]),
    queryable as `<catalog>.<to_schema>.<to_table>`."""

    __tablename__ = "parametric_tables"
    __table_args__ = (UniqueConstraint("catalog_id", "to_schema", "to_table"),)

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), index=True
    )
    catalog_id: Mapped[str] = mapped_column(
        PUBLIC_ID, ForeignKey("data_catalogs.id", ondelete="CASCADE")
    )
    from_schema: Mapped[str] = mapped_column(String(200))
    from_table: Mapped[str] = mapped_column(String(200))
    to_schema: Mapped[str] = mapped_column(String(200))
    to_table: Mapped[str] = mapped_column(String(200))
    param_values: Mapped[list[Any]] = mapped_column(JSONDict, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogShare(Base):
    """A catalog (or a semantic catalog) of `project_id` readable from `target_project_id`;
    deleting either project or the catalog deletes the share."""

    __tablename__ = "catalog_shares"
    __table_args__ = (
        UniqueConstraint("catalog_id", "target_project_id"),
        UniqueConstraint("semantic_catalog_id", "target_project_id"),
    )

    id: Mapped[str] = mapped_column(PUBLIC_ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"))
    catalog_id: Mapped[str | None] = mapped_column(
        PUBLIC_ID, ForeignKey("data_catalogs.id", ondelete="CASCADE"), nullable=True
    )
    semantic_catalog_id: Mapped[str | None] = mapped_column(
        PUBLIC_ID, ForeignKey("semantic_catalogs.id", ondelete="CASCADE"), nullable=True
    )
    target_project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataExport(Base):
    """An export of a saved query or a table to a file (CSV or JSONL, maybe gzipped), run as a
    background job (`parley.data.exports`). `statement` is the SQL as it was when the export
    was asked for (an export is a point-in-time snapshot); `options` holds the request's
    columns, limit and CSV options. The file lives under <data_dir>/exports/<project>/."""

    __tablename__ = "data_exports"
    __table_args__ = (Index(None, "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, ForeignKey(WORKSPACE_FK, ondelete="CASCADE"))
    query_id: Mapped[str | None] = mapped_column(PUBLIC_ID, nullable=True)
    catalog_id: Mapped[str | None] = mapped_column(PUBLIC_ID, nullable=True)
    schema_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    table_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[str] = mapped_column(Text)
    statement: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(10))
    compression: Mapped[str] = mapped_column(String(10))
    options: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    status: Mapped[str] = mapped_column(String(12))
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    file_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    api_key_prefix: Mapped[str | None] = mapped_column(String(8), nullable=True)
    client_source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
