"""A worker: lanes of slots, each slot claiming a work unit of its lane's task types (reasoning,
deliveries, catalog refreshes: one kind of work never waits for another's slots), running its
task handler, and committing the results with the queue items, under a lease renewed while the
task runs.

Handlers raise to fail: the batch goes back with backoff (see `store/queue.py`); a handler that
logged why itself raises `TaskFailed`, which may also say that retrying cannot help. One that
must wait for other work raises `Deferred` (its attempt is not counted). A batch
whose items were deleted meanwhile (its workspace or session went) is dropped, whether its task
finished or failed: no results, no usage, no retry, no error. The worker owns each batch's
`UsageMeter`, so the tokens a batch spent are recorded whether it commits or fails. `settled`
runs in the transaction that settles a batch (done, or back with backoff or failed), so what it
enqueues (the `queue.empty` webhook) exists exactly when the change that caused it does; when it
enqueued something the worker's idle slots look at once. Finished work older than the retention
is pruned now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from parley.aio import wait_set
from parley.ids import new_public_id
from parley.llm.chat import UsageMeter
from parley.memory.usage import record_usage
from parley.store.engine import Database
from parley.store.models import utcnow
from parley.store.queue import (
    Claim,
    Commit,
    Deferred,
    LeaseLost,
    QueuePolicy,
    TaskFailed,
    WorkQueue,
    prune,
)

log = logging.getLogger("parley.worker")


class WorkGone(Exception):
    """The batch's items were deleted while it ran: its results are discarded."""


TaskHandler = Callable[[Claim, UsageMeter], Awaitable[Commit]]
# Runs every `poll_s` from the worker's loop (schedules); True when it enqueued work.
Timer = Callable[[], Awaitable[bool]]
# In the transaction that settles a batch; True when it enqueued work.
Settled = Callable[[AsyncSession, Claim], Awaitable[bool]]
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class Lane:
    """Slots that claim only these task types."""

    name: str
    task_types: tuple[str, ...]
    slots: int


def new_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{new_public_id()[:8]}"


