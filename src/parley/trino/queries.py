"""The statements in flight: each runs in a task of its own, and its result is held here until
the client has read its last page, cancels it (`DELETE` of its `nextUri`), or stops polling
for PARLEY_SQL_RESULT_TTL_S. A page holds at most PARLEY_SQL_PAGE_ROWS rows; a page's token
may be asked for again (a client retrying) and is answered the same."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from parley.trino import protocol
from parley.trino.errors import TrinoError
from parley.trino.statement import StatementResult
from parley.trino.types import writer

log = logging.getLogger("parley.trino")
DEFAULT_MAX_WAIT_S = 1.0  # how long a poll waits for a running statement (Trino's default)
MAX_TOMBSTONES = 10_000


class UnknownQuery(Exception):
    """No such query (or slug): never was, or finished and freed."""


class StalePage(Exception):
    """A token other than the last page's or the next one."""


@dataclass
class HeldQuery:
    id: str
    slug: str
    project_id: str
    task: asyncio.Task[StatementResult]
    started: float = field(default_factory=time.monotonic)
    touched: float = field(default_factory=time.monotonic)
    token: int = 0  # the last page answered
    last: tuple[dict[str, Any], dict[str, str]] | None = None
    offset: int = 0  # rows sent so far

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


@dataclass(frozen=True)
class Tombstone:
    slug: str
    error: TrinoError
    until: float


Page = tuple[dict[str, Any], dict[str, str]]  # the body, and headers to send with it


def _query_id(sequence: int) -> str:
    return (
        f"{time.strftime('%Y%m%d_%H%M%S', time.gmtime())}_{sequence:05d}_{secrets.token_hex(3)[:5]}"
    )


