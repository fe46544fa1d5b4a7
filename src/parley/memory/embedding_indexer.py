"""Embeds stored messages in the background, in batches, so writes never wait for the model.

The work list is the messages table itself: a message without a row in `message_embeddings`
still needs one, so nothing is lost if the process dies (the next start picks it up). A
watermark keeps the usual poll cheap: a poll that finds nothing pending moves it up to the
newest message, so an idle poll reads no rows (without that, the anti-join scanned the whole
table every second: 166 ms of CPU per poll at 100k messages). On PostgreSQL, concurrent
writers can commit out of seq order, so a periodic full pass looks below the watermark; on
SQLite one writer at a time commits in seq order and no full pass is needed. Writers call
`notify()` after committing, so a new message is usually findable by meaning well within a
second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.aio import wait_set
from parley.llm.embeddings import Embedder, FloatArray
from parley.store.engine import Database
from parley.store.models import Message, MessageEmbedding
from parley.store.upsert import insert_missing

log = logging.getLogger("parley.embeddings")

BATCH_SIZE = 64
# Every route that stores messages wakes its process's indexer (`notify`), so the idle poll only
# finds messages another way: another process's that stopped before embedding them, rows written
# by hand. A poll is a transaction; once a second it was a third of an idle server's CPU.
IDLE_POLL_S = 10.0
RETRY_S = 1.0  # after a failed batch (the database or the embedding server was away)
FULL_PASS_EVERY_S = 60.0


class EmbeddingIndexer:
    def __init__(
        self,
        database: Database,
        embedder: Embedder,
        batch_size: int = BATCH_SIZE,
        *,
        full_pass_every_s: float | None = FULL_PASS_EVERY_S,
    ):
        """`full_pass_every_s`: how often to look below the watermark again; None never
        (right for SQLite, whose commits come in seq order)."""
        self._database = database
        self._embedder = embedder
        self._batch_size = batch_size
        self._full_pass_every_s = full_pass_every_s
        self._wake = asyncio.Event()
        # one drain at a time: `catch_up` beside `run` would embed the same rows twice, and a
        # batch still in flight when `catch_up` returned would land after it
        self._batch_lock = asyncio.Lock()
        self._watermark = 0  # every message with seq <= this has been seen embedded
        self._settled = 0  # the highest watermark so far (a full pass does not lower it)
        self._last_full_pass = time.monotonic()  # the first poll starts from 0 anyway

    @property
    def watermark(self) -> int:
        return self._watermark

    @property
    def embedded_through(self) -> int:
        """The highest watermark reached: every message up to this seq was seen embedded (on
        PostgreSQL, but for one committed out of seq order, found by the next full pass)."""
        return self._settled

    async def backlog(self, db: AsyncSession) -> int:
        """Messages not embedded yet, for `/metrics`: those above the highest watermark
        reached, so a scrape reads only the tail. On PostgreSQL a message committed out of seq
        order below it is not counted until the next full pass embeds it (within a minute)."""
        count = await db.scalar(
            select(func.count())
            .select_from(Message)
            .outerjoin(MessageEmbedding, MessageEmbedding.seq == Message.seq)
            .where(MessageEmbedding.seq.is_(None), Message.seq > self.embedded_through)
        )
        return int(count or 0)

    def _advance(self, seq: int) -> None:
        self._watermark = max(self._watermark, seq)
        self._settled = max(self._settled, self._watermark)

    def notify(self) -> None:
        self._wake.set()

    async def index_batch(self) -> int:
        """Embed up to one batch of pending messages; returns how many were embedded."""
        async with self._batch_lock:
            return await self._drain(max_batches=1)

    async def catch_up(self) -> int:
        """Embed everything pending now (tests, benchmarks, shutdown)."""
        async with self._batch_lock:
            return await self._drain()

    async def _drain(self, max_batches: int | None = None) -> int:
        """Embed what is pending, batch after batch (at most `max_batches`): the next batch is
        read and embedded while the previous one is inserted (on PostgreSQL the insert, which
        maintains the HNSW index, is most of a batch's time). Inserts run one at a time, in seq
        order, so the watermark only ever moves over stored vectors. Returns how many."""
        every = self._full_pass_every_s
        if every is not None and time.monotonic() - self._last_full_pass >= every:
            self._watermark = 0
            self._last_full_pass = time.monotonic()
        cursor = self._watermark  # the next read starts above the batches in flight
        total = batches = 0
        newest: int | None = None
        inserting: asyncio.Task[int] | None = None
        try:
            while max_batches is None or batches < max_batches:
                newest, rows = await self._pending(cursor)
                if not rows:
                    break
                # no session open while the model runs
                vectors = await self._embedder.embed([row.content for row in rows])
                if inserting is not None:
                    total += await inserting
                inserting = asyncio.create_task(self._insert(rows, vectors))
                cursor, batches = rows[-1].seq, batches + 1
            else:
                newest = None  # stopped at `max_batches`: more may be pending
            if inserting is not None:
                task, inserting = inserting, None
                total += await task
        except BaseException as err:
            if inserting is not None:  # let it land (or, when cancelled, roll back)
                if isinstance(err, asyncio.CancelledError):
                    inserting.cancel()
                await asyncio.gather(inserting, return_exceptions=True)
            raise
        if newest is not None:  # everything up to `newest` is embedded
            self._advance(newest)
        return total

    async def _pending(self, above: int) -> tuple[int, list[Any]]:
        """The newest seq, and up to a batch of messages above `above` without a vector."""
        async with self._database.read() as db:
            # read first: on PostgreSQL each statement sees its own snapshot, and a message
            # committed after an empty pending read must not be passed over
            newest = await db.scalar(select(func.max(Message.seq))) or 0
            rows = (
                await db.execute(
                    select(
                        Message.seq,
                        Message.workspace_id,
                        Message.session_id,
                        Message.peer_id,
                        Message.content,
                    )
                    .outerjoin(MessageEmbedding, MessageEmbedding.seq == Message.seq)
                    .where(
                        MessageEmbedding.seq.is_(None),
                        Message.seq > above,
                        Message.seq <= newest,
                    )
                    .order_by(Message.seq)
                    .limit(self._batch_size)
                )
            ).all()
        return newest, list(rows)

    async def _insert(self, rows: list[Any], vectors: FloatArray) -> int:
        async with self._database.write() as db:
            # Messages deleted while the batch was embedded (with their session or workspace)
            # are skipped; the rest are locked FOR KEY SHARE (PostgreSQL) until the commit.
            kept = set(
                await db.scalars(
                    select(Message.seq)
                    .where(Message.seq.in_([row.seq for row in rows]))
                    .with_for_update(key_share=True)
                )
            )
            fresh = [
                {
                    "seq": row.seq,
                    "workspace_id": row.workspace_id,
                    "session_id": row.session_id,
                    "peer_id": row.peer_id,
                    "embedding": vector,
                }
                for row, vector in zip(rows, vectors, strict=True)
                if row.seq in kept
            ]
            if fresh:
                await insert_missing(db, MessageEmbedding, fresh)
        self._advance(rows[-1].seq)
        return len(rows)

    async def run(self) -> None:
        """Forever: embed what is pending, then sleep until notified or the poll interval."""
        while True:
            self._wake.clear()  # before the drain: a write it does not see wakes the next
            try:
                embedded = await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("embedding batch failed; retrying shortly")
                await asyncio.sleep(RETRY_S)
                continue
            if embedded:
                continue  # what was written meanwhile
            await wait_set(self._wake, IDLE_POLL_S)
