"""Model usage per workspace: calls and tokens, added up in the transaction of the work."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.llm.chat import UsageMeter
from parley.store.models import ModelUsage
from parley.store.upsert import conflict_insert


async def record_usage(db: AsyncSession, workspace_id: str, meter: UsageMeter) -> None:
    """Add the meter's counts to the workspace's, one statement for all (role, model) pairs."""
    totals: dict[tuple[str, str], list[int]] = {}
    for (role, model), counts in meter.calls.items():  # models cut to the column's size
        total = totals.setdefault((role, model[:200]), [0, 0, 0])
        for position, value in enumerate(counts):
            total[position] += value
    if not totals:
        return
    stmt = conflict_insert(db, cast(Table, ModelUsage.__table__))  # no ORM layer: plain rows
    stmt = stmt.on_conflict_do_update(
        index_elements=[ModelUsage.workspace_id, ModelUsage.role, ModelUsage.model],
        set_={
            "calls": ModelUsage.calls + stmt.excluded.calls,
            "input_tokens": ModelUsage.input_tokens + stmt.excluded.input_tokens,
            "output_tokens": ModelUsage.output_tokens + stmt.excluded.output_tokens,
        },
    )
    await db.execute(
        stmt,
        [
            {
                "workspace_id": workspace_id,
                "role": role,
                "model": model,
                "calls": calls,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
            }
            for (role, model), (calls, tokens_in, tokens_out) in sorted(totals.items())
        ],
    )


async def workspace_usage(db: AsyncSession, workspace_id: str) -> list[ModelUsage]:
    rows = await db.scalars(
        select(ModelUsage)
        .where(ModelUsage.workspace_id == workspace_id)
        .order_by(ModelUsage.role, ModelUsage.model)
    )
    return list(rows.all())
