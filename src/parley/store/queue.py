"""The durable work queue: an outbox table, claimed in work units under expiring leases.

- `enqueue` runs inside the caller's transaction, so work exists exactly when the write that
  caused it does.
- Items that share a `work_unit_key` form a work unit and run in `id` order, one batch at a time:
  a claim owns a unit while its token holds the unit's row in `work_unit_leases`. Taking a lease
  is one INSERT ... ON CONFLICT DO UPDATE that only succeeds when no live lease exists, so two
  claims (slots, processes, machines) never run one unit at once. Locks are always taken lease
  first, then items (read `FOR UPDATE SKIP LOCKED` on PostgreSQL), so claimers never deadlock.
- A batch's results are written in the same transaction that marks its items done, after the
  worker has checked (and locked) that it still holds the lease. A worker that dies mid-task
  writes nothing; its lease expires and the next claim redoes the unit: nothing lost, nothing
  doubled.
- A failed batch goes back to pending with exponential backoff, and its unit is parked (its
  lease held by "backoff" until then), so other units run meanwhile. An item that ran before is
  retried alone, so one bad message cannot sink its neighbours. Past its task type's
  `max_attempts` an item is kept as `failed` with its last error; so is one that killed its
  worker that many times, and one whose handler gave up (`TaskFailed(retry=False)`). A task
  type's `on_failed` hook runs in the transaction that keeps it so (to report the outcome).
- A claim may ask only for some task types: a worker runs each kind of work in slots of its
  own, so slow webhooks cannot hold up reasoning, nor reasoning a webhook.
- A handler whose item waits on something else (`Deferred`: `queue.empty` waiting for the
  workspace's messages to be embedded) puts it back for a while, its attempt not counted.
- Lease times are each machine's clock: workers sharing a database need synchronised clocks
  (NTP), as with any lease.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from parley.ids import new_public_id
from parley.store.dml import execute_dml
from parley.store.engine import Database
from parley.store.models import Session, WorkItem, Workspace, WorkUnitLease, utcnow
from parley.store.upsert import conflict_insert

log = logging.getLogger("parley.worker")

PENDING, IN_PROGRESS, DONE, FAILED = "pending", "in_progress", "done", "failed"
OPEN = (PENDING, IN_PROGRESS)
CANDIDATE_SCAN = 64
BACKOFF = "backoff"  # the holder of a parked unit's lease
MAX_ERROR_CHARS = 2000
# The tables themselves for the queue's own statements: the same SQL, without the ORM's bulk
# layer (about a third of a small statement's CPU; no ORM objects of these are ever loaded).
ITEMS = cast(Table, WorkItem.__table__)
LEASES = cast(Table, WorkUnitLease.__table__)


# A task handler does its slow work (model calls, embeddings) outside any transaction and
# returns a `Commit`: the writes, run in the transaction that marks its items done.
Commit = Callable[[AsyncSession], Awaitable[None]]


async def no_writes(_db: AsyncSession) -> None:
    """The commit of a task that found nothing to write (its items are still marked done)."""


class TaskFailed(Exception):
    """Raised by a task handler that has logged why itself: its items go back with backoff
    (`retry=True`, within their attempts) or, when trying again cannot help (a 4xx answer, a
    refused address), are kept as failed at once, with this error."""

    def __init__(self, error: str, *, retry: bool) -> None:
        super().__init__(error)
        self.retry = retry


class Deferred(Exception):
    """Raised by a task handler whose item cannot run yet (what it waits for is not done): the
    item goes back to pending for `delay_s`, its attempt not counted, with `payload` (if given)
    replacing its own, so it can carry what it learnt to its next run."""

    def __init__(self, delay_s: float, *, payload: dict[str, Any] | None = None) -> None:
        super().__init__(f"deferred for {delay_s} s")
        self.delay_s = delay_s
        self.payload = payload


class LeaseLost(RuntimeError):
    """Another worker took the unit over (this one was presumed dead); drop the results."""


@dataclass(frozen=True)
class NewWork:
    task_type: str
    work_unit_key: str
    session_id: str | None = None
    sender_id: str | None = None
    observer_id: str | None = None
    message_seq: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimedItem:
    id: int
    workspace_id: str
    task_type: str
    session_id: str | None
    sender_id: str | None
    observer_id: str | None
    message_seq: int | None
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Claim:
    work_unit_key: str
    holder: str  # this claim's lease token
    items: list[ClaimedItem]

    @property
    def task_type(self) -> str:
        return self.items[0].task_type

    @property
    def workspace_id(self) -> str:
        return self.items[0].workspace_id


async def enqueue(db: AsyncSession, workspace_id: str, work: Sequence[NewWork]) -> None:
    if not work:
        return
    now = utcnow()
    rows = [
        {
            "workspace_id": workspace_id,
            "task_type": w.task_type,
            "work_unit_key": w.work_unit_key,
            "session_id": w.session_id,
            "sender_id": w.sender_id,
            "observer_id": w.observer_id,
            "message_seq": w.message_seq,
            "payload": w.payload,
            "status": PENDING,
            "attempts": 0,
            "available_at": now,
            "created_at": now,
        }
        for w in work
    ]
    await db.execute(insert(ITEMS), rows)


@dataclass(frozen=True)
class Retry:
    max_attempts: int
    backoff_s: float  # the first retry's delay; it doubles with every attempt


# Runs in the transaction that keeps an item as failed, with its last error.
FailedHook = Callable[[AsyncSession, ClaimedItem, str], Awaitable[None]]


@dataclass
class QueuePolicy:
    lease_s: float
    max_attempts: int
    backoff_s: float
    # how many units (distinct messages, or items without one) a batch of this type may hold
    batch_units: Callable[[str], int] = lambda _task_type: 1
    # task types that retry on their own terms (webhooks: PARLEY_WEBHOOK_MAX_ATTEMPTS, ...)
    retries: Mapping[str, Retry] = field(default_factory=dict)
    on_failed: Mapping[str, FailedHook] = field(default_factory=dict)

    def retry(self, task_type: str) -> Retry:
        return self.retries.get(task_type) or Retry(self.max_attempts, self.backoff_s)


class WorkQueue:
    """Claims and settles batches for one worker process. Each claim gets its own lease token,
    so the slots of one process are told apart as strictly as different machines."""

    def __init__(self, database: Database, *, worker_id: str, policy: QueuePolicy) -> None:
        self._database = database
        self.worker_id = worker_id
        self._policy = policy

    def _lease_end(self) -> datetime:
        return utcnow() + timedelta(seconds=self._policy.lease_s)

    async def has_runnable(self) -> bool:
        """Whether a work unit of any type could be claimed now (a read: an idle poll)."""
        async with self._database.read() as db:
            return (await db.scalars(_candidates(None), {"now": utcnow()})).first() is not None

    async def claim(self, task_types: Collection[str] | None = None) -> Claim | None:
        """Take the oldest runnable work unit (of `task_types`, or of any type) and its next
        batch, or None if there is none."""
        types = None if task_types is None else tuple(sorted(task_types))
        # Look in a read transaction first: most claims of an idle worker find nothing, and a
        # write transaction (SQLite: this process's write lock and BEGIN IMMEDIATE) for each
        # made idle polls cost CPU and queued real writers behind them.
        async with self._database.read() as db:
            if not (await db.scalars(_candidates(types), {"now": utcnow()})).first():
                return None
        async with self._database.write() as db:
            now = utcnow()
            # No row locks here: the lease is what excludes other workers, and taking it
            # before touching the unit's items keeps one lock order (lease, then items).
            keys = (await db.scalars(_candidates(types), {"now": now})).all()
            for key in dict.fromkeys(keys):
                holder = f"{self.worker_id}/{new_public_id()[:10]}"
                if not await self._take_lease(db, key, holder, now):
                    continue
                items = await self._next_batch(db, key, holder, now)
                if items:
                    return Claim(work_unit_key=key, holder=holder, items=items)
        return None

    async def _take_lease(self, db: AsyncSession, key: str, holder: str, now: datetime) -> bool:
        stmt = conflict_insert(db, LEASES).values(
            work_unit_key=key, holder=holder, expires_at=self._lease_end()
        )
        take = stmt.on_conflict_do_update(
            index_elements=[WorkUnitLease.work_unit_key],
            set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
            where=WorkUnitLease.expires_at <= now,
        ).returning(WorkUnitLease.work_unit_key)
        return (await db.execute(take)).first() is not None

    async def _next_batch(
        self, db: AsyncSession, key: str, holder: str, now: datetime
    ) -> list[ClaimedItem]:
        # plain rows, not ORM objects: a claim reads up to a few hundred
        rows = list(
            (
                await db.execute(
                    select(
                        WorkItem.id,
                        WorkItem.workspace_id,
                        WorkItem.task_type,
                        WorkItem.session_id,
                        WorkItem.sender_id,
                        WorkItem.observer_id,
                        WorkItem.message_seq,
                        WorkItem.payload,
                        WorkItem.status,
                        WorkItem.attempts,
                        WorkItem.available_at,
                    )
                    .where(WorkItem.work_unit_key == key, WorkItem.status.in_(OPEN))
                    .order_by(WorkItem.id)
                    .limit(500)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        # We hold the lease, so an item still in progress was left by a worker that died.
        # One that has used up its attempts that way is what kills workers: keep it as failed.
        while (
            rows
            and rows[0].status == IN_PROGRESS
            and rows[0].attempts >= self._policy.retry(rows[0].task_type).max_attempts
        ):
            row = rows.pop(0)
            dead = _claimed(row, attempts=row.attempts)
            error = f"the worker died while running it, {dead.attempts} times"
            log.warning("%s item %d kept as failed: %s", dead.task_type, dead.id, error)
            await db.execute(
                update(ITEMS)
                .where(WorkItem.id == dead.id)
                .values(status=FAILED, finished_at=now, last_error=error)
                .execution_options(synchronize_session=False)
            )
            await self._failed(db, dead, error)
        if not rows:
            await self._drop_lease(db, key, holder)
            return []
        if rows[0].available_at > now:
            # The head is backing off: park the whole unit until then, so that the scan skips
            # it instead of finding it again on every claim.
            await self._park(db, key, holder, rows[0].available_at)
            return []
        # An item that ran before runs alone (with its siblings of the same message).
        limit = 1 if rows[0].attempts > 0 else self._policy.batch_units(rows[0].task_type)
        batch: list[Any] = []
        units: set[Any] = set()
        for row in rows:
            unit = row.message_seq if row.message_seq is not None else ("item", row.id)
            if row.task_type != rows[0].task_type or row.available_at > now:
                break
            if unit not in units and len(units) == limit:
                break
            units.add(unit)
            batch.append(row)
        claimed = [_claimed(r, attempts=r.attempts + 1) for r in batch]
        await db.execute(
            update(ITEMS)
            .where(WorkItem.id.in_([r.id for r in batch]))
            .values(status=IN_PROGRESS, attempts=WorkItem.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return claimed

    async def _failed(self, db: AsyncSession, item: ClaimedItem, error: str) -> None:
        hook = self._policy.on_failed.get(item.task_type)
        if hook is not None:
            await hook(db, item, error)

    async def _drop_lease(self, db: AsyncSession, key: str, holder: str) -> None:
        await db.execute(
            delete(LEASES).where(WorkUnitLease.work_unit_key == key, WorkUnitLease.holder == holder)
        )

    async def _park(self, db: AsyncSession, key: str, holder: str, until: datetime) -> None:
        await db.execute(
            update(LEASES)
            .where(WorkUnitLease.work_unit_key == key, WorkUnitLease.holder == holder)
            .values(holder=BACKOFF, expires_at=until)
        )

    async def hold(self, db: AsyncSession, claim: Claim) -> None:
        """Inside a write transaction: check that the lease is still this claim's and lock it
        until the transaction ends, so no one can take it over while results are written."""
        result = await execute_dml(
            db,
            update(LEASES)
            .where(
                WorkUnitLease.work_unit_key == claim.work_unit_key,
                WorkUnitLease.holder == claim.holder,
            )
            .values(expires_at=self._lease_end()),
        )
        if result.rowcount != 1:
            raise LeaseLost(f"lease on {claim.work_unit_key!r} was taken over")

    async def gone(self, db: AsyncSession, claim: Claim) -> bool:
        """Inside a transaction: True when the claim's items were deleted (with their workspace
        or session), so its results have nowhere to go. Otherwise the workspace and sessions
        are locked FOR KEY SHARE (PostgreSQL; SQLite has one writer) until the transaction
        ends, so results written in it cannot lose their parents meanwhile."""
        sessions = sorted({i.session_id for i in claim.items if i.session_id is not None})
        workspace = await db.scalar(
            select(Workspace.id)
            .where(Workspace.id == claim.workspace_id)
            .with_for_update(key_share=True)
        )
        if workspace is None:
            return True
        if sessions:
            found = await db.scalars(
                select(Session.id)
                .where(Session.workspace_id == claim.workspace_id, Session.id.in_(sessions))
                .with_for_update(key_share=True)
            )
            if len(found.all()) != len(sessions):
                return True
        left = await db.scalar(
            select(func.count()).where(WorkItem.id.in_([i.id for i in claim.items]))
        )
        return not left

    async def drop(self, claim: Claim) -> None:
        """Forget a claim whose items were deleted: only its lease is left to remove."""
        async with self._database.write() as db:
            await self._drop_lease(db, claim.work_unit_key, claim.holder)

    async def renew(self, claim: Claim) -> bool:
        """Extend the lease while a long task runs; False if it was lost."""
        try:
            async with self._database.write() as db:
                await self.hold(db, claim)
        except LeaseLost:
            return False
        return True

    async def complete(self, db: AsyncSession, claim: Claim) -> None:
        """Inside the transaction that wrote the results (after `hold`): mark the batch done."""
        await db.execute(
            update(ITEMS)
            .where(WorkItem.id.in_([i.id for i in claim.items]))
            .values(status=DONE, finished_at=utcnow(), last_error=None)
        )
        await self._drop_lease(db, claim.work_unit_key, claim.holder)

    async def fail(
        self,
        claim: Claim,
        error: str,
        *,
        retry: bool = True,
        then: Commit | None = None,
    ) -> bool:
        """Put the batch back with backoff (the unit waits, parked), or keep items past their
        attempts (all of them, with `retry=False`) as failed; `then` runs in the same
        transaction. False if the lease was lost meanwhile (someone else redoes it)."""
        async with self._database.write() as db:
            try:
                await self.hold(db, claim)
            except LeaseLost:
                return False
            now = utcnow()
            error = error[:MAX_ERROR_CHARS]
            retry_at: datetime | None = None
            for item in claim.items:
                policy = self._policy.retry(item.task_type)
                if not retry or item.attempts >= policy.max_attempts:
                    values: dict[str, Any] = {"status": FAILED, "finished_at": now}
                else:
                    delay = policy.backoff_s * 2 ** (item.attempts - 1)
                    when = now + timedelta(seconds=delay)
                    retry_at = when if retry_at is None else min(retry_at, when)
                    values = {"status": PENDING, "available_at": when}
                await db.execute(
                    update(ITEMS).where(WorkItem.id == item.id).values(last_error=error, **values)
                )
                if values["status"] == FAILED:
                    await self._failed(db, item, error)
            if retry_at is None:
                await self._drop_lease(db, claim.work_unit_key, claim.holder)
            else:
                await self._park(db, claim.work_unit_key, claim.holder, retry_at)
            if then is not None:
                await then(db)
        return True

    async def defer(self, claim: Claim, deferred: Deferred) -> bool:
        """Put the batch back to wait `deferred.delay_s` (the unit parked until then), its
        attempt not counted. False if the lease was lost, or the items were deleted meanwhile
        (their lease is dropped then)."""
        async with self._database.write() as db:
            try:
                await self.hold(db, claim)
            except LeaseLost:
                return False
            if await self.gone(db, claim):
                await self._drop_lease(db, claim.work_unit_key, claim.holder)
                return False
            when = utcnow() + timedelta(seconds=deferred.delay_s)
            values: dict[str, Any] = {
                "status": PENDING,
                "attempts": WorkItem.attempts - 1,
                "available_at": when,
            }
            if deferred.payload is not None:
                values["payload"] = deferred.payload
            await db.execute(
                update(ITEMS).where(WorkItem.id.in_([i.id for i in claim.items])).values(**values)
            )
            await self._park(db, claim.work_unit_key, claim.holder, when)
        return True

    async def release(self, claim: Claim) -> None:
        """Give a claimed batch back untouched (shutdown): pending again, attempt not counted."""
        async with self._database.write() as db:
            try:
                await self.hold(db, claim)
            except LeaseLost:
                return
            await db.execute(
                update(ITEMS)
                .where(WorkItem.id.in_([i.id for i in claim.items]))
                .values(status=PENDING, attempts=WorkItem.attempts - 1)
            )
            await self._drop_lease(db, claim.work_unit_key, claim.holder)


async def prune(db: AsyncSession, *, finished_before: datetime) -> int:
    """Forget finished work (done, or failed and seen) older than `finished_before`, and
    expired leases whose units have nothing open. Returns the items deleted."""
    result = await execute_dml(
        db,
        delete(ITEMS).where(
            WorkItem.status.in_((DONE, FAILED)), WorkItem.finished_at < finished_before
        ),
    )
    open_units = select(WorkItem.work_unit_key).where(WorkItem.status.in_(OPEN))
    await db.execute(
        delete(LEASES).where(
            WorkUnitLease.expires_at < utcnow(), WorkUnitLease.work_unit_key.not_in(open_units)
        )
    )
    return result.rowcount


async def workspace_has_open_work(
    db: AsyncSession, workspace_id: str, task_types: Collection[str] | None = None
) -> bool:
    """Whether the workspace has work pending or in progress (of `task_types`, or any)."""
    stmt = select(WorkItem.id).where(
        WorkItem.workspace_id == workspace_id, WorkItem.status.in_(OPEN)
    )
    if task_types is not None:
        stmt = stmt.where(WorkItem.task_type.in_(sorted(task_types)))
    found = await db.scalar(select(func.count()).select_from(stmt.limit(1).subquery()))
    return bool(found)


async def drop_open_units(db: AsyncSession, workspace_id: str, key_prefix: str) -> int:
    """Inside the caller's transaction: delete the workspace's open items of every unit whose
    key starts with `key_prefix` (the deliveries to a webhook endpoint being deleted). A worker
    running one finds it gone and drops its result. Returns the items deleted."""
    result = await execute_dml(
        db,
        delete(ITEMS).where(
            WorkItem.workspace_id == workspace_id,
            WorkItem.work_unit_key.startswith(key_prefix, autoescape=True),
            WorkItem.status.in_(OPEN),
        ),
    )
    return result.rowcount


@functools.cache
def _candidates(task_types: tuple[str, ...] | None) -> Select[str]:
    """The keys of the oldest runnable units at `:now` (stale in-progress items first), built
    once per lane. With task types, one arm per type, each read in the (task_type, status, id)
    index: filtering one scan of (status, id) by type would walk a whole reasoning backlog to
    find no webhook (about 150 ms at 100,000 items on SQLite), or a backlog of failing webhooks
    to find reasoning."""
    now: BindParameter[datetime] = bindparam("now")
    live = select(WorkUnitLease.work_unit_key).where(WorkUnitLease.expires_at > now)

    def runnable(*where: Any) -> Select[str, str, int]:
        return (
            select(WorkItem.work_unit_key, WorkItem.status, WorkItem.id)
            .where(
                *where,
                WorkItem.status.in_(OPEN),
                WorkItem.available_at <= now,
                WorkItem.work_unit_key.not_in(live),
            )
            .order_by(WorkItem.status, WorkItem.id)
            .limit(CANDIDATE_SCAN)
        )

    if task_types is None:
        return runnable().with_only_columns(WorkItem.work_unit_key)
    arms = [runnable(WorkItem.task_type == t).subquery() for t in task_types]
    merged = union_all(*(select(*arm.c) for arm in arms)).subquery()
    return (
        select(merged.c.work_unit_key).order_by(merged.c.status, merged.c.id).limit(CANDIDATE_SCAN)
    )


def _claimed(row: Any, *, attempts: int) -> ClaimedItem:
    return ClaimedItem(
        id=row.id,
        workspace_id=row.workspace_id,
        task_type=row.task_type,
        session_id=row.session_id,
        sender_id=row.sender_id,
        observer_id=row.observer_id,
        message_seq=row.message_seq,
        payload=dict(row.payload),
        attempts=attempts,
    )
