"""The durable work queue on both backends: the outbox, order within a work unit, exclusive
leases, takeover of a dead worker's unit, failures with backoff, and the kept failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.memory.reasoning import enqueue_dream
from parley.store import migrate
from parley.store.engine import Database, create_database
from parley.store.models import Peer, Session, WorkItem, Workspace, WorkUnitLease, utcnow
from parley.store.queue import (
    DONE,
    FAILED,
    PENDING,
    ClaimedItem,
    LeaseLost,
    NewWork,
    QueuePolicy,
    Retry,
    WorkQueue,
    drop_open_units,
    enqueue,
    prune,
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


async def expire_leases(database: Database) -> None:
    async with database.write() as db:
        await db.execute(update(WorkUnitLease).values(expires_at=utcnow() - timedelta(seconds=1)))


async def end_backoff(database: Database) -> None:
    """Fast-forward: every item due now, and parked units' leases run out."""
    async with database.write() as db:
        await db.execute(update(WorkItem).values(available_at=utcnow()))
        await db.execute(update(WorkUnitLease).values(expires_at=utcnow() - timedelta(seconds=1)))


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
    await end_backoff(database)
    alone = await queue.claim()
    assert alone is not None and [i.message_seq for i in alone.items] == [1]
    await queue.fail(alone, "ModelError: scripted 500 again")
    assert await statuses(database) == [(1, FAILED, 2), (2, PENDING, 1)]
    async with database.read() as db:
        failed = await db.scalar(select(WorkItem).where(WorkItem.status == FAILED))
        assert failed is not None and failed.last_error == "ModelError: scripted 500 again"
        assert failed.finished_at is not None
    await end_backoff(database)
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


async def test_each_claim_has_its_own_lease_even_in_one_process(database: Database) -> None:
    """Slots of one worker share its id; a slot whose lease ran out must not commit over the
    slot that took the unit over."""
    await add(database, work("k", 1))
    queue = WorkQueue(database, worker_id="one-process", policy=policy())
    slow = await queue.claim()
    assert slow is not None
    await expire_leases(database)
    fast = await queue.claim()
    assert fast is not None and fast.holder != slow.holder
    with pytest.raises(LeaseLost):
        async with database.write() as db:
            await queue.hold(db, slow)
    await finish(queue, database, fast)


async def test_a_unit_backing_off_does_not_hold_up_the_others(database: Database) -> None:
    await add(database, *(work("big", n) for n in range(1, 81)), work("small", 100, session="s2"))
    queue = WorkQueue(
        database, worker_id="w", policy=policy(backoff_s=60.0, batch_units=lambda _t: 1)
    )
    first = await queue.claim()
    assert first is not None and first.work_unit_key == "big"
    await queue.fail(first, "boom")
    other = await queue.claim()  # "big" is parked for a minute; "small" runs now
    assert other is not None and other.work_unit_key == "small"
    assert await queue.claim() is None


async def test_an_item_that_keeps_killing_workers_is_kept_as_failed(database: Database) -> None:
    await add(database, work("k", 1), work("k", 2))
    queue = WorkQueue(database, worker_id="w", policy=policy(max_attempts=2))
    for _ in range(2):  # claimed, then the worker dies (its lease runs out)
        claim = await queue.claim()
        assert claim is not None and claim.items[0].message_seq == 1
        await expire_leases(database)
    survivor = await queue.claim()
    assert survivor is not None and [i.message_seq for i in survivor.items] == [2]
    async with database.read() as db:
        dead = await db.scalar(select(WorkItem).where(WorkItem.message_seq == 1))
        assert dead is not None and dead.status == FAILED
        assert dead.last_error == "the worker died while running it, 2 times"


async def test_many_claimers_on_one_large_unit_and_small_ones(database: Database) -> None:
    """More open items in one unit than the candidate scan reads, four concurrent claimers."""
    await add(database, *(work("big", n) for n in range(200)))
    await add(database, *(work(f"small{n}", 1000 + n, session="s2") for n in range(20)))
    queues = [WorkQueue(database, worker_id=f"w{n}", policy=policy()) for n in range(4)]
    seen: list[int] = []

    async def drain(queue: WorkQueue) -> None:
        idle = 0
        while idle < 3:
            claim = await queue.claim()
            if claim is None:
                idle += 1
                await asyncio.sleep(0.01)
                continue
            seen.extend(i.id for i in claim.items)
            await finish(queue, database, claim)

    await asyncio.gather(*(drain(q) for q in queues))
    assert len(seen) == len(set(seen)) == 220
    big_order = [s for s, _, _ in await statuses(database)][:200]
    assert big_order == list(range(200))


async def test_a_dream_already_waiting_is_not_enqueued_twice(database: Database) -> None:
    async with database.write() as db:
        await db.execute(
            insert(Peer).values(workspace_id=W, id="alice", metadata_={}, configuration={})
        )
        first = await enqueue_dream(db, workspace_id=W, observer_id="alice", observed_id="alice")
        second = await enqueue_dream(db, workspace_id=W, observer_id="alice", observed_id="alice")
    assert (first, second) == (True, False)


async def test_prune_forgets_old_finished_work_and_stale_leases(database: Database) -> None:
    await add(database, work("k", 1), work("k", 2))
    queue = WorkQueue(database, worker_id="w", policy=policy(batch_units=lambda _t: 1))
    claim = await queue.claim()
    assert claim is not None
    await finish(queue, database, claim)
    async with database.write() as db:
        removed = await prune(db, finished_before=utcnow() + timedelta(seconds=1))
    assert removed == 1
    assert await statuses(database) == [(2, PENDING, 0)]


