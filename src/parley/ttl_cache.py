"""A small in-process cache for what every request would otherwise read from the database
(API keys, a project's catalogs).

Entries live `ttl_s` seconds, so a change made by another process (another replica, the CLI)
is seen within that time. A change made in this process calls `invalidate` or `clear` after
its transaction commits; that also bumps a generation, and a value loaded while the change
was committing (read before it, stored after it) is dropped instead of cached."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl_s: float, *, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._generation = 0

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if time.monotonic() >= found[0]:
            self._entries.pop(key, None)
            return None
        return found[1]

    def generation(self) -> int:
        return self._generation

    def put(self, key: K, value: V, generation: int) -> None:
        """Store `value` unless the cache was invalidated since `generation` was read."""
        if self.ttl_s <= 0 or generation != self._generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (time.monotonic() + self.ttl_s, value)

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        found = self.get(key)
        if found is not None:
            return found
        generation = self._generation
        value = await load()
        self.put(key, value, generation)
        return value

    def invalidate(self, key: K) -> None:
        self._generation += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
