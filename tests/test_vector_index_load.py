"""Loading the SQLite vector index off the event loop: a workspace's collection is read from
the database in batches and appended in worker threads, and it answers exactly as the rows
say, on a cold load, after appends and after a reload; the loop keeps running meanwhile; a
caller cancelled mid-load leaves no half-written or doubled rows for the next; and a view
taken on the loop while another thread appends sees only whole rows."""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, insert

from parley.memory.vector_index import Collection, MessageVectorIndex
from parley.store.engine import Database, create_database
from parley.store.models import Message, MessageEmbedding, Peer, Session, SessionPeer, Workspace

DIMS = 16
SESSIONS = [f"s{i}" for i in range(7)]
PEERS = [f"p{i}" for i in range(5)]
SCOPES: list[dict[str, Any]] = [
    {},
    {"session_id": "s3"},
    {"peer_id": "p1"},
    {"session_id": "s2", "peer_id": "p4"},
    {"sessions": ["s0", "s5", "missing"]},
    {"peer_id": "p0", "sessions": ["s1", "s6"]},
    {"session_id": "missing"},
]
SEQ = iter(range(1, 10**9))  # seqs across workspaces, as the messages table's AUTOINCREMENT


@dataclass
class Rows:
    """What the database holds for one workspace, to compute answers the plain way."""

    seqs: list[int]
    sessions: list[str]
    peers: list[str]
    vectors: list[np.ndarray]

    def answer(self, query: np.ndarray, k: int, **scope: Any) -> list[int]:
        kept = [
            i
            for i in range(len(self.seqs))
            if scope.get("session_id") in (None, self.sessions[i])
            and scope.get("peer_id") in (None, self.peers[i])
            and (scope.get("sessions") is None or self.sessions[i] in scope["sessions"])
        ]
        scored = [(float(np.dot(self.vectors[i], query)), self.seqs[i]) for i in kept]
        scored.sort(key=lambda item: (-item[0], -item[1]))
        return [seq for _, seq in scored[:k]]


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "parley.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def seed_workspace(database: Database, workspace: str) -> None:
    async with database.write_engine.begin() as conn:
        await conn.execute(
            insert(Workspace.__table__), [{"id": workspace, "metadata": {}, "configuration": {}}]
        )
        await conn.execute(
            insert(Peer.__table__),
            [
                {"workspace_id": workspace, "id": p, "metadata": {}, "configuration": {}}
                for p in PEERS
            ],
        )
        await conn.execute(
            insert(Session.__table__),
            [
                {
                    "workspace_id": workspace,
                    "id": s,
                    "is_active": True,
                    "metadata": {},
                    "configuration": {},
                }
                for s in SESSIONS
            ],
        )
        await conn.execute(
            insert(SessionPeer.__table__),
            [
                {"workspace_id": workspace, "session_id": s, "peer_id": p}
                for s in SESSIONS
                for p in PEERS
            ],
        )