class Worker:
    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, TaskHandler],
        *,
        policy: QueuePolicy,
        lanes: Sequence[Lane],
        poll_s: float,
        retention_days: float = 7.0,
        settled: Settled | None = None,
        worker_id: str | None = None,
        timers: Sequence[Timer] = (),
    ) -> None:
        self._database = database
        self._handlers = dict(handlers)
        self._policy = policy
        self.queue = WorkQueue(database, worker_id=worker_id or new_worker_id(), policy=policy)
        self._lanes = list(lanes)
        self._poll_s = poll_s
        self._retention = timedelta(days=retention_days)
        self._settled = settled
        self._timers = list(timers)
        self._wake = asyncio.Event()
        self._notified = 0  # notify() calls so far: a slot that missed one looks again
        self._poller: str | None = None  # the lane of the idle slot that polls, if any
        self._last_prune = 0.0
        self.processed = 0  # batches committed, for tests and benchmarks

    def notify(self) -> None:
        """New work was committed: wake idle slots now instead of at the next poll."""
        self._notified += 1
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as slots:
            for lane in self._lanes:
                for number in range(lane.slots):
                    slots.create_task(self._slot(lane), name=f"parley-{lane.name}-slot-{number}")
            if self._timers:
                slots.create_task(self._tick(), name="parley-timers")

    async def _tick(self) -> None:
        """Run the timers every `poll_s` (a failing one is logged and tried again)."""
        while True:
            await asyncio.sleep(self._poll_s)
            for timer in self._timers:
                try:
                    if await timer():
                        self.notify()
                except Exception:
                    log.exception("worker timer failed; retrying")

    async def _slot(self, lane: Lane) -> None:
        while True:
            seen = self._notified
            try:
                worked = await self.run_once(lane)
                if not worked:
                    await self._maybe_prune()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database hiccuped; never let a slot die
                log.exception("worker slot failed; retrying")
                worked = False
            if worked or self._notified != seen:  # more may be waiting
                continue
            await self._idle(lane)

    async def _idle(self, lane: Lane) -> None:
        """Wait until notified. One idle slot of the whole worker (the poller) also looks for
        runnable work of any type every `poll_s`, in a read transaction, and wakes every slot
        when there is some (work another process queued, a retry come due); so an idle worker
        makes one cheap query per interval, not a claim per lane."""
        self._wake.clear()
        if self._poller is not None:
            await self._wake.wait()
            return
        self._poller = lane.name
        try:
            while True:
                if await wait_set(self._wake, self._poll_s):
                    return
                try:
                    runnable = await self.queue.has_runnable()
                except Exception:  # the database hiccuped: look again at the next interval
                    log.exception("worker poll failed; retrying")
                    continue
                if runnable:
                    self.notify()  # every idle slot claims, this one too
                    return
        finally:
            self._poller = None

    async def run_once(
        self, lane: Lane | None = None, *, claimed: Callable[[], None] | None = None
    ) -> bool:
        """Claim and run one batch (of the lane's task types, or any); False when there was
        nothing to do. `claimed` is called once a batch is claimed, before it runs."""
        claim = await self.queue.claim(lane.task_types if lane is not None else None)
        if claim is None:
            return False
        if claimed is not None:
            claimed()
        meter = UsageMeter()
        work = asyncio.create_task(self._run(claim, meter))
        guard = asyncio.create_task(self._keep_lease(claim, work))
        try:
            enqueued = await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # shutting down
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.queue.release(claim))
                raise
            # the guard cancelled the task: the lease was lost and someone else redoes it
            log.warning("lost the lease on %s; another worker redoes it", claim.work_unit_key)
            await self._record_usage(claim, meter)
            return True
        except LeaseLost:
            log.warning("lost the lease on %s; another worker redoes it", claim.work_unit_key)
            await self._record_usage(claim, meter)
            return True
        except WorkGone:
            await self._drop(claim)
            return True
        except Deferred as later:  # raised by the handler or its commit (rolled back then)
            await self.queue.defer(claim, later)
            return True
        except Exception as err:
            await self._failed(claim, meter, err)
            return True
        finally:
            guard.cancel()
            work.cancel()
        self.processed += 1
        if enqueued:
            self.notify()
        return True

    async def _run(self, claim: Claim, meter: UsageMeter) -> bool:
        """Run the task and commit its results; True when `settled` enqueued work."""
        handler = self._handlers.get(claim.task_type)
        if handler is None:
            raise RuntimeError(f"no handler for task type {claim.task_type!r}")
        commit = await handler(claim, meter)
        async with self._database.write() as db:
            await self.queue.hold(db, claim)
            if await self.queue.gone(db, claim):
                raise WorkGone(claim.work_unit_key)
            await commit(db)
            await record_usage(db, claim.workspace_id, meter)
            await self.queue.complete(db, claim)
            return await self._settled(db, claim) if self._settled is not None else False

    async def _failed(self, claim: Claim, meter: UsageMeter, err: Exception) -> None:
        if await self._is_gone(claim):  # the task failed because its data went away
            await self._drop(claim)
            return
        if isinstance(err, TaskFailed):  # the handler logged why
            error, retry = str(err), err.retry
        else:
            log.warning("task %s on %s failed: %s", claim.task_type, claim.work_unit_key, err)
            error, retry = f"{type(err).__name__}: {err}", True
        enqueued = False

        async def settle(db: AsyncSession) -> None:
            nonlocal enqueued
            if self._settled is not None:
                enqueued = await self._settled(db, claim)

        if await self.queue.fail(claim, error, retry=retry, then=settle):
            await self._record_usage(claim, meter)
            if enqueued:
                self.notify()

    async def _keep_lease(self, claim: Claim, work: asyncio.Task[bool]) -> None:
        """Renew the lease while the task runs; cancel the task if the lease is lost."""
        while True:
            await asyncio.sleep(self._policy.lease_s / 3)
            try:
                kept = await self.queue.renew(claim)
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("renewing the lease on %s failed", claim.work_unit_key)
                continue
            if not kept:
                work.cancel()
                return

    async def _drop(self, claim: Claim) -> None:
        log.info("dropped %s: its work was deleted while it ran", claim.work_unit_key)
        await self.queue.drop(claim)

    async def _is_gone(self, claim: Claim) -> bool:
        async with self._database.read() as db:
            return await self.queue.gone(db, claim)

    async def _record_usage(self, claim: Claim, meter: UsageMeter) -> None:
        if not meter.calls:
            return
        try:
            async with self._database.write() as db:
                if await self.queue.gone(db, claim):
                    return  # the workspace went, and its usage with it
                await record_usage(db, claim.workspace_id, meter)
        except Exception:
            log.exception("recording model usage for %s failed", claim.workspace_id)

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = time.monotonic()
        async with self._database.write() as db:
            removed = await prune(db, finished_before=utcnow() - self._retention)
        if removed:
            log.info("pruned %d finished work items", removed)
