"""INSERT ... ON CONFLICT for both backends: get-or-create and upserts without races."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.store.models import Base


def conflict_insert(db: AsyncSession, model: type[Base] | Table) -> PostgresInsert | SqliteInsert:
    """The backend's INSERT, which takes `on_conflict_do_nothing` / `on_conflict_do_update`."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


async def insert_missing(
    db: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert `rows`, silently keeping any row whose primary key already exists."""
    if not rows:
        return
    await db.execute(conflict_insert(db, model).on_conflict_do_nothing(), list(rows))
