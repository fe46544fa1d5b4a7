"""SqlWork: long SQL is parsed in a child process, short SQL in a thread, with the same
outcomes either way, and a dead child costs no request."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.data.execute import pick_and_guard
from parley.data.sql_guard import CatalogScope, QueryRejected, TableName, guard, transpile
from parley.data.sql_work import PROCESS_MIN_CHARS, SqlWork

SHOP = CatalogScope(
    names=frozenset({"shop"}),
    dialect="sqlite",
    default_schema="main",
    tables=(TableName("main", "users"), TableName("main", "orders")),
)
CRM = CatalogScope(
    names=frozenset({"crm"}),
    dialect="postgres",
    default_schema="public",
    tables=(TableName("public", "contacts"),),
)
# a long statement: one IN list of a few thousand numbers
LONG_SQL = "SELECT id FROM users WHERE id IN (" + ", ".join(map(str, range(4000))) + ")"


def _wait_dead(pid: int) -> None:
    """Until the process is gone or a zombie (the pool reaps it, not us)."""
    status = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + 10
    while status.exists() and status.read_text().split(") ", 1)[-1][:1] != "Z":
        assert time.monotonic() < deadline, f"process {pid} still running after SIGKILL"
        time.sleep(0.01)


@pytest.fixture
async def work() -> AsyncIterator[SqlWork]:
    work = SqlWork()
    yield work
    await work.close()


async def test_long_statements_go_to_a_child_and_short_ones_stay_here(work: SqlWork) -> None:
    assert len(LONG_SQL) >= PROCESS_MIN_CHARS
    assert await work.run(os.getpid, chars=PROCESS_MIN_CHARS - 1) == os.getpid()
    child = await work.run(os.getpid, chars=len(LONG_SQL))
    assert child != os.getpid()
    assert await work.run(os.getpid, chars=len(LONG_SQL)) == child  # the one child is kept


async def test_the_child_guards_exactly_as_this_process_does(work: SqlWork) -> None:
    here = guard(LONG_SQL, scope=SHOP, row_cap=50)
    there = await work.run(guard, LONG_SQL, scope=SHOP, row_cap=50, chars=len(LONG_SQL))
    assert there == here
    assert there.sql.startswith('SELECT id FROM "main"."users" WHERE id IN (0, 1, 2,')
    assert there.sql.endswith(", 3999) LIMIT 50")
    picked = await work.run(pick_and_guard, LONG_SQL, [CRM, SHOP], 50, chars=len(LONG_SQL))
    assert picked == (1, here)
    long_trino = "SELECT " + " + ".join(f"c{i}" for i in range(3000)) + " FROM t"
    assert await work.run(
        transpile, long_trino, read="trino", write="postgres", chars=len(long_trino)
    ) == transpile(long_trino, read="trino", write="postgres")


async def test_a_refusal_in_the_child_arrives_as_the_same_error(work: SqlWork) -> None:
    unknown = LONG_SQL.replace("FROM users", "FROM secrets")
    with pytest.raises(QueryRejected) as here:
        guard(unknown, scope=SHOP, row_cap=50)
    with pytest.raises(QueryRejected) as there:
        await work.run(guard, unknown, scope=SHOP, row_cap=50, chars=len(unknown))
    assert there.value.detail == here.value.detail
    assert there.value.detail == "table secrets is not in this project's catalog"
    assert there.value.status_code == 400


async def test_a_killed_child_costs_one_statement_a_thread_and_is_replaced(
    work: SqlWork,
) -> None:
    child = await work.run(os.getpid, chars=len(LONG_SQL))
    os.kill(child, signal.SIGKILL)
    _wait_dead(child)
    # the broken pool is noticed on this call: it runs here instead of failing
    assert await work.run(os.getpid, chars=len(LONG_SQL)) == os.getpid()
    replacement = await work.run(os.getpid, chars=len(LONG_SQL))
    assert replacement not in (child, os.getpid())
