"""A fix for a shutdown hang in aiosqlite 0.22 (with SQLAlchemy's aiosqlite dialect).

aiosqlite's `Connection.stop()` queues a "close and stop" item for the connection's thread and
returns a future that the thread resolves before it exits. Called a second time, after the
thread has exited, it queues an item nobody takes, and the future never resolves. SQLAlchemy
does exactly that when a task is cancelled while it closes a connection: the cancelled
`terminate()` force-stops the connection while the graceful `close()` it shielded is still
running, and that `close()` ends by calling `stop()` again and awaiting its future. The
orphaned close task then never finishes, and `asyncio.run` (uvicorn's shutdown, a test
client's exit) waits for it forever.

Here `stop()` is made idempotent: a second call returns None, which `close()` does not await.
"""

from __future__ import annotations

import asyncio

from aiosqlite.core import Connection

_original_stop = Connection.stop


def _stop_once(self: Connection) -> asyncio.Future[object] | None:
    if getattr(self, "_parley_stopped", False):
        return None  # the thread is stopping or gone: nothing will resolve another future
    self._parley_stopped = True  # type: ignore[attr-defined]  # our marker on their object
    return _original_stop(self)


def install() -> None:
    Connection.stop = _stop_once  # type: ignore[method-assign]