class QueryRegistry:
    def __init__(self, *, page_rows: int, ttl_s: float, max_held: int) -> None:
        self.page_rows = page_rows
        self.ttl_s = ttl_s
        self.max_held = max_held
        self._held: dict[str, HeldQuery] = {}
        self._gone: OrderedDict[str, Tombstone] = OrderedDict()
        self._sequence = itertools.count(1)
        self._reaper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._held)

    def submit(self, project_id: str, run: Callable[[], Awaitable[StatementResult]]) -> HeldQuery:
        self.reap()
        if len(self._held) >= self.max_held:
            raise TrinoError(
                "QUERY_QUEUE_FULL",
                f"{self.max_held} queries are held already (PARLEY_SQL_MAX_HELD_QUERIES); read "
                "or cancel some first",
            )

        async def work() -> StatementResult:
            return await run()

        task = asyncio.create_task(work(), name="parley-trino-statement")
        task.add_done_callback(_observe)
        query = HeldQuery(_query_id(next(self._sequence)), secrets.token_hex(16), project_id, task)
        self._held[query.id] = query
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_loop(), name="parley-trino-reaper")
        return query

    def find(self, query_id: str, slug: str) -> HeldQuery | Tombstone:
        query = self._held.get(query_id)
        if query is not None and secrets.compare_digest(query.slug, slug):
            return query
        gone = self._gone.get(query_id)
        if gone is not None and secrets.compare_digest(gone.slug, slug):
            return gone
        raise UnknownQuery(query_id)

    def cancel(self, query_id: str, slug: str) -> None:
        found = self.find(query_id, slug)
        if isinstance(found, HeldQuery):
            self._drop(found, TrinoError("USER_CANCELED", "Query was canceled"))

    def _drop(self, query: HeldQuery, error: TrinoError | None) -> None:
        """Free the query (its task stops, its rows go); a later poll is told `error`."""
        self._held.pop(query.id, None)
        query.task.cancel()
        query.last = None
        if error is not None:
            self._gone[query.id] = Tombstone(query.slug, error, time.monotonic() + self.ttl_s)
            while len(self._gone) > MAX_TOMBSTONES:
                self._gone.popitem(last=False)

    def reap(self) -> None:
        now = time.monotonic()
        for query in [q for q in self._held.values() if now - q.touched > self.ttl_s]:
            log.info("query %s abandoned: not polled for %s s", query.id, self.ttl_s)
            self._drop(
                query,
                TrinoError(
                    "ABANDONED_QUERY",
                    f"Query was abandoned by the client: it was not polled for {self.ttl_s:g} s",
                ),
            )
        while self._gone and next(iter(self._gone.values())).until < now:
            self._gone.popitem(last=False)

    async def _reap_loop(self) -> None:
        while self._held or self._gone:
            await asyncio.sleep(min(max(self.ttl_s / 4, 0.05), 5.0))
            self.reap()

    async def page(
        self, query_id: str, slug: str, token: int, *, uri: Callable[[int], str],
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
    ) -> Page:  # fmt: skip
        """The answer to page `token` of a query; `uri(n)` is page n's URI."""
        found = self.find(query_id, slug)
        if isinstance(found, Tombstone):
            return self._failed(query_id, found.error, 0), {}
        query = found
        query.touched = time.monotonic()
        if token == query.token and query.last is not None:
            return query.last
        if token != query.token + 1:
            raise StalePage(f"page {token} of query {query_id}: the next page is {query.token + 1}")
        if not query.task.done():
            await asyncio.wait({query.task}, timeout=max_wait_s)
        if self._held.get(query.id) is not query:  # cancelled or abandoned while waiting
            return self.page_of_gone(query)
        if token == query.token and query.last is not None:  # a twin poll answered it
            return query.last
        answer = self._answer(query, token, uri)
        query.token, query.last = token, answer
        return answer

    def page_of_gone(self, query: HeldQuery) -> Page:
        gone = self._gone.get(query.id)
        error = gone.error if gone else TrinoError("USER_CANCELED", "Query was canceled")
        return self._failed(query.id, error, query.elapsed_ms()), {}

    def _answer(self, query: HeldQuery, token: int, uri: Callable[[int], str]) -> Page:
        info = uri(0)
        if not query.task.done():
            stats = protocol.stats_json(
                state=protocol.RUNNING, elapsed_ms=query.elapsed_ms(), rows=0, bytes_=0
            )
            body = protocol.results_json(
                query_id=query.id, info_uri=info, stats=stats, next_uri=uri(token + 1)
            )
            return body, {}
        failure = query.task.exception()
        if failure is not None:
            self._drop(query, None)
            if isinstance(failure, TrinoError):
                return self._failed(query.id, failure, query.elapsed_ms()), {}
            log.error("statement %s failed", query.id, exc_info=failure)
            error = TrinoError("GENERIC_INTERNAL_ERROR", "Internal error; see the server log")
            return self._failed(query.id, error, query.elapsed_ms()), {}
        result = query.task.result()
        rows = result.rows[query.offset : query.offset + self.page_rows]
        writers = [writer(kind) for _, kind in result.columns]
        data = [[w(v) for w, v in zip(writers, row, strict=True)] for row in rows]
        query.offset += len(rows)
        done = query.offset >= len(result.rows)
        stats = protocol.stats_json(
            state=protocol.FINISHED if done else protocol.RUNNING,
            elapsed_ms=query.elapsed_ms(),
            rows=len(result.rows),
            bytes_=result.bytes,
        )
        body = protocol.results_json(
            query_id=query.id,
            info_uri=info,
            stats=stats,
            next_uri=None if done else uri(token + 1),
            columns=protocol.columns_json(result.columns) if result.columns else None,
            data=data,
            warnings=result.warnings,
            update_type=result.update_type,
        )
        if done:
            self._drop(query, None)  # read to the end: freed now
        return body, result.headers

    @staticmethod
    def _failed(query_id: str, error: TrinoError, elapsed_ms: int) -> dict[str, Any]:
        stats = protocol.stats_json(state=protocol.FAILED, elapsed_ms=elapsed_ms, rows=0, bytes_=0)
        return protocol.results_json(
            query_id=query_id, info_uri="", stats=stats, error=error.body()
        )

    async def close(self) -> None:
        for query in list(self._held.values()):
            self._drop(query, None)
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper


def _observe(task: asyncio.Task[StatementResult]) -> None:
    """Retrieve a task's failure, so an unread one is not logged as never retrieved."""
    if not task.cancelled():
        task.exception()
