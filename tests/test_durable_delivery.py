"""Webhook deliveries, catalog refreshes and refresh callbacks are work-queue items, on both
backends: a `parley worker` killed with SIGKILL in the middle of a delivery or of a refresh loses
neither (the next worker takes the unit over when its lease runs out); retries and their attempt
counts survive a restart; a failing endpoint gives up after its attempts with the outcome kept,
and holds up neither other deliveries nor reasoning; deleting an endpoint, a workspace or a
project drops the deliveries not made yet."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from conftest import (
    PARLEY,
    TEST_SECRET,
    AppClient,
    PostgresForTests,
    make_settings,
    parley_env,
    wait_for_queue,
    wait_for_reasoning,
)
from data_sources import PG_PASSWORD, drop_postgres, make_postgres, make_sqlite
from helpers import PARTNER, add_catalog, new_project, ok, project_with_catalog
from parley.app import create_app
from parley.data.refresh_jobs import CATALOG_REFRESH, REFRESH_CALLBACK
from parley.memory.queue_empty import QUEUE_EMPTY
from parley.memory.webhook_delivery import EVENT_ID_HEADER, SIGNATURE_HEADER, WEBHOOK
from parley.store.models import WorkItem, WorkUnitLease, utcnow
from parley.store.queue import WorkQueue
from parley.worker.setup import queue_policy
from test_webhooks import PRIVATE, Receiver, expected_signature

W = "w"
_sources = itertools.count()


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """A test's own (`indirect` parameters), and a directory data connections may read."""
    (tmp_path / "sources").mkdir()
    return {"data_file_roots": {"*": [str(tmp_path / "sources")]}} | getattr(request, "param", {})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def make_receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.stop()


def items(client: TestClient, *task_types: str) -> list[tuple[str, str, int, str | None]]:
    """(task_type, status, attempts, last_error) of the queue's items of `task_types`."""

    async def read() -> list[tuple[str, str, int, str | None]]:
        async with client.app.state.parley.database.read() as db:
            rows = await db.execute(
                select(WorkItem.task_type, WorkItem.status, WorkItem.attempts, WorkItem.last_error)
                .where(WorkItem.task_type.in_(task_types))
                .order_by(WorkItem.id)
            )
            return [tuple(r) for r in rows.all()]  # type: ignore[misc]

    return client.portal.call(read)


def wait_until(condition: Any, what: str, log: Path | None = None, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}" + (f":\n{log.read_text()}" if log else ""))
        time.sleep(0.05)


def start_worker(database_url: str, data_dir: Path, log: Path, **env: str) -> Any:
    """`parley worker` on the test's database, with the app's data directory (so the same
    server secret: credentials open) and webhook key; leases of 2 s."""
    environment = parley_env(
        data_dir,
        PARLEY_DATABASE_URL=database_url,
        PARLEY_WEBHOOK_SECRET=TEST_SECRET,
        PARLEY_WORKER_LEASE_S="2",
        PARLEY_WORKER_POLL_S="0.1",
        **env,
    )
    with log.open("ab") as sink:
        return subprocess.Popen(
            [*PARLEY, "worker"], env=environment, stdout=sink, stderr=subprocess.STDOUT
        )


