"""Two fixes for shutdown races in aiosqlite 0.22 (with SQLAlchemy's aiosqlite dialect), both
hit when a task is cancelled while SQLAlchemy closes a connection (a test client's exit,
uvicorn's shutdown):

1. `Connection.stop()` queues a "close and stop" item for the connection's thread and returns a
   future the thread resolves before it exits. Called again after the thread has exited, it
   queues an item nobody takes, and its future never resolves. SQLAlchemy does that: the
   cancelled `terminate()` force-stops the connection while the graceful `close()` it shielded
   still runs, and that `close()` ends by calling `stop()` again and awaiting the future. The
   orphaned close task then never ends, and `asyncio.run` waits for it forever. Here a second
   `stop()` returns None, which `close()` does not await.
2. The thread hands each result to its event loop with `call_soon_threadsafe`, which raises
   once that loop is closed (the force-stop's future, resolved after the loop shut down), and
   the thread dies with an unhandled exception. Here a result for a closed loop is dropped:
   nobody can be waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiosqlite.core
from aiosqlite.core import Connection

log = logging.getLogger(__name__)
_original_stop = Connection.stop
_STOP = aiosqlite.core._STOP_RUNNING_SENTINEL


def _stop_once(self: Connection) -> asyncio.Future[object] | None:
    if getattr(self, "_parley_stopped", False):
        return None  # the thread is stopping or gone: nothing will resolve another future
    self._parley_stopped = True  # type: ignore[attr-defined]  # our marker on their object
    return _original_stop(self)


def _hand_over(
    future: asyncio.Future[Any], setter: Callable[[asyncio.Future[Any], Any], None], value: Any
) -> None:
    try:
        future.get_loop().call_soon_threadsafe(setter, future, value)
    except RuntimeError:  # the loop is closed: nobody waits for this any more
        log.debug("dropped a result for a closed event loop")


def _connection_worker_thread(tx: Any) -> None:
    """aiosqlite's thread loop: run each queued call, hand its result or error to the caller's
    loop, until the stop item; a closed loop's result is dropped instead of killing the
    thread."""
    while True:
        future, function = tx.get()
        try:
            result = function()
        except BaseException as error:  # noqa: BLE001  # handed to the caller, as aiosqlite does
            if future:
                _hand_over(future, aiosqlite.core.set_exception, error)
            continue
        if future:
            _hand_over(future, aiosqlite.core.set_result, result)
        if result is _STOP:
            break


def install() -> None:
    Connection.stop = _stop_once  # type: ignore[method-assign]
    # Connection.__init__ looks the thread's target up in aiosqlite.core when it is called
    aiosqlite.core._connection_worker_thread = _connection_worker_thread