async def test_claims_can_be_limited_to_task_types(database: Database) -> None:
    """A worker's delivery slots take only deliveries, whatever the reasoning backlog."""
    await add(database, *(work("k", n) for n in range(1, 81)))
    await add(database, NewWork(task_type="webhook", work_unit_key="w/webhook/e/1"))
    queue = WorkQueue(database, worker_id="w", policy=policy())
    delivery = await queue.claim(["webhook", "refresh_callback"])
    assert delivery is not None and delivery.work_unit_key == "w/webhook/e/1"
    assert await queue.claim(["webhook"]) is None
    reasoning = await queue.claim(["derive"])
    assert reasoning is not None and reasoning.task_type == "derive"


async def test_a_task_type_may_retry_on_its_own_terms(database: Database) -> None:
    await add(database, NewWork(task_type="webhook", work_unit_key="hook"), work("k", 1))
    queue = WorkQueue(
        database,
        worker_id="w",
        policy=policy(max_attempts=5, backoff_s=60.0, retries={"webhook": Retry(2, 0.0)}),
    )
    hook = await queue.claim(["webhook"])
    assert hook is not None
    await queue.fail(hook, "HTTP 500")  # no backoff of its own: due again at once
    again = await queue.claim(["webhook"])
    assert again is not None and again.items[0].attempts == 2
    await queue.fail(again, "HTTP 500")  # its second attempt was its last
    derive = await queue.claim(["derive"])
    assert derive is not None
    await queue.fail(derive, "ModelError")  # the default: five attempts, a minute's backoff
    assert await statuses(database) == [(None, FAILED, 2), (1, PENDING, 1)]


async def test_giving_up_keeps_items_failed_at_once_and_runs_the_hooks(
    database: Database,
) -> None:
    seen: list[tuple[int, int, str]] = []

    async def on_failed(db: object, item: ClaimedItem, error: str) -> None:
        seen.append((item.message_seq or 0, item.attempts, error))

    async def then(db: AsyncSession) -> None:  # in the same transaction as the failure
        await db.execute(update(Workspace).values(metadata_={"settled": True}))

    await add(database, work("k", 1))
    queue = WorkQueue(database, worker_id="w", policy=policy(on_failed={"derive": on_failed}))
    claim = await queue.claim()
    assert claim is not None
    assert await queue.fail(claim, "failed: HTTP 404", retry=False, then=then)
    assert await statuses(database) == [(1, FAILED, 1)]
    assert seen == [(1, 1, "failed: HTTP 404")]
    async with database.read() as db:
        assert await db.scalar(select(Workspace.metadata_)) == {"settled": True}
        assert (await db.scalars(select(WorkUnitLease))).all() == []


async def test_the_failed_hook_runs_for_an_item_that_kept_killing_workers(
    database: Database,
) -> None:
    seen: list[tuple[int, str]] = []

    async def on_failed(db: object, item: ClaimedItem, error: str) -> None:
        seen.append((item.attempts, error))

    await add(database, work("k", 1))
    queue = WorkQueue(
        database, worker_id="w", policy=policy(max_attempts=2, on_failed={"derive": on_failed})
    )
    for _ in range(2):
        assert await queue.claim() is not None
        await expire_leases(database)
    assert await queue.claim() is None
    assert seen == [(2, "the worker died while running it, 2 times")]
    assert await statuses(database) == [(1, FAILED, 2)]


async def test_dropping_open_units_by_key_prefix(database: Database) -> None:
    await add(
        database,
        NewWork(task_type="webhook", work_unit_key="w/webhook/e1/a"),
        NewWork(task_type="webhook", work_unit_key="w/webhook/e1/b"),
        NewWork(task_type="webhook", work_unit_key="w/webhook/e10/c"),
        NewWork(task_type="webhook", work_unit_key="w/webhook/e_/d"),
    )
    async with database.write() as db:
        assert await drop_open_units(db, W, "w/webhook/e1/") == 2
        assert await drop_open_units(db, W, "w/webhook/e_/") == 1  # no LIKE wildcards
        assert await drop_open_units(db, "other", "w/webhook/") == 0
    async with database.read() as db:
        keys = await db.scalars(select(WorkItem.work_unit_key))
        assert list(keys) == ["w/webhook/e10/c"]


async def test_an_idle_worker_polls_once_per_interval_and_finds_work_queued_elsewhere(
    database: Database,
) -> None:
    """One idle slot polls for the whole worker (a read), instead of a claim per lane: work
    queued by another process (no `notify`) is still found at the next interval."""
    from parley.worker.runner import Lane, Worker

    ran: list[int | None] = []

    async def derive(claim: Any, meter: Any) -> Any:
        ran.extend(item.message_seq for item in claim.items)

        async def commit(db: AsyncSession) -> None:
            return None

        return commit

    worker = Worker(
        database,
        {"derive": derive, "deliver": derive, "refresh": derive},
        policy=policy(),
        lanes=[Lane("a", ("derive",), 2), Lane("b", ("deliver",), 2), Lane("c", ("refresh",), 1)],
        poll_s=0.02,
    )
    calls = {"claim": 0, "has_runnable": 0}
    for name in calls:
        original = getattr(worker.queue, name)

        def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls[_name] += 1
            return _original(*args)

        setattr(worker.queue, name, counted)
    running = asyncio.create_task(worker.run())
    try:
        while calls["has_runnable"] < 10:  # ten intervals idle
            await asyncio.sleep(0.01)
        assert calls["claim"] == 5  # each slot's first look, then only the poller's reads
        await add(database, work("k", 1))  # as another process would: nobody is notified
        for _ in range(500):
            if ran:
                break
            await asyncio.sleep(0.01)
        assert ran == [1]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
