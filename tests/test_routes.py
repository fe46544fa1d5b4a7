"""Properties of the route table that every route must keep."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient

from conftest import api_routes, make_settings
from parley.api.deps import write_db
from parley.app import create_app


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


def _routes(tmp_path: Any) -> list[Any]:
    return api_routes(create_app(make_settings("sqlite+aiosqlite:///unused.db", tmp_path)))


def test_writes_commit_before_the_response_is_sent(tmp_path: Any) -> None:
    writers = 0
    for route in _routes(tmp_path):
        for dep in _walk(route.dependant):
            if dep.call is write_db:
                writers += 1
                assert dep.scope == "function", f"{route.path} commits after responding"
    assert writers >= 20


# Routes that check what they store in a read session first and then open their own write
# session (committed before the answer too): on SQLite a write session holds the one write lock,
# and the check (the SQL guard) can take a second of CPU. See data/saved_queries.py.
OWN_WRITE_SESSION = {"/api/v1/data/projects/{project_id}/queries/{query_id}"}
# the SQL endpoint's DELETEs cancel a statement held in memory: no database row changes
IN_MEMORY_DELETES = ("/v1/statement/",)
# Internal tables change a DuckDB file (no session open meanwhile), then refresh the catalog in
# write sessions of their own (see data/internal/service.py)
_INTERNAL = "/api/v1/data/projects/{project_id}/"
OWN_WRITE_SESSIONS_AFTER_DUCKDB = {
    _INTERNAL + f + path
    for f in ("table", "bitable")
    for path in ("/{table_name}", "/{table_name}/columns/{column_name}")
}


def test_mutating_routes_use_a_write_transaction(tmp_path: Any) -> None:
    own = set()
    for route in _routes(tmp_path):
        calls = {dep.call for dep in _walk(route.dependant)}
        if route.path.startswith(IN_MEMORY_DELETES):
            continue
        if route.path in OWN_WRITE_SESSIONS_AFTER_DUCKDB:
            assert write_db not in calls, f"{route.path} holds a session across DuckDB work"
            continue
        if route.methods == {"PUT"} and route.path in OWN_WRITE_SESSION:
            assert write_db not in calls, f"{route.path} holds a write session while checking"
            own.add(route.path)
        elif route.methods & {"PUT", "DELETE"}:
            assert write_db in calls, f"{route.methods} {route.path} writes without write_db"
    assert own == OWN_WRITE_SESSION


def test_every_operation_id_is_unique(client: TestClient) -> None:
    """A router included twice would serve every route twice and break the OpenAPI schema."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = client.get("/openapi.json").json()
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


# POST and PATCH routes that write in the request's write transaction (the check above covers
# PUT and DELETE only)
WRITE_TRANSACTION_POSTS_AND_PATCHES = {
    ("POST", "/api/v1/data/projects/{project_id}/queries/folders"),
    ("POST", "/api/v1/data/projects/{project_id}/queries/folders/{parent_folder_id}"),
    ("PATCH", "/api/v1/data/projects/{project_id}/queries/folders/{folder_id}/name"),
    ("PATCH", "/api/v1/data/projects/{project_id}/queries/folders/{folder_id}/path"),
    ("PATCH", "/api/v1/data/projects/{project_id}/queries/{query_id}/path"),
}


def test_folder_writes_use_a_write_transaction(tmp_path: Any) -> None:
    found = set()
    for route in _routes(tmp_path):
        for method in route.methods & {"POST", "PATCH"}:
            if (method, route.path) in WRITE_TRANSACTION_POSTS_AND_PATCHES:
                assert write_db in {dep.call for dep in _walk(route.dependant)}, route.path
                found.add((method, route.path))
    assert found == WRITE_TRANSACTION_POSTS_AND_PATCHES


# POSTs that guard the statement in a read session, then write (the export and its job) in a
# write session of their own, as OWN_WRITE_SESSION's PUT does
OWN_WRITE_SESSION_POSTS = {
    "/api/v1/data/projects/{project_id}/queries/{query_id}/exports",
    "/api/v1/data/projects/{project_id}/catalogs/{catalog_id}/schemas/{schema_name}/tables"
    "/{table_name}/exports",
}


def test_export_posts_hold_no_write_session_while_guarding(tmp_path: Any) -> None:
    found = set()
    for route in _routes(tmp_path):
        if "POST" in route.methods and route.path in OWN_WRITE_SESSION_POSTS:
            calls = {dep.call for dep in _walk(route.dependant)}
            assert write_db not in calls, f"{route.path} holds a write session while checking"
            found.add(route.path)
    assert found == OWN_WRITE_SESSION_POSTS
