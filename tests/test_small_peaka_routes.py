"""Small /api/v1 routes on both backends: a project's default refresh callback (registered,
used by refreshes that name none, removed), the agent graph's PNG (drawn from the graph's
definition), and the OAuth2 connection callback (the grant stored sealed, Peaka's errors)."""

from __future__ import annotations

import ast
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import BACKENDS, AppClient, make_settings, migrated_database, wait_for_queue
from data_sources import make_sqlite
from helpers import PARTNER, new_project, ok, project_key, project_with_catalog
from parley.agent import graph as agent_graph
from parley.agent.workflow import END, GRAPH, START, Edge, Graph, layout, render_png
from parley.app import create_app
from parley.config import Settings
from parley.data.oauth2_grants import parse_callback
from parley.data.refresh_jobs import CATALOG_REFRESH, REFRESH_CALLBACK, callback_check
from parley.errors import InvalidInput
from parley.store.org_models import OAuth2Grant
from test_organizations import error
from test_webhooks import WORKER, Receiver

API = "/api/v1"


@pytest.fixture(scope="module", params=BACKENDS)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"small-routes-{request.param}")
    (folder / "sources").mkdir()
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(
            url,
            folder / "data",
            auth_enabled=True,
            data_file_roots={"*": [folder / "sources"]},
            data_allow_private_hosts=True,  # the receiver listens on 127.0.0.1
            **WORKER,
        )


