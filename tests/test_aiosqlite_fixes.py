"""aiosqlite's shutdown races (what SQLAlchemy runs into when a task is cancelled while it
closes a connection) must neither hang the event loop's shutdown nor kill the connection's
thread: see parley/store/aiosqlite_fixes.py."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import aiosqlite
import aiosqlite.core

from parley.store import aiosqlite_fixes


async def _close_after_a_stop(path: Path) -> bool:
    """The race, in order: a slow statement is running, close() queues the sqlite close behind
    it, then stop() (the force close) queues the stop; once the thread has run both, close()
    calls stop() again. True when close() finished."""
    connection = await aiosqlite.connect(path)
    slow = asyncio.ensure_future(connection._execute(time.sleep, 0.2))
    await asyncio.sleep(0.05)  # the thread is in the slow statement now
    closing = asyncio.ensure_future(connection.close())
    await asyncio.sleep(0)  # close() has queued the sqlite close
    stopped = connection.stop()
    await slow
    assert stopped is not None
    await stopped
    done, _ = await asyncio.wait([closing], timeout=2)
    closing.cancel()
    return closing in done


def test_close_after_a_stop_finishes(tmp_path: Path) -> None:
    aiosqlite_fixes.install()
    assert asyncio.run(_close_after_a_stop(tmp_path / "race.db")) is True


def test_a_second_stop_returns_nothing_to_wait_for(tmp_path: Path) -> None:
    aiosqlite_fixes.install()

    async def twice() -> tuple[bool, object]:
        connection = await aiosqlite.connect(tmp_path / "twice.db")
        first = connection.stop()
        assert first is not None
        await first
        return True, connection.stop()

    assert asyncio.run(twice()) == (True, None)


def test_a_result_for_a_closed_loop_leaves_the_thread_running(tmp_path: Path) -> None:
    """The force-stop's future can be resolved after its loop closed: the thread drops that
    result and goes on with its queue instead of dying with an unhandled RuntimeError."""
    aiosqlite_fixes.install()
    held: dict[str, Any] = {}

    async def leave_a_slow_call_behind() -> None:
        connection = await aiosqlite.connect(tmp_path / "closed.db")
        held["connection"] = connection
        future = asyncio.get_running_loop().create_future()
        connection._tx.put_nowait((future, lambda: time.sleep(0.2)))  # answered after the loop

    asyncio.run(leave_a_slow_call_behind())  # the loop is closed while the call still runs
    connection = held["connection"]
    went_on = threading.Event()
    connection._tx.put_nowait((None, went_on.set))
    assert went_on.wait(timeout=5) is True
    connection._tx.put_nowait((None, connection._connection.close))
    connection._tx.put_nowait((None, lambda: aiosqlite.core._STOP_RUNNING_SENTINEL))
    connection._thread.join(timeout=5)
    assert connection._thread.is_alive() is False
    connection._connection = None  # closed above: its __del__ has nothing to stop
