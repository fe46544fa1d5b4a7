"""aiosqlite's close() after a stop() (what SQLAlchemy does when a task is cancelled while it
closes a connection) must finish, not hang the event loop's shutdown: see
parley/store/aiosqlite_stop.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiosqlite

from parley.store import aiosqlite_stop


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
    aiosqlite_stop.install()
    assert asyncio.run(_close_after_a_stop(tmp_path / "race.db")) is True


def test_a_second_stop_returns_nothing_to_wait_for(tmp_path: Path) -> None:
    aiosqlite_stop.install()

    async def twice() -> tuple[bool, object]:
        connection = await aiosqlite.connect(tmp_path / "twice.db")
        first = connection.stop()
        assert first is not None
        await first
        return True, connection.stop()

    assert asyncio.run(twice()) == (True, None)
