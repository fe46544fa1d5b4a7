"""The durable work queue on both backends: the outbox, order within a work unit, exclusive
leases, takeover of a dead worker's unit, failures with backoff, and the kept failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from parley.store import migrate
from parley.store.engine import Database, create_database
from parley.store.models import Session, WorkItem, Workspace, WorkUnitLease, utcnow
from parley.store.queue import (
    DONE,
    FAILED,
    PENDING,
    LeaseLost,
    NewWork,
    QueuePolicy,
    WorkQueue,
    enqueue,
    workspace_has_open_work,
)

W = "w"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    db = create_database(database_url)
    async with db.write() as session:
        await session.execute(insert(Workspace).values(id=W, metadata_={}, configuration={}))
        for sid in ("s1", "s2"):
            await session.execute(
                insert(Session).values(
                    workspace_id=W, id=sid, is_active=True, metadata_={}, configuration={}
                )
            )
    yield db
    await db.dispose()


def policy(**overrides: object) -> QueuePolicy:
    values: dict[str, object] = {
        "lease_s": 30.0,
        "max_attempts": 3,
        "backoff_s": 0.0,
        "batch_units": lambda _t: 2,
    }
    return QueuePolicy(**(values | overrides))  # type: ignore[arg-type]


def work(key: str, seq: int, observer: str = "a", session: str = "s1") -> NewWork:
    return NewWork(
        task_type="derive",
        work_unit_key=key,
        session_id=session,
        sender_id="a",
        observer_id=observer,
        message_seq=seq,
    )


async def add(database: Database, *items: NewWork) -> None:
    async with database.write() as db:
        await enqueue(db, W, list(items))


async def statuses(database: Database) -> list[tuple[int | None, str, int]]:
    async with database.read() as db:
        rows = await db.execute(
            select(WorkItem.message_seq, WorkItem.status, WorkItem.attempts).order_by(WorkItem.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def finish(queue: WorkQueue, database: Database, claim: object) -> None:
    async with database.write() as db:
        await queue.hold(db, claim)  # type: ignore[arg-type]
        await queue.complete(db, claim)  # type: ignore[arg-type]


async def test_enqueue_is_part_of_the_callers_transaction(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.write() as db:
            await enqueue(db, W, [work("k", 1)])
            raise RuntimeError("the message insert failed")
    assert await statuses(database) == []
    await add(database, work("k", 1))
    assert await statuses(database) == [(1, PENDING, 0)]


async def test_a_unit_runs_in_order_in_batches_of_whole_messages(database: Database) -> None:
    # message 1 has two observers: both items belong to one unit of the batch
    await add(database, work("k", 1, "a"), work("k", 1, "b"), work("k", 2), work("k", 3))
    queue = WorkQueue(database, worker_id="w1", policy=policy())
    first = await queue.claim()
    assert first is not None
    assert [(i.message_seq, i.observer_id) for i in first.items] == [(1, "a"), (1, "b"), (2, "a")]
    assert await queue.claim() is None  # the unit is leased; nothing else to do
    await finish(queue, database, first)
    second = await queue.claim()
    assert second is not None and [i.message_seq for i in second.items] == [3]
    await finish(queue, database, second)
    assert [s for _, s, _ in await statuses(database)] == [DONE] * 4
    async with database.read() as db:
        assert not await workspace_has_open_work(db, W)
        assert (await db.scalars(select(WorkUnitLease))).all() == []


async def test_two_workers_never_hold_one_unit_but_share_the_queue(database: Database) -> None:
    await add(database, work("k1", 1), work("k2", 2, session="s2"), work("k1", 3))
    one = WorkQueue(database, worker_id="one", policy=policy(batch_units=lambda _t: 1))
    two = WorkQueue(database, worker_id="two", policy=policy(batch_units=lambda _t: 1))
    a, b = await one.claim(), await two.claim()
    assert a is not None and b is not None
    assert {a.work_unit_key, b.work_unit_key} == {"k1", "k2"}
    assert await one.claim() is None and await two.claim() is None


async def test_concurrent_claims_never_share_an_item(database: Database) -> None:
    await add(database, *(work(f"k{n % 7}", n) for n in range(60)))
    queues = [
        WorkQueue(database, worker_id=f"w{n}", policy=policy(batch_units=lambda _t: 1))
        for n in range(4)
    ]
    seen: list[int] = []

    async def drain(queue: WorkQueue) -> None:
        while (claim := await queue.claim()) is not None:
            seen.extend(i.id for i in claim.items)
            await finish(queue, database, claim)

    await asyncio.gather(*(drain(q) for q in queues))
    assert len(seen) == len(set(seen)) == 60
    assert {s for _, s, _ in await statuses(database)} == {DONE}


async def test_a_dead_workers_unit_is_taken_over_and_its_results_refused(
    database: Database,
) -> None:
    await add(database, work("k", 1), work("k", 2))
    dead = WorkQueue(database, worker_id="dead", policy=policy())
    claim = await dead.claim()
    assert claim is not None
    async with database.write() as db:  # the lease runs out
        await db.execute(update(WorkUnitLease).values(expires_at=utcnow() - timedelta(seconds=1)))
    alive = WorkQueue(database, worker_id="alive", policy=policy())
    redo = await alive.claim()
    assert redo is not None
    # what a worker died on runs alone next: it may be what killed it
    assert [(i.message_seq, i.attempts) for i in redo.items] == [(1, 2)]
    with pytest.raises(LeaseLost):  # the old worker comes back: its writes are refused
        async with database.write() as db:
            await dead.hold(db, claim)
    assert not await dead.renew(claim)
    await finish(alive, database, redo)
    rest = await alive.claim()
    assert rest is not None and [i.message_seq for i in rest.items] == [2]
    await finish(alive, database, rest)
    assert [s for _, s, _ in await statuses(database)] == [DONE, DONE]


async def test_failures_back_off_then_retry_alone_then_are_kept(database: Database) -> None:
    await add(database, work("k", 1), work("k", 2))
    queue = WorkQueue(database, worker_id="w", policy=policy(max_attempts=2, backoff_s=30.0))
    claim = await queue.claim()
    assert claim is not None and len(claim.items) == 2
    await queue.fail(claim, "ModelError: scripted 500")
    assert await statuses(database) == [(1, PENDING, 1), (2, PENDING, 1)]
    assert await queue.claim() is None  # backing off for 30 s
    async with database.write() as db:
        await db.execute(update(WorkItem).values(available_at=utcnow()))
    alone = await queue.claim()
    assert alone is not None and [i.message_seq for i in alone.items] == [1]
    await queue.fail(alone, "ModelError: scripted 500 again")
    assert await statuses(database) == [(1, FAILED, 2), (2, PENDING, 1)]
    async with database.read() as db:
        failed = await db.scalar(select(WorkItem).where(WorkItem.status == FAILED))
        assert failed is not None and failed.last_error == "ModelError: scripted 500 again"
        assert failed.finished_at is not None
    async with database.write() as db:
        await db.execute(update(WorkItem).values(available_at=utcnow()))
    rest = await queue.claim()  # the failed item no longer blocks its unit
    assert rest is not None and [i.message_seq for i in rest.items] == [2]


async def test_release_gives_a_batch_back_without_counting_an_attempt(
    database: Database,
) -> None:
    await add(database, work("k", 1))
    queue = WorkQueue(database, worker_id="w", policy=policy())
    claim = await queue.claim()
    assert claim is not None
    await queue.release(claim)
    assert await statuses(database) == [(1, PENDING, 0)]
    again = await queue.claim()
    assert again is not None and again.items[0].attempts == 1


async def test_deleting_a_session_drops_its_work(database: Database) -> None:
    await add(database, work("k", 1), work("k2", 2, session="s2"))
    async with database.write() as db:
        await db.execute(Session.__table__.delete().where(Session.id == "s1"))
    assert await statuses(database) == [(2, PENDING, 0)]
