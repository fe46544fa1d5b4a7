"""parley.aio's helpers, as functions on a loop of their own."""

from __future__ import annotations

import asyncio

import pytest

from parley.aio import wait_set


async def test_wait_set_says_whether_the_event_came_or_the_time_ran_out() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_set(event, 5) is True
    assert await wait_set(event, 0) is True  # already set: no wait


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_a_cancel_that_comes_as_the_event_is_set_stops_the_loop(turns: int) -> None:
    """A background loop that waits on an event (the indexer's, the worker's), cancelled
    `turns` loop turns after the event was set: it stops. With Python 3.11's
    `asyncio.wait_for(event.wait(), ...)` turns 0-2 lost the cancel and the loop went on."""
    event = asyncio.Event()

    async def loop() -> None:
        while True:
            event.clear()
            await wait_set(event, 10)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    event.set()
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1)
    assert done == {task} and task.cancelled()