def kill(process: Any) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def stop(process: Any, log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, log.read_text()


# --- a worker killed mid-delivery, mid-refresh ----------------------------------------------


@pytest.mark.parametrize(
    "settings_overrides", [{"webhook_allow_private_hosts": True}], indirect=True
)  # no worker
def test_a_worker_killed_mid_delivery_delivers_queue_empty_after_restart(
    client: TestClient, receiver: Receiver, database_url: str, tmp_path: Path
) -> None:
    """`queue.empty` is enqueued in the transaction that finishes the reasoning; the worker
    dies while the receiver holds the POST; the next worker sends the same signed event."""
    receiver.delays = [60.0]  # the first POST hangs: the worker dies waiting for the answer
    ok(client.post("/v2/workspaces", json={"id": W}))
    ok(client.post(f"/v2/workspaces/{W}/webhooks", json={"url": receiver.url}))
    said = {"messages": [{"peer_id": "alice", "content": "I keep bees."}]}
    ok(client.post(f"/v2/workspaces/{W}/sessions/s1/messages/", json=said))
    log, data_dir = tmp_path / "worker.log", tmp_path / "data"
    private = {"PARLEY_WEBHOOK_ALLOW_PRIVATE_HOSTS": "true"}

    first = start_worker(database_url, data_dir, log, **private)
    try:
        wait_until(lambda: len(receiver.requests) == 1, "the first delivery", log)
        kill(first)
    finally:
        first.kill()
    assert items(client, WEBHOOK) == [(WEBHOOK, "in_progress", 1, None)]
    assert wait_for_reasoning(client, W, timeout_s=5)["completed_work_units"] == 1

    second = start_worker(database_url, data_dir, log, **private)
    try:
        wait_until(lambda: items(client, WEBHOOK)[0][1] == "done", "the redelivery", log)
        stop(second, log)
    finally:
        second.kill()
    assert items(client, WEBHOOK) == [(WEBHOOK, "done", 2, None)]
    died, delivered = receiver.requests
    assert died.body == delivered.body  # at least once: the same event, sent again
    signature = delivered.headers[SIGNATURE_HEADER.lower()]
    assert signature == died.headers[SIGNATURE_HEADER.lower()] == expected_signature(died.body)
    # the receiver can tell it is a redelivery: the same event id on both attempts
    event_id = delivered.headers[EVENT_ID_HEADER.lower()]
    assert len(event_id) >= 16 and died.headers[EVENT_ID_HEADER.lower()] == event_id
    event = json.loads(delivered.body)
    assert event["type"] == "queue.empty"
    assert event["data"] == {"workspace_id": W, "queue_type": "derive", "session_id": "s1"}


class TableLock:
    """Holds ACCESS EXCLUSIVE on a source table (and adds rows under it) until released: a
    refresh that reads the table waits on it, mid-run."""

    def __init__(self, socket_dir: str, database: str, table: str, *inserts: str) -> None:
        self._release = threading.Event()
        self._locked = threading.Event()
        self._error: BaseException | None = None

        async def hold() -> None:
            import asyncpg

            conn = await asyncpg.connect(host=socket_dir, user="postgres", database=database)
            try:
                async with conn.transaction():
                    await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                    for sql in inserts:
                        await conn.execute(sql)
                    self._locked.set()
                    await asyncio.to_thread(self._release.wait, 120)
            finally:
                await conn.close()

        def run() -> None:
            try:
                asyncio.run(hold())
            except BaseException as err:  # reported by release()
                self._error = err
                self._locked.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self._locked.wait(30) and self._error is None, self._error

    def release(self) -> None:
        self._release.set()
        self._thread.join(timeout=30)
        assert self._error is None, self._error


def waiting_on_locks(socket_dir: str, database: str) -> int:
    async def count() -> int:
        import asyncpg

        conn = await asyncpg.connect(host=socket_dir, user="postgres", database="postgres")
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = $1 AND wait_event_type = 'Lock'",
                    database,
                )
            )
        finally:
            await conn.close()

    return asyncio.run(count())


@pytest.fixture
def pg_source(postgres: PostgresForTests) -> Iterator[tuple[str, str]]:
    name = f"durable_source_{os.getpid()}_{next(_sources)}"
    make_postgres(postgres.socket_dir, name)
    yield postgres.socket_dir, name
    drop_postgres(postgres.socket_dir, name)


