"""A worker: `concurrency` slots, each claiming a work unit, running its task handler, and
committing the results with the queue items, under a lease renewed while the task runs.

Handlers raise to fail: the batch goes back with backoff (see `store/queue.py`). When the last
open item of a workspace finishes, the workspace's `queue.empty` webhook fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from parley.ids import new_public_id
from parley.store.engine import Database
from parley.store.queue import (
    Claim,
    Commit,
    LeaseLost,
    QueuePolicy,
    WorkQueue,
    workspace_has_open_work,
)

log = logging.getLogger("parley.worker")

TaskHandler = Callable[[Claim], Awaitable[Commit]]
QueueEmpty = Callable[[str, dict[str, Any]], Awaitable[Any]]


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
        on_queue_empty: QueueEmpty | None = None,
        worker_id: str | None = None,
    ) -> None:
        self._database = database
        self._handlers = dict(handlers)
        self._policy = policy
        self.queue = WorkQueue(database, worker_id=worker_id or new_worker_id(), policy=policy)
        self._concurrency = concurrency
        self._poll_s = poll_s
        self._on_queue_empty = on_queue_empty
        self._wake = asyncio.Event()
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
        handler = self._handlers.get(claim.task_type)
        renewing = asyncio.create_task(self._keep_lease(claim))
        try:
            if handler is None:
                raise RuntimeError(f"no handler for task type {claim.task_type!r}")
            commit = await handler(claim)
            async with self._database.write() as db:
                await self.queue.hold(db, claim)
                await commit(db)
                await self.queue.complete(db, claim)
        except asyncio.CancelledError:
            renewing.cancel()
            with contextlib.suppress(Exception):
                await asyncio.shield(self.queue.release(claim))
            raise
        except LeaseLost:
            log.warning("lost the lease on %s; another worker redoes it", claim.work_unit_key)
            return True
        except Exception as err:
            log.warning("task %s on %s failed: %s", claim.task_type, claim.work_unit_key, err)
            await self.queue.fail(claim, f"{type(err).__name__}: {err}")
            return True
        finally:
            renewing.cancel()
        self.processed += 1
        await self._after_commit(claim)
        return True

    async def _keep_lease(self, claim: Claim) -> None:
        while True:
            await asyncio.sleep(self._policy.lease_s / 3)
            if not await self.queue.renew(claim):
                return

    async def _after_commit(self, claim: Claim) -> None:
        if self._on_queue_empty is None:
            return
        async with self._database.read() as db:
            if await workspace_has_open_work(db, claim.workspace_id):
                return
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
