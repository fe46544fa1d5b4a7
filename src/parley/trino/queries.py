"""The statements in flight: each runs in a task of its own that turns its result into pages
of at most PARLEY_SQL_PAGE_ROWS rows as the source produces them, and holds at most
PAGES_AHEAD of them ahead of the client (the task waits while they are unread, and so does the
source's cursor: a result is never held whole). A query is freed, its source statement
stopped and its pages dropped, when the client has read its last page, cancels it (`DELETE`
of its `nextUri`), or stops polling for PARLEY_SQL_RESULT_TTL_S. A page's token may be asked
for again (a client retrying) and is answered the same."""

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
from parley.trino.statement import StatementResult, warnings_of
from parley.trino.types import writer

log = logging.getLogger("parley.trino")
DEFAULT_MAX_WAIT_S = 1.0  # how long a poll waits for a running statement (Trino's default)
MAX_TOMBSTONES = 10_000
PAGES_AHEAD = 2  # pages made and not yet asked for, per query
CLOSE_WAIT_S = 10.0  # how long shutting down waits for dropped statements to stop


class UnknownQuery(Exception):
    """No such query (or slug): never was, or finished and freed."""


class StalePage(Exception):
    """A token other than the last page's or the next one."""


@dataclass
class Chunk:
    """One page's rows, written for the wire; `last`: no page follows."""

    data: list[list[Any]]
    last: bool
    warnings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class HeldQuery:
    id: str
    slug: str
    project_id: str
    task: asyncio.Task[None] = field(init=False)  # makes the pages (see `QueryRegistry._make`)
    pages: asyncio.Queue[Chunk] = field(default_factory=lambda: asyncio.Queue(PAGES_AHEAD))
    result: StatementResult | None = None  # once the statement has started: its columns
    lookahead: bool = False  # the task holds one batch, to know whether it is the last
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one poll takes a page at a time
    started: float = field(default_factory=time.monotonic)
    touched: float = field(default_factory=time.monotonic)
    token: int = 0  # the last page answered
    last: tuple[dict[str, Any], dict[str, str]] | None = None
    rows: int = 0  # rows sent so far
    bytes: int = 0

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def held_pages(self) -> int:
        """Pages this query holds: those made and unread, the batch held to look ahead, and
        the last one answered (kept for a retried poll)."""
        return self.pages.qsize() + int(self.lookahead) + int(self.last is not None)


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

    def held_pages(self) -> int:
        """Pages held over all queries (see `HeldQuery.held_pages`)."""
        return sum(q.held_pages() for q in self._held.values())

    async def _make(self, query: HeldQuery, run: Callable[[], Awaitable[StatementResult]]) -> None:
        """Runs the statement, then writes its pages into `query.pages` as its batches come:
        a batch is held back until the next one has come (or the stream has ended), so the
        page says whether it is the last. Cancelled (the query was dropped), the source's
        stream is closed, which stops the statement there."""
        result = await run()
        query.result = result
        writers = [writer(kind) for _, kind in result.columns]

        def written(rows: list[list[Any]]) -> list[list[Any]]:
            return [[w(v) for w, v in zip(writers, row, strict=True)] for row in rows]

        size = self.page_rows
        if result.more is None:
            rows = result.rows
            for start in range(0, max(len(rows), 1), size):
                last = start + size >= len(rows)
                chunk = Chunk(
                    written(rows[start : start + size]), last, result.warnings if last else []
                )
                await query.pages.put(chunk)
            return
        truncated, cells_cut, total = result.truncated, result.cells_cut, 0
        held: list[list[Any]] = result.rows
        query.lookahead = True
        async with contextlib.aclosing(result.more) as more:
            async for batch in more:
                truncated = truncated or batch.truncated
                cells_cut += batch.cells_cut
                if not batch.rows:  # the end, found a batch late: the held one is the last
                    continue
                for start in range(0, len(held), size):
                    await query.pages.put(Chunk(written(held[start : start + size]), False))
                total += len(held)
                held = batch.rows
        query.lookahead = False
        total += len(held)
        warnings = result.warnings + warnings_of(
            truncated=truncated, rows=total, cells_cut=cells_cut, row_cap=result.row_cap
        )
        for start in range(0, max(len(held), 1), size):
            last = start + size >= len(held)
            await query.pages.put(
                Chunk(written(held[start : start + size]), last, warnings if last else [])
            )

    def submit(self, project_id: str, run: Callable[[], Awaitable[StatementResult]]) -> HeldQuery:
        self.reap()
        if len(self._held) >= self.max_held:
            raise TrinoError(
                "QUERY_QUEUE_FULL",
                f"{self.max_held} queries are held already (PARLEY_SQL_MAX_HELD_QUERIES); read "
                "or cancel some first",
            )

        query = HeldQuery(_query_id(next(self._sequence)), secrets.token_hex(16), project_id)
        query.task = asyncio.create_task(self._make(query, run), name="parley-trino-statement")
        query.task.add_done_callback(_observe)
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
        query.task.cancel()  # closes the source's stream: the statement stops there
        query.last = None
        query.lookahead = False
        while not query.pages.empty():
            query.pages.get_nowait()
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
        async with query.lock:
            if token == query.token and query.last is not None:  # a twin poll answered it
                return query.last
            chunk = await self._next_chunk(query, max_wait_s)
            if self._held.get(query.id) is not query:  # cancelled or abandoned while waiting
                return self.page_of_gone(query)
            answer = self._answer(query, token, uri, chunk)
            query.token, query.last = token, answer
            return answer

    @staticmethod
    async def _next_chunk(query: HeldQuery, max_wait_s: float) -> Chunk | None:
        """The next page made, waiting up to `max_wait_s` for it; None when none has come
        (the statement still runs, or has failed)."""
        if not query.pages.empty():
            return query.pages.get_nowait()
        if query.task.done():
            return None
        getter = asyncio.ensure_future(query.pages.get())
        await asyncio.wait(
            {getter, query.task}, timeout=max_wait_s, return_when=asyncio.FIRST_COMPLETED
        )
        if getter.done():
            return getter.result()
        getter.cancel()  # a cancelled get leaves its page in the queue
        with contextlib.suppress(asyncio.CancelledError):
            await getter
        if not query.pages.empty():
            return query.pages.get_nowait()
        return None

    def page_of_gone(self, query: HeldQuery) -> Page:
        gone = self._gone.get(query.id)
        error = gone.error if gone else TrinoError("USER_CANCELED", "Query was canceled")
        return self._failed(query.id, error, query.elapsed_ms()), {}

    def _answer(
        self, query: HeldQuery, token: int, uri: Callable[[int], str], chunk: Chunk | None
    ) -> Page:
        info = uri(0)
        if chunk is None and query.task.done() and not query.task.cancelled():
            failure = query.task.exception()
            if failure is not None:
                self._drop(query, None)
                if isinstance(failure, TrinoError):
                    return self._failed(query.id, failure, query.elapsed_ms()), {}
                log.error("statement %s failed", query.id, exc_info=failure)
                error = TrinoError("GENERIC_INTERNAL_ERROR", "Internal error; see the server log")
                return self._failed(query.id, error, query.elapsed_ms()), {}
        result = query.result
        if chunk is None or result is None:  # still running: no page yet
            stats = protocol.stats_json(
                state=protocol.RUNNING, elapsed_ms=query.elapsed_ms(), rows=query.rows,
                bytes_=query.bytes,
            )  # fmt: skip
            body = protocol.results_json(
                query_id=query.id,
                info_uri=info,
                stats=stats,
                next_uri=uri(token + 1),
                columns=protocol.columns_json(result.columns)
                if result and result.columns
                else None,
            )
            return body, result.headers if result else {}
        query.rows += len(chunk.data)
        query.bytes = max(query.bytes, result.bytes)
        stats = protocol.stats_json(
            state=protocol.FINISHED if chunk.last else protocol.RUNNING,
            elapsed_ms=query.elapsed_ms(),
            rows=query.rows,
            bytes_=query.bytes,
        )
        body = protocol.results_json(
            query_id=query.id,
            info_uri=info,
            stats=stats,
            next_uri=None if chunk.last else uri(token + 1),
            columns=protocol.columns_json(result.columns) if result.columns else None,
            data=chunk.data,
            warnings=chunk.warnings,
            update_type=result.update_type,
        )
        if chunk.last:
            self._drop(query, None)  # read to the end: freed now
        return body, result.headers

    @staticmethod
    def _failed(query_id: str, error: TrinoError, elapsed_ms: int) -> dict[str, Any]:
        stats = protocol.stats_json(state=protocol.FAILED, elapsed_ms=elapsed_ms, rows=0, bytes_=0)
        return protocol.results_json(
            query_id=query_id, info_uri="", stats=stats, error=error.body()
        )

    async def close(self) -> None:
        """Drops every query and waits until their sources' statements have stopped (before
        the connectors close)."""
        held = list(self._held.values())
        for query in held:
            self._drop(query, None)
        if held:
            await asyncio.wait({q.task for q in held}, timeout=CLOSE_WAIT_S)
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper


def _observe(task: asyncio.Task[None]) -> None:
    """Retrieve a task's failure, so an unread one is not logged as never retrieved."""
    if not task.cancelled():
        task.exception()