async def add_rows(
    database: Database, workspace: str, rows: Rows, rng: np.random.Generator, n: int
) -> None:
    """n messages with embeddings, seqs after every other workspace's (they interleave)."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    vectors = rng.standard_normal((n, DIMS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    messages, embeddings = [], []
    async with database.write_engine.begin() as conn:
        for vector in vectors:
            seq = next(SEQ)
            session, peer = SESSIONS[rng.integers(len(SESSIONS))], PEERS[rng.integers(len(PEERS))]
            messages.append(
                {
                    "seq": seq,
                    "id": f"m{seq}",
                    "workspace_id": workspace,
                    "session_id": session,
                    "peer_id": peer,
                    "content": f"message {seq}",
                    "metadata": {},
                    "internal_metadata": {},
                    "token_count": 2,
                    "created_at": start + timedelta(seconds=seq),
                }
            )
            embeddings.append(
                {
                    "seq": seq,
                    "workspace_id": workspace,
                    "session_id": session,
                    "peer_id": peer,
                    "embedding": vector,
                }
            )
            rows.seqs.append(seq)
            rows.sessions.append(session)
            rows.peers.append(peer)
            rows.vectors.append(vector)
        await conn.execute(insert(Message.__table__), messages)
        await conn.execute(insert(MessageEmbedding.__table__), embeddings)


async def collection(database: Database, index: MessageVectorIndex, workspace: str) -> Collection:
    async with database.read() as db:
        return await index.collection(db, workspace)


def check(found: Collection, rows: Rows, rng: np.random.Generator) -> None:
    assert found.seqs.tolist() == rows.seqs  # every row once, in seq order
    for _ in range(4):
        query = rng.standard_normal(DIMS).astype(np.float32)
        query /= np.linalg.norm(query)
        for scope in SCOPES:
            for k in (1, 10, 10_000):
                got = [seq for seq, _ in found.top(query, k, **scope)]
                assert got == rows.answer(query, k, **scope), (scope, k)


def test_cold_load_appends_and_reload_match_the_rows(database: str) -> None:
    """Batches of 128 rows (the default is 5,000): a cold load of two workspaces whose seqs
    interleave, an append past the collection, a reload after a delete."""
    rng = np.random.default_rng(11)

    async def run() -> None:
        db = create_database(database)
        try:
            a, b = Rows([], [], [], []), Rows([], [], [], [])
            for workspace in ("wa", "wb"):
                await seed_workspace(db, workspace)
            for _ in range(3):
                await add_rows(db, "wa", a, rng, 700)
                await add_rows(db, "wb", b, rng, 300)
            index = MessageVectorIndex(DIMS, fetch_rows=128)
            cold_a = await collection(db, index, "wa")
            check(cold_a, a, rng)
            check(await collection(db, index, "wb"), b, rng)
            await add_rows(db, "wa", a, rng, 333)  # appended to the same collection
            assert await collection(db, index, "wa") is cold_a
            check(cold_a, a, rng)
            gone = a.seqs[500]
            async with db.write_engine.begin() as conn:
                await conn.execute(delete(Message.__table__).where(Message.seq == gone))
            for column in (a.seqs, a.sessions, a.peers, a.vectors):
                del column[500]
            reloaded = await collection(db, index, "wa")
            assert reloaded is not cold_a
            check(reloaded, a, rng)
            assert (await collection(db, index, "empty")).count == 0
        finally:
            await db.dispose()

    asyncio.run(run())


def test_the_load_runs_in_worker_threads_while_the_loop_runs(database: str) -> None:
    """Which threads run `Collection.append` (observed with a profile hook, which every
    thread started from here on gets): never the event loop's. And the loop keeps turning: a
    task that only yields sees the collection at counts between the batches."""
    rng = np.random.default_rng(5)
    appended_in: set[int] = set()
    append_code = Collection.append.__code__

    def watch(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code is append_code:
            appended_in.add(threading.get_ident())

    async def run() -> None:
        db = create_database(database)
        try:
            rows = Rows([], [], [], [])
            await seed_workspace(db, "w")
            await add_rows(db, "w", rows, rng, 50)
            index = MessageVectorIndex(DIMS, fetch_rows=100)
            current = await collection(db, index, "w")
            await add_rows(db, "w", rows, rng, 2_000)  # 20 batches to append
            seen: list[int] = []
            loading = asyncio.ensure_future(collection(db, index, "w"))
            while not loading.done():
                seen.append(current.count)
                await asyncio.sleep(0)
            assert await loading is current
            check(current, rows, rng)
            between = {count for count in seen if 50 < count < 2_050}
            assert len(between) >= 2, sorted(set(seen))
        finally:
            await db.dispose()

    previous = threading.getprofile()
    threading.setprofile(watch)
    sys.setprofile(watch)
    try:
        asyncio.run(run())  # a new loop: its default executor's threads start after the hook
    finally:
        sys.setprofile(None)
        threading.setprofile(previous)  # None restores the default
    assert appended_in
    assert threading.get_ident() not in appended_in


def test_a_caller_cancelled_mid_load_leaves_the_rows_whole(database: str) -> None:
    """The first caller is cancelled while a worker thread is in the middle of appending its
    first batch (held there by a profile hook until the test lets it go): it raises
    CancelledError, and the next caller, waiting meanwhile, finds every row once. Had the
    lock passed on at the cancellation, the next caller would have read the collection's last
    seq before that batch and appended it again, beside the first thread."""
    rng = np.random.default_rng(3)
    entered, release = threading.Event(), threading.Event()
    append_code = Collection._append_within.__code__

    def hold_first_append(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code is append_code and not entered.is_set():
            entered.set()
            release.wait(30)

    async def run() -> None:
        db = create_database(database)
        try:
            rows = Rows([], [], [], [])
            await seed_workspace(db, "w")
            await add_rows(db, "w", rows, rng, 10)
            index = MessageVectorIndex(DIMS, fetch_rows=50)
            current = await collection(db, index, "w")  # `entered` is set: not held
            entered.clear()
            await add_rows(db, "w", rows, rng, 1_500)
            first = asyncio.ensure_future(collection(db, index, "w"))
            while not entered.is_set():
                await asyncio.sleep(0.001)
            first.cancel()
            second = asyncio.ensure_future(collection(db, index, "w"))
            done, _ = await asyncio.wait([second], timeout=1.0)
            assert not done  # it waits for the lock, which waits for the thread
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await first
            assert await second is current
            check(current, rows, rng)
        finally:
            release.set()
            await db.dispose()

    entered.set()  # not before the first load's appends
    previous = threading.getprofile()
    threading.setprofile(hold_first_append)
    try:
        asyncio.run(run())  # a new loop: its default executor's threads start after the hook
    finally:
        threading.setprofile(previous)  # None restores the default


def test_views_taken_while_another_thread_appends_see_whole_rows() -> None:
    """A view on this thread, while a worker appends batches of new sessions and peers:
    each view answers exactly as the rows below its own size say."""
    rng = np.random.default_rng(9)
    rows = Rows([], [], [], [])
    batches = []
    for b in range(150):
        vectors = rng.standard_normal((40, DIMS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        batch = []
        for i, vector in enumerate(vectors):
            seq = 1 + b * 40 + i
            session, peer = f"s{(seq * 7) % (3 + b)}", f"p{(seq * 3) % (2 + b // 2)}"
            batch.append((seq, session, peer, vector))
            rows.seqs.append(seq)
            rows.sessions.append(session)
            rows.peers.append(peer)
            rows.vectors.append(vector)
        batches.append(batch)
    found = Collection(dims=DIMS)
    worker = threading.Thread(target=lambda: [found.append(batch) for batch in batches])
    query = np.ones(DIMS, dtype=np.float32) / np.sqrt(DIMS)
    scopes: list[dict[str, Any]] = [
        {},
        {"session_id": "s1"},
        {"peer_id": "p1"},
        {"session_id": "s2", "peer_id": "p0"},
        {"sessions": ["s0", "s4", "s40"]},
        {"peer_id": "p2", "sessions": ["s1", "s3"]},
    ]
    checked = 0
    worker.start()
    while worker.is_alive() or checked == 0:
        for scope in scopes:
            view = found.view(**scope)
            size = len(view.seqs)  # the rows this view may read: the first `size`
            below = Rows(rows.seqs[:size], rows.sessions[:size], rows.peers[:size], rows.vectors)
            assert [seq for seq, _ in view.top(query, 20)] == below.answer(query, 20, **scope)
            checked += 1
    worker.join()
    assert found.seqs.tolist() == rows.seqs
