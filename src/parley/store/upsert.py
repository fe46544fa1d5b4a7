"""INSERT ... ON CONFLICT DO NOTHING for both backends: get-or-create without races."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from parley.store.models import Base


async def insert_missing(
    db: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert `rows`, silently keeping any row whose primary key already exists."""
    if not rows:
        return
    dialect = postgresql if db.bind.dialect.name == "postgresql" else sqlite
    await db.execute(dialect.insert(model).on_conflict_do_nothing(), list(rows))
