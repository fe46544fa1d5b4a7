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
