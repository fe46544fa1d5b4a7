"""Storing a saved query guards its SQL before the write session opens: on SQLite a write
session holds the one write lock, and guarding a long statement takes about a second of CPU,
so every other write (messages too) would wait behind it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from data_sources import make_sqlite
from helpers import ok, project_with_catalog


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"data_file_roots": {"*": [tmp_path / "sources"]}}


# PostgreSQL has no process-wide write lock to hold: what this guards against is SQLite's
@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_guard_holds_no_write_session(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sources").mkdir()
    project = project_with_catalog(
        client, make_sqlite(tmp_path / "sources" / "shop.db"), headers={}
    )
    state = client.app.state.parley  # type: ignore[attr-defined]
    sql_work = state.data.sql_work
    guarded_while: list[bool] = []  # per guard: was a write session open?
    real_run = sql_work.run

    async def run(fn: Any, /, *args: Any, chars: int, **kwargs: Any) -> Any:
        guarded_while.append(state.database.write_lock.locked())
        return await real_run(fn, *args, chars=chars, **kwargs)

    monkeypatch.setattr(sql_work, "run", run)
    queries = f"/api/v1/data/projects/{project.id}/queries"
    made = ok(
        client.post(
            queries,
            json={"displayName": "Rich users", "inputQuery": "SELECT name FROM users"},
        )
    )
    ok(
        client.put(
            f"{queries}/{made['id']}",
            json={"displayName": "Rich users", "inputQuery": "SELECT id FROM users"},
        )
    )
    assert guarded_while == [False, False]
    assert ok(client.get(f"{queries}/{made['id']}"))["inputQuery"] == ("SELECT id FROM users")
    # a refused statement still stores nothing
    refused = client.post(queries, json={"displayName": "Wipe", "inputQuery": "DELETE FROM orders"})
    assert refused.status_code == 400
    assert [q["displayName"] for q in ok(client.get(queries))] == ["Rich users"]
