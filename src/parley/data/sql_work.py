"""sqlglot work (parse, guard, transpile) off the event loop.

sqlglot is pure Python: a statement near the guard's MAX_SQL_CHARS costs about a second of CPU.
In a worker thread that second still holds the GIL the event loop needs, and `/health` waited
about half a second behind one such statement. So short statements run in a thread (cheap, and
the guard's memo lives in this process) and long ones in a child process, which holds no lock
of ours. One child: long statements take turns instead of taking every core.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Below this many characters of SQL, a thread: parsing takes under about 0.1 s of CPU, less
# than a round trip to a child process costs once the pickling of a large scope is counted.
PROCESS_MIN_CHARS = 16_000


def _warm() -> None:
    """The child imports the guard once, when it starts, not on its first statement."""
    import parley.data.sql_guard  # noqa: F401


class SqlWork:
    """Runs a picklable, module-level function over SQL text where its length says. The child
    process starts on the first long statement (spawned: a fork of a process with running
    threads may inherit a held lock) and is shut down by `close`."""

    def __init__(self, *, process_min_chars: int = PROCESS_MIN_CHARS) -> None:
        self.process_min_chars = process_min_chars
        self._executor: ProcessPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], /, *args: Any, chars: int, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` off the loop; `chars`: how much SQL it reads."""
        call = functools.partial(fn, *args, **kwargs)
        if chars < self.process_min_chars:
            return await asyncio.to_thread(call)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._processes(), call)
        except BrokenProcessPool:
            # the child died (killed, out of memory): start a new one next time, and do this
            # statement here rather than fail a request that did nothing wrong
            log.warning("the SQL worker process died; this statement runs in a thread")
            self._drop()
            return await asyncio.to_thread(call)

    def _processes(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm,
            )
        return self._executor

    def _drop(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
