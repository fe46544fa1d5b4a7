"""Small asyncio helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def concurrently(*awaitables: Awaitable[Any]) -> list[Any]:
    """Run the awaitables at once and return their results in order. The first failure
    cancels the others (waiting for them to finish) and is raised as itself, not as a group."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def wait_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set (True) or `timeout_s` has passed (False).

    Not `asyncio.wait_for(event.wait(), ...)`: on Python 3.11 that drops a cancel that comes
    just as the event is set (CPython gh-86296: it returns the inner result instead), so a
    background loop stopped at that moment goes on looping and whoever awaits it at shutdown
    waits forever. `asyncio.timeout` tells its own cancel from another's."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
