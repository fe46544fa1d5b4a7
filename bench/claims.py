"""What a worker slot's look for work costs under a reasoning backlog, per lane.

Fills a fresh database with N pending reasoning items (nine in ten `derive`, one in ten
`summary`, over 500 work units) and times the claim's candidate scan of each lane (reasoning,
deliveries, refreshes, and any type), which every idle slot runs once per poll, inside a write
transaction. For reference it also times the scan a lane would run if it filtered the one
(status, id) index scan by task type with `IN`.

    python bench/claims.py                         # SQLite, 100,000 items
    python bench/claims.py --items 20000 --database-url postgresql+asyncpg://...
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import insert, select, text  # noqa: E402

from parley.store import migrate  # noqa: E402
from parley.store.engine import create_database  # noqa: E402
from parley.store.models import WorkItem, Workspace, WorkUnitLease, utcnow  # noqa: E402
from parley.store.queue import CANDIDATE_SCAN, OPEN, _candidates  # noqa: E402

LANES = {
    "reasoning": ("derive", "dream", "summary"),
    "delivery": ("refresh_callback", "webhook"),
    "refresh": ("catalog_refresh",),
    "any type": None,
}


def filtered_scan(types: tuple[str, ...] | None) -> Any:
    """The scan with a plain `task_type IN (...)` filter (what the index arms replace)."""
    now = utcnow()
    live = select(WorkUnitLease.work_unit_key).where(WorkUnitLease.expires_at > now)
    stmt = select(WorkItem.work_unit_key).where(
        WorkItem.status.in_(OPEN), WorkItem.available_at <= now, WorkItem.work_unit_key.not_in(live)
    )
    if types is not None:
        stmt = stmt.where(WorkItem.task_type.in_(types))
    return stmt.order_by(WorkItem.status, WorkItem.id).limit(CANDIDATE_SCAN)


async def main(url: str, items: int, repeat: int) -> None:
    await asyncio.to_thread(migrate.upgrade, url)
    database = create_database(url)
    async with database.write() as db:
        await db.execute(insert(Workspace).values(id="bench", metadata_={}, configuration={}))
        now = utcnow()
        rows = [
            {
                "workspace_id": "bench",
                "task_type": "derive" if i % 10 else "summary",
                "work_unit_key": f"bench/derive/s{i % 500}/a",
                "payload": {},
                "status": "pending",
                "attempts": 0,
                "available_at": now,
                "created_at": now,
            }
            for i in range(items)
        ]
        for start in range(0, items, 5000):
            await db.execute(insert(WorkItem), rows[start : start + 5000])
        if database.dialect != "sqlite":
            await db.execute(text("ANALYZE work_items"))
    print(f"{database.dialect}, {items} pending reasoning items; ms per candidate scan:")
    async with database.read() as db:
        for lane, types in LANES.items():
            timings = []
            for scan in (
                lambda t=types: db.scalars(_candidates(t), {"now": utcnow()}),
                lambda t=types: db.scalars(filtered_scan(t)),
            ):
                await scan()
                started = time.perf_counter()
                for _ in range(repeat):
                    found = len((await scan()).all())
                timings.append(1000 * (time.perf_counter() - started) / repeat)
            print(
                f"  {lane:10} {timings[0]:8.2f} (filtered IN scan: {timings[1]:8.2f}), {found} keys"
            )
    await database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'claims.db'}"
        asyncio.run(main(url, args.items, args.repeat))
