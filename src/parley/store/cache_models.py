"""Models of cached tables and materialized queries (Peaka's Data -- Cache and Materialized
Queries): one row per local copy (`data_caches`: a source table, or a saved query's result),
and one per refresh of it (`data_cache_runs`: the execution history).

The copy itself is a Parquet file under <data_dir>/cache/<projectId>/; `file` names the one
that queries read. A refresh writes a new file aside and swaps `file` in the transaction that
finishes its run, so a half-written copy is never read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parley.store.models import NAME, PUBLIC_ID, Base, JSONDict, utcnow

TABLE, QUERY = "table", "query"  # what a cache holds


class DataCache(Base):
    __tablename__ = "data_caches"
    __table_args__ = (
        UniqueConstraint("project_id", "catalog_id", "schema_name", "table_name"),
        UniqueConstraint("project_id", "query_id"),
        Index(None, "next_full_at"),
        Index(None, "next_incremental_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default=TABLE)
    # a table's cache
    catalog_id: Mapped[str | None] = mapped_column(
        PUBLIC_ID, ForeignKey("data_catalogs.id", ondelete="CASCADE"), nullable=True
    )
    schema_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    table_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    incremental_column: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # a materialized query
    query_id: Mapped[str | None] = mapped_column(
        PUBLIC_ID, ForeignKey("saved_queries.id", ondelete="CASCADE"), nullable=True
    )
    # schedules: Peaka's {"type", "expression"} (tables), {"type", "repeatDuration",
    # "cronExpression", "timezone"} (queries); None: none
    full_schedule: Mapped[dict[str, Any] | None] = mapped_column(JSONDict, nullable=True)
    incremental_schedule: Mapped[dict[str, Any] | None] = mapped_column(JSONDict, nullable=True)
    next_full_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_incremental_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # the copy queries read: its file (under the project's cache folder), columns, rows, size
    file: Mapped[str | None] = mapped_column(String(300), nullable=True)
    columns: Mapped[list[Any] | None] = mapped_column(JSONDict, nullable=True)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    last_offset: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON of the key
    refreshed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CacheRun(Base):
    """One refresh: FULL_REFRESH or INCREMENTAL; PENDING, RUNNING, COMPLETED, FAILED or
    CANCELLED."""

    __tablename__ = "data_cache_runs"
    __table_args__ = (Index(None, "cache_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cache_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("data_caches.id", ondelete="CASCADE")
    )
    project_id: Mapped[str] = mapped_column(NAME, index=True)
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    scheduled: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDict, nullable=True)
    cached_records: Mapped[int] = mapped_column(BigInteger, default=0)
    inserted_records: Mapped[int] = mapped_column(BigInteger, default=0)
    last_offset: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
