"""UPDATE and DELETE whose result says how many rows they matched.

`AsyncSession.execute` is typed as returning a plain `Result`; for DML it returns a
`CursorResult`, which has `rowcount`. `execute_dml` checks that and returns it typed so."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Delete, Update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession


async def execute_dml(db: AsyncSession, statement: Update | Delete) -> CursorResult[Any]:
    """Run `statement` in the caller's transaction; its result, whose `rowcount` is the rows
    it matched."""
    result = await db.execute(statement)
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} has no rowcount")
    return result
