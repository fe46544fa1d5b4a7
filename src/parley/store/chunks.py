"""Long id lists in pieces: SQLite and asyncpg cap the bound parameters of one statement."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

CHUNK = 500
T = TypeVar("T")


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
