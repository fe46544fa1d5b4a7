"""A worker: `concurrency` slots, each claiming a work unit, running its task handler, and
committing the results with the queue items, under a lease renewed while the task runs.

Handlers raise to fail: the batch goes back with backoff (see `store/queue.py`). A batch whose
items were deleted meanwhile (its workspace or session went) is dropped, whether its task
finished or failed: no results, no usage, no retry, no error. The worker owns
each batch's `UsageMeter`, so the tokens a batch spent are recorded whether it commits or
fails. When the last open item of a workspace finishes, the workspace's `queue.empty` webhook
fires. Finished work older than the retention is pruned now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from parley.ids import new_public_id
from parley.llm.chat import UsageMeter
from parley.memory.usage import record_usage
from parley.store.engine import Database
from parley.store.models import utcnow
from parley.store.queue import (
    Claim,
    Commit,
    LeaseLost,
    QueuePolicy,
    WorkQueue,
    prune,
    workspace_has_open_work,
)

log = logging.getLogger("parley.worker")


class WorkGone(Exception):
    """The batch's items were deleted while it ran: its results are discarded."""


TaskHandler = Callable[[Claim, UsageMeter], Awaitable[Commit]]
QueueEmpty = Callable[[str, dict[str, Any]], Awaitable[Any]]
PRUNE_EVERY_S = 3600.0


def new_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{new_public_id()[:8]}"


class Worker:
    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, TaskHandler],
        *,
        policy: QueuePolicy,
        concurrency: int,
        poll_s: float,
        retention_days: float = 7.0,
        on_queue_empty: QueueEmpty | None = None,
        worker_id: str | None = None,
    ) -> None:
        self._database = database
        self._handlers = dict(handlers)
        self._policy = policy
        self.queue = WorkQueue(database, worker_id=worker_id or new_worker_id(), policy=policy)
        self._concurrency = concurrency
        self._poll_s = poll_s
        self._retention = timedelta(days=retention_days)
        self._on_queue_empty = on_queue_empty
        self._wake = asyncio.Event()
        self._last_prune = 0.0
        self.processed = 0  # batches committed, for tests and benchmarks

    def notify(self) -> None:
        """New work was committed: wake idle slots now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as slots:
            for number in range(self._concurrency):
                slots.create_task(self._slot(), name=f"parley-worker-slot-{number}")

    async def _slot(self) -> None:
        while True:
            try:
                worked = await self.run_once()
                if not worked:
                    await self._maybe_prune()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database hiccuped; never let a slot die
                log.exception("worker slot failed; retrying")
                worked = False
            if not worked:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)

    async def run_once(self) -> bool:
        """Claim and run one batch; False when there was nothing to do."""
        claim = await self.queue.claim()
        if claim is None:
            return False
        meter = UsageMeter()
        work = asyncio.create_task(self._run(claim, meter))
        emptied = False
        guard = asyncio.create_task(self._keep_lease(claim, work))
        try:
            emptied = await work
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
        except Exception as err:
            if await self._is_gone(claim):  # the task failed because its data went away
                await self._drop(claim)
                return True
            log.warning("task %s on %s failed: %s", claim.task_type, claim.work_unit_key, err)
            if await self.queue.fail(claim, f"{type(err).__name__}: {err}"):
                await self._record_usage(claim, meter)
                await self._after_settle(claim)
            return True
        finally:
            guard.cancel()
            work.cancel()
        self.processed += 1
        if emptied:
            await self._queue_empty(claim)
        return True

    async def _run(self, claim: Claim, meter: UsageMeter) -> bool:
        """Run the task and commit its results; True when that finished the workspace's
        open work (read in the same transaction: one read transaction less per batch)."""
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
            if self._on_queue_empty is None:
                return False
            return not await workspace_has_open_work(db, claim.workspace_id)

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

    async def _after_settle(self, claim: Claim) -> None:
        """After a failed batch went back: fire `queue.empty` if nothing is open any more."""
        if self._on_queue_empty is None:
            return
        async with self._database.read() as db:
            if await workspace_has_open_work(db, claim.workspace_id):
                return
        await self._queue_empty(claim)

    async def _queue_empty(self, claim: Claim) -> None:
        assert self._on_queue_empty is not None
        try:
            await self._on_queue_empty(
                claim.workspace_id,
                {
                    "workspace_id": claim.workspace_id,
                    "queue_type": claim.task_type,
                    "session_id": claim.items[0].session_id,
                },
            )
        except Exception:
            log.exception("queue.empty webhook for %s failed", claim.workspace_id)

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = time.monotonic()
        async with self._database.write() as db:
            removed = await prune(db, finished_before=utcnow() - self._retention)
        if removed:
            log.info("pruned %d finished work items", removed)
