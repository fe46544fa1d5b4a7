"""Pagination: the `{items, total, page, size, pages}` envelope over any SELECT."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.size) if self.total else 0


async def paginate(db: AsyncSession, stmt: Select[Any], *, page: int, size: int) -> Page[Any]:
    """Run `stmt` (already ordered) for one page, and count all its rows."""
    total = await db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = (await db.scalars(stmt.offset((page - 1) * size).limit(size))).all()
    return Page(items=list(rows), total=int(total or 0), page=page, size=size)


def ordered(reverse: bool, *columns: Any) -> list[Any]:
    """`columns` ascending, or all descending with `reverse` (Honcho's `?reverse=true`)."""
    return [column.desc() for column in columns] if reverse else list(columns)