@pytest.mark.parametrize(
    "settings_overrides", [{"auth_enabled": True, "data_allow_private_hosts": True}], indirect=True
)  # no worker in the app: the `parley worker` processes refresh
def test_a_worker_killed_mid_refresh_runs_the_refresh_again_after_restart(
    client: TestClient,
    receiver: Receiver,
    database_url: str,
    tmp_path: Path,
    pg_source: tuple[str, str],
) -> None:
    socket_dir, source = pg_source
    pid = new_project(client)["id"]
    credential = {
        "url": socket_dir,
        "user": "postgres",
        "password": PG_PASSWORD,
        "databaseName": source,
    }
    cid = add_catalog(client, pid, credential, kind="POSTGRES", connection="warehouse").id
    stats = f"/api/v1/data/projects/{pid}/catalogs/{cid}/schemas/shop/tables/customers/statistics"
    assert ok(client.get(stats, headers=PARTNER))["rowCount"] == 40
    status = f"/api/v1/metadata/{pid}/refresh/{cid}"
    lock = TableLock(
        socket_dir,
        source,
        "shop.customers",
        "INSERT INTO shop.customers (id, email) "
        "SELECT g, 'n' || g || '@example.com' FROM generate_series(41, 50) g",
    )
    try:
        asked = {"catalogId": cid, "callbackURL": receiver.url, "callbackToken": "tok-9"}
        started = ok(client.post(f"/api/v1/metadata/{pid}/refresh", json=asked, headers=PARTNER))
        assert started["status"] == "ACTIVE"
        log, data_dir = tmp_path / "worker.log", tmp_path / "data"
        env = {"PARLEY_DATA_ALLOW_PRIVATE_HOSTS": "true", "PARLEY_QUERY_TIMEOUT_S": "120"}
        first = start_worker(database_url, data_dir, log, **env)
        try:
            wait_until(lambda: waiting_on_locks(*pg_source) > 0, "the refresh to block", log)
            kill(first)
        finally:
            first.kill()
        assert items(client, CATALOG_REFRESH) == [(CATALOG_REFRESH, "in_progress", 1, None)]
        assert ok(client.get(status, headers=PARTNER)) == {"status": "ACTIVE", "error": None}
    finally:
        lock.release()  # its ten new customers are committed now
    assert receiver.requests == []

    second = start_worker(database_url, data_dir, log, **env)
    try:
        wait_until(lambda: len(receiver.requests) == 1, "the callback", log)
        wait_until(lambda: items(client, REFRESH_CALLBACK)[0][1] == "done", "its settling", log)
        stop(second, log)
    finally:
        second.kill()
    [call] = receiver.requests
    assert call.headers["authorization"] == "Bearer tok-9"
    body = json.loads(call.body)
    assert body.pop("finishedAt").endswith("Z")
    assert body == {
        "projectId": pid,
        "status": "COMPLETED",
        "catalogs": [{"catalogId": cid, "status": "COMPLETED", "error": None}],
    }
    assert ok(client.get(status, headers=PARTNER)) == {"status": "COMPLETED", "error": None}
    assert ok(client.get(stats, headers=PARTNER))["rowCount"] == 50  # refreshed after restart
    assert items(client, CATALOG_REFRESH, REFRESH_CALLBACK) == [
        (CATALOG_REFRESH, "done", 2, None),
        (REFRESH_CALLBACK, "done", 1, None),
    ]


@pytest.mark.parametrize(
    "settings_overrides",
    [{"auth_enabled": True, "data_allow_private_hosts": True, "worker_max_attempts": 2}],
    indirect=True,
)
def test_a_refresh_that_keeps_killing_workers_is_reported_failed(
    client: TestClient, settings: Any, receiver: Receiver, tmp_path: Path
) -> None:
    """Past its attempts the job is kept as failed, and in that transaction its catalogs
    become FAILED and the failure's callback is enqueued: the status never stays ACTIVE."""
    made = project_with_catalog(client, make_sqlite(tmp_path / "sources" / "shop.db"))
    pid, cid = made.id, made.catalog_id
    asked = {"catalogId": cid, "callbackURL": receiver.url}
    ok(client.post(f"/api/v1/metadata/{pid}/refresh", json=asked, headers=PARTNER))
    dead = WorkQueue(
        client.app.state.parley.database, worker_id="dead", policy=queue_policy(settings)
    )

    async def die() -> None:  # claimed, then the worker dies: its lease runs out
        assert await dead.claim([CATALOG_REFRESH]) is not None
        async with client.app.state.parley.database.write() as db:
            await db.execute(update(WorkUnitLease).values(expires_at=utcnow()))

    for _ in range(2):
        client.portal.call(die)
    status = f"/api/v1/metadata/{pid}/refresh/{cid}"
    assert ok(client.get(status, headers=PARTNER))["status"] == "ACTIVE"

    working = settings.model_copy(update=PRIVATE)
    with AppClient(create_app(working)) as worker:
        wait_for_queue(worker, CATALOG_REFRESH, REFRESH_CALLBACK)
        assert items(worker, CATALOG_REFRESH, REFRESH_CALLBACK) == [
            (CATALOG_REFRESH, "failed", 2, "the worker died while running it, 2 times"),
            (REFRESH_CALLBACK, "done", 1, None),
        ]
    [call] = receiver.requests
    body = json.loads(call.body)
    assert body.pop("finishedAt").endswith("Z")
    assert body == {"projectId": pid, "status": "FAILED", "error": "internal error"}
    assert ok(client.get(status, headers=PARTNER)) == {
        "status": "FAILED",
        "error": "internal error",
    }