@pytest.fixture(scope="module")
def client(shared_settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(shared_settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def sources(settings: Settings) -> Path:
    return Path(next(iter(settings.data_file_roots["*"])))


# --- the default refresh callback ---------------------------------------------------------


def test_a_registered_callback_serves_refreshes_that_name_none(
    client: TestClient, shared_settings: Settings, receiver: Receiver
) -> None:
    source = make_sqlite(sources(shared_settings) / f"shop-{id(receiver)}.db")
    made = project_with_catalog(client, source, key="k")
    pid, cid, key = made.id, made.catalog_id, made.headers
    path = f"{API}/metadata/{pid}/refresh/callback"
    none = {"projectId": pid, "callbackURL": None, "callbackTokenSet": False}
    assert ok(client.get(path, headers=key)) == none
    registered = ok(
        client.post(path, json={"callbackURL": receiver.url, "callbackToken": "t0k"}, headers=key)
    )
    assert registered == {"projectId": pid, "callbackURL": receiver.url, "callbackTokenSet": True}
    assert ok(client.get(path, headers=key)) == registered

    started = ok(client.post(f"{API}/metadata/{pid}/refresh", json={"catalogId": cid}, headers=key))
    assert started == {
        "projectId": pid,
        "status": "ACTIVE",
        "catalogs": [{"catalogId": cid, "status": "ACTIVE", "error": None}],
    }
    wait_for_queue(client, CATALOG_REFRESH, REFRESH_CALLBACK)
    [call] = receiver.wait_for(1)
    assert call.headers["authorization"] == "Bearer t0k"
    body = json.loads(call.body)
    body.pop("finishedAt")
    assert body == {
        "projectId": pid,
        "status": "COMPLETED",
        "catalogs": [{"catalogId": cid, "status": "COMPLETED", "error": None}],
    }
    # a refresh that names its own callback still uses that one
    other = Receiver()
    try:
        named = {"callbackURL": other.url}
        assert ok(client.post(f"{API}/metadata/{pid}/refresh", json=named, headers=key))[
            "status"
        ] == ("ACTIVE")
        wait_for_queue(client, CATALOG_REFRESH, REFRESH_CALLBACK)
        assert len(other.wait_for(1)) == 1
        assert "authorization" not in other.requests[0].headers
    finally:
        other.stop()
    assert len(receiver.requests) == 1

    # registering again replaces it; deleting answers what was removed
    replaced = ok(client.post(path, json={"callbackURL": receiver.url + "?v=2"}, headers=key))
    assert replaced == {
        "projectId": pid,
        "callbackURL": receiver.url + "?v=2",
        "callbackTokenSet": False,
    }
    assert ok(client.delete(path, headers=key)) == replaced
    assert ok(client.delete(path, headers=key)) == none
    assert ok(client.get(path, headers=key)) == none
    # without one, a refresh runs at once again
    done = ok(client.post(f"{API}/metadata/{pid}/refresh", json={"catalogId": cid}, headers=key))
    assert done == {
        "status": "COMPLETED",
        "catalogs": [{"catalogId": cid, "status": "COMPLETED", "error": None}],
    }
    assert len(receiver.requests) == 1


def test_callback_registration_checks_its_input_and_its_project(client: TestClient) -> None:
    pid = new_project(client)["id"]
    key = project_key(client, pid)
    path = f"{API}/metadata/{pid}/refresh/callback"
    for body in (
        {},
        {"callbackURL": ""},
        {"callbackURL": "ftp://example.com/x"},
        {"callbackURL": "not a url"},
        {"callbackURL": "http://127.0.0.1:9/x", "callbackToken": "bad token"},
        {"callbackURL": "http://127.0.0.1:9/x", "callbackToken": ""},
        {"callbackURL": "http://x/" + "a" * 2048},
    ):
        error(client.post(path, json=body, headers=key), 422, "VALIDATION_ERROR")
    error(
        client.post(path, json={"callbackURL": "ftp://example.com/x"}, headers=key),
        422,
        "VALIDATION_ERROR",
        "callbackURL must be an absolute http:// or https:// URL",
    )
    assert ok(client.get(path, headers=key))["callbackURL"] is None
    # another project's key, no key, an unknown project
    other = project_key(client, new_project(client)["id"])
    for method in ("get", "post", "delete"):
        sent = client.request(
            method, path, json={"callbackURL": "http://127.0.0.1:9/x"}, headers=other
        )
        error(sent, 403, "FORBIDDEN")
        error(client.request(method, path), 401, "UNAUTHORIZED")
    error(client.get(f"{API}/metadata/nope/refresh/callback", headers=PARTNER), 404, "NOT_FOUND")
    error(
        client.post(
            f"{API}/metadata/nope/refresh/callback",
            json={"callbackURL": "http://127.0.0.1:9/x"},
            headers=PARTNER,
        ),
        404,
        "NOT_FOUND",
    )


async def test_private_callback_targets_are_refused_unless_allowed() -> None:
    with pytest.raises(InvalidInput, match="PARLEY_DATA_ALLOW_PRIVATE_HOSTS"):
        await callback_check(allow_private_hosts=False)("http://127.0.0.1:9/x")
    await callback_check(allow_private_hosts=True)("http://127.0.0.1:9/x")


# --- the agent graph's picture ------------------------------------------------------------


def test_the_workflow_png_is_the_graph_drawn(client: TestClient) -> None:
    key = project_key(client, new_project(client)["id"])
    sent = client.get(f"{API}/ai-agent/workflow/png", headers=key)
    assert sent.status_code == 200
    assert sent.headers["content-type"] == "image/png"
    assert sent.content[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(sent.content))
    image.verify()
    plan = layout()
    assert image.size == (plan.width, plan.height)
    assert client.get(f"{API}/ai-agent/workflow/png", headers=PARTNER).status_code == 200
    error(client.get(f"{API}/ai-agent/workflow/png"), 401, "UNAUTHORIZED")


def _notified_nodes() -> set[str]:
    """The node names graph.py reports progress under (`self._notify(listener, "<node>", ...)`)."""
    tree = ast.parse(Path(agent_graph.__file__).read_text())
    return {
        node.args[1].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "_notify"
        and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
    }


def test_the_drawn_graph_is_the_agents_graph() -> None:
    assert set(GRAPH.nodes) - {START, END} == _notified_nodes()
    plan = layout()
    assert {b.name for b in plan.boxes} == set(GRAPH.nodes)
    rows = {b.name: b.y for b in plan.boxes}
    # the forward path runs top to bottom; repair sits below check (its loop goes back up)
    path = [START, "prepare", "retrieve", "generate", "check", "execute", "analyze", "save", END]
    assert [rows[n] for n in path] == sorted(rows[n] for n in path)
    assert rows["repair"] > rows["check"]
    assert plan.edges == GRAPH.edges


def test_a_changed_graph_draws_a_different_picture() -> None:
    longer = Graph(
        nodes=(*GRAPH.nodes[:-1], "audit", END),
        edges=(*GRAPH.edges[:-1], Edge("save", "audit"), Edge("audit", END)),
    )
    before, after = layout(GRAPH), layout(longer)
    assert "audit" in {b.name for b in after.boxes} - {b.name for b in before.boxes}
    assert after.height > before.height
    assert render_png(after) != render_png(before)
    assert Image.open(io.BytesIO(render_png(after))).size == (after.width, after.height)
    with pytest.raises(ValueError, match="unknown node"):
        layout(Graph(nodes=(START, END), edges=(Edge(START, "nowhere"),)))


# --- the OAuth2 callback ------------------------------------------------------------------


def test_the_oauth2_callback_stores_the_grant_sealed(client: TestClient) -> None:
    pid = new_project(client)["id"]
    key = project_key(client, pid)
    path = f"{API}/connections/{pid}/oauth2"
    query = "code=1234&state=google_analytics:ga&param1=value1"
    made = ok(client.post(path, json={"queryParameters": query}, headers=key))
    assert made == {"id": made["id"], "name": "ga", "type": "google_analytics"}

    async def read() -> OAuth2Grant | None:
        async with client.app.state.parley.database.read() as db:
            return await db.get(OAuth2Grant, made["id"])

    row = client.portal.call(read)
    assert row is not None and row.project_id == pid
    assert "1234" not in row.grant
    box = client.app.state.parley.data.box
    assert box.open(row.grant) == {"code": "1234", "param1": "value1"}
    # a whole redirection URL works too; a state without a name gets one
    url = "https://app.example/cb?code=9&state=hubspot"
    assert ok(client.post(path, json={"queryParameters": url}, headers=PARTNER))["name"] == (
        "hubspot-oauth2"
    )


def test_the_oauth2_callback_answers_peakas_errors(client: TestClient) -> None:
    pid = new_project(client)["id"]
    key = project_key(client, pid)
    path = f"{API}/connections/{pid}/oauth2"
    error(
        client.post(
            path,
            json={"queryParameters": "error=access_denied&error_description=no&state=x"},
            headers=key,
        ),
        400,
        "BAD_REQUEST",
        "the OAuth2 provider refused the authorization: access_denied (no)",
    )
    for query, message in (
        ("state=x", "queryParameters has no 'code': pass the redirection's whole query"),
        ("code=1", "queryParameters has no 'state' naming the connector type"),
        ("code=1&state=9lives", "state '9lives' does not start with a connector type"),
        ("code=1&code=2&state=x", "queryParameters names 'code' more than once"),
    ):
        error(
            client.post(path, json={"queryParameters": query}, headers=key),
            422,
            "VALIDATION_ERROR",
            message,
        )
    for body in ({}, {"queryParameters": ""}, {"queryParameters": 5}, {"queryParameters": "&&"}):
        error(client.post(path, json=body, headers=key), 422, "VALIDATION_ERROR")
    other = project_key(client, new_project(client)["id"])
    error(
        client.post(path, json={"queryParameters": "code=1&state=x"}, headers=other),
        403,
        "FORBIDDEN",
    )
    error(client.post(path, json={"queryParameters": "code=1&state=x"}), 401, "UNAUTHORIZED")
    error(
        client.post(
            f"{API}/connections/nope/oauth2",
            json={"queryParameters": "code=1&state=x"},
            headers=PARTNER,
        ),
        404,
        "NOT_FOUND",
    )


def test_parse_callback() -> None:
    assert parse_callback("?code=a%20b&state=stripe:main") == ("stripe", "main", {"code": "a b"})
    assert parse_callback("code=1&state=x#frag") == ("x", "x-oauth2", {"code": "1"})
    with pytest.raises(InvalidInput):
        parse_callback("code=1&state=x:" + "n" * 201)