# --- retries across a restart, and giving up ------------------------------------------------


def delivery_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Any:
    values = PRIVATE | {"webhook_backoff_s": 1.0} | overrides
    return make_settings(database_url, tmp_path / "data", **values)


def first_attempt_then_stop(settings: Any, receiver: Receiver) -> list[Any]:
    """An app that registers the receiver, emits `test.event`, and stops once the first
    attempt has failed (its retry waiting). Returns the queue's webhook items then."""
    with AppClient(create_app(settings)) as client:
        ok(client.post("/v2/workspaces", json={"id": W}))
        ok(client.post(f"/v2/workspaces/{W}/webhooks", json={"url": receiver.url}))
        ok(client.get(f"/v2/workspaces/{W}/webhooks/test"))
        wait_until(lambda: items(client, WEBHOOK)[0][2:] == (1, "HTTP 500"), "attempt 1")
        return items(client, WEBHOOK)


def test_retries_survive_a_restart_with_their_attempts_counted(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500]
    settings = delivery_settings(database_url, tmp_path, webhook_max_attempts=3)
    assert first_attempt_then_stop(settings, receiver) == [(WEBHOOK, "pending", 1, "HTTP 500")]
    assert len(receiver.requests) == 1

    with AppClient(create_app(settings)) as client:  # the restart
        wait_for_queue(client, WEBHOOK)
        assert items(client, WEBHOOK) == [(WEBHOOK, "done", 3, None)]
    first, second, third = receiver.requests
    assert first.body == second.body == third.body
    assert third.headers[SIGNATURE_HEADER.lower()] == expected_signature(first.body)
    assert second.at - first.at >= 0.95 and third.at - second.at >= 1.95  # backoff 1, then 2


def test_gives_up_after_max_attempts_counting_those_before_a_restart(
    database_url: str, tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [500] * 10
    settings = delivery_settings(database_url, tmp_path, webhook_max_attempts=2)
    first_attempt_then_stop(settings, receiver)

    with AppClient(create_app(settings)) as client:
        wait_for_queue(client, WEBHOOK)
        time.sleep(2.5)  # longer than the next backoff: another attempt would have come
        assert items(client, WEBHOOK) == [(WEBHOOK, "failed", 2, "failed: HTTP 500")]
    assert len(receiver.requests) == 2
    assert any(f"webhook to {receiver.url} failed after 2 attempt(s)" in m for m in caplog.messages)


# --- no head-of-line blocking ---------------------------------------------------------------


@pytest.mark.parametrize(
    "settings_overrides",
    [PRIVATE | {"webhook_backoff_s": 0.5, "worker_delivery_concurrency": 1}],
    indirect=True,
)
def test_a_failing_endpoint_does_not_hold_up_another(
    client: TestClient, make_receiver: Any
) -> None:
    failing, fine = make_receiver([500] * 10), make_receiver()
    ok(client.post("/v2/workspaces", json={"id": W}))
    for target in (failing, fine):  # the failing one first: its delivery is claimed first
        ok(client.post(f"/v2/workspaces/{W}/webhooks", json={"url": target.url}))
    ok(client.get(f"/v2/workspaces/{W}/webhooks/test"))
    [delivered] = fine.wait_for(1)
    tried = failing.wait_for(2)
    # one delivery slot: while the failing delivery waited out its backoff, the other went
    assert tried[0].at < delivered.at < tried[1].at


@pytest.mark.parametrize(
    "settings_overrides",
    [PRIVATE | {"webhook_timeout_s": 60.0}],
    indirect=True,
)
def test_deliveries_in_flight_do_not_hold_up_reasoning(
    client: TestClient, make_receiver: Any
) -> None:
    hanging = [make_receiver(), make_receiver()]
    ok(client.post("/v2/workspaces", json={"id": W}))
    for target in hanging:
        target.delay_s = 60.0
        ok(client.post(f"/v2/workspaces/{W}/webhooks", json={"url": target.url}))
    ok(client.get(f"/v2/workspaces/{W}/webhooks/test"))
    for target in hanging:  # both delivery slots are taken, waiting for an answer
        target.wait_for(1)
    said = {"messages": [{"peer_id": "alice", "content": "I keep bees."}]}
    ok(client.post(f"/v2/workspaces/{W}/sessions/s1/messages/", json=said))
    status = wait_for_reasoning(client, W, timeout_s=30)
    assert (status["completed_work_units"], status["failed_work_units"]) == (1, 0)
    # still in flight; the queue.empty the reasoning caused waits for a slot (its item looks
    # for unembedded messages in the delivery lane before it queues the deliveries)
    assert [(t, s, a) for t, s, a, _ in items(client, WEBHOOK, QUEUE_EMPTY)] == [
        (WEBHOOK, "in_progress", 1),
        (WEBHOOK, "in_progress", 1),
        (QUEUE_EMPTY, "pending", 0),
    ]


# --- deletes drop what was not delivered yet ------------------------------------------------

RETRYING = [PRIVATE | {"webhook_backoff_s": 1.0}]


@pytest.mark.parametrize("settings_overrides", RETRYING, indirect=True)
def test_deleting_the_workspace_drops_its_pending_deliveries(
    client: TestClient, make_receiver: Any
) -> None:
    failing = make_receiver([500] * 10)
    ok(client.post("/v2/workspaces", json={"id": W}))
    ok(client.post(f"/v2/workspaces/{W}/webhooks", json={"url": failing.url}))
    ok(client.get(f"/v2/workspaces/{W}/webhooks/test"))
    failing.wait_for(1)
    wait_until(lambda: items(client, WEBHOOK)[0][1] == "pending", "the retry to wait")
    ok(client.delete(f"/v2/workspaces/{W}"))
    assert items(client, WEBHOOK) == []
    time.sleep(1.5)  # past the retry's time
    assert len(failing.requests) == 1


# two receivers must both fail once and be seen waiting before the delete: a longer backoff
# keeps the first one's retry from coming due meanwhile on a loaded machine
@pytest.mark.parametrize(
    "settings_overrides", [PRIVATE | {"webhook_backoff_s": 3.0}], indirect=True
)
def test_deleting_an_endpoint_drops_its_pending_deliveries_only(
    client: TestClient, make_receiver: Any
) -> None:
    gone, kept = make_receiver([500] * 10), make_receiver([500] * 10)
    ok(client.post("/v2/workspaces", json={"id": W}))
    endpoint = ok(client.post(f"/v2/workspaces/{W}/webhooks", json={"url": gone.url}))
    ok(client.post(f"/v2/workspaces/{W}/webhooks", json={"url": kept.url}))
    ok(client.get(f"/v2/workspaces/{W}/webhooks/test"))
    gone.wait_for(1)
    kept.wait_for(1)
    wait_until(
        lambda: [s for _, s, _, _ in items(client, WEBHOOK)] == ["pending", "pending"],
        "both retries to wait",
    )
    ok(client.delete(f"/v2/workspaces/{W}/webhooks/{endpoint['id']}"))
    assert [(s, a) for _, s, a, _ in items(client, WEBHOOK)] == [("pending", 1)]
    assert len(kept.wait_for(2)) == 2  # the other endpoint's delivery goes on
    assert len(gone.requests) == 1


@pytest.mark.parametrize(
    "settings_overrides",
    [{"auth_enabled": True, "webhook_backoff_s": 1.0} | PRIVATE],
    indirect=True,
)
def test_deleting_the_project_drops_its_pending_callbacks(
    client: TestClient, make_receiver: Any, tmp_path: Path
) -> None:
    failing = make_receiver([503] * 10)
    pid = project_with_catalog(client, make_sqlite(tmp_path / "sources" / "shop.db")).id
    refresh = {"callbackURL": failing.url}
    ok(client.post(f"/api/v1/metadata/{pid}/refresh", json=refresh, headers=PARTNER))
    failing.wait_for(1)
    wait_until(
        lambda: [s for _, s, _, _ in items(client, REFRESH_CALLBACK)] == ["pending"],
        "the callback's retry to wait",
    )
    assert client.delete(f"/api/v1/projects/{pid}", headers=PARTNER).status_code == 200
    assert items(client, CATALOG_REFRESH, REFRESH_CALLBACK) == []
    time.sleep(1.5)
    assert len(failing.requests) == 1
