"""POST /api/v1/metadata/{projectId}/refresh with a callbackURL: the request answers at once,
the refresh runs on the work queue's worker, and its outcome (success or failure) is POSTed to
a real HTTP receiver on 127.0.0.1 with the callbackToken as a bearer token. Private targets are
refused unless the operator allows them. Crashes and deletes: tests/test_durable_delivery.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import AppClient, make_settings, wait_for_queue
from data_sources import make_sqlite
from helpers import PARTNER, ok, project_with_catalog
from parley.app import create_app
from parley.data.refresh_jobs import CATALOG_REFRESH, REFRESH_CALLBACK
from test_webhooks import WORKER, Receiver


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "sources").mkdir()
    return {
        "auth_enabled": True,
        "data_file_roots": {"*": [tmp_path / "sources"]},
        "data_allow_private_hosts": True,  # the receiver listens on 127.0.0.1
        "webhook_backoff_s": 0.05,
    } | WORKER


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def drain(client: TestClient) -> None:
    """Wait until the refreshes queued so far, and their callbacks, are done."""
    wait_for_queue(client, CATALOG_REFRESH, REFRESH_CALLBACK)


def test_refresh_with_a_callback_answers_at_once_and_reports_success(
    client: TestClient, receiver: Receiver, tmp_path: Path
) -> None:
    made = project_with_catalog(client, make_sqlite(tmp_path / "sources" / "shop.db"))
    pid, cid = made.id, made.catalog_id
    started = ok(
        client.post(
            f"/api/v1/metadata/{pid}/refresh",
            json={"catalogId": cid, "callbackURL": receiver.url, "callbackToken": "tok-Z9.x"},
            headers=PARTNER,
        )
    )
    assert started == {
        "projectId": pid,
        "status": "ACTIVE",
        "catalogs": [{"catalogId": cid, "status": "ACTIVE", "error": None}],
    }
    drain(client)
    [call] = receiver.wait_for(1)
    assert (call.method, call.path) == ("POST", "/hooks/honcho")
    assert call.headers["authorization"] == "Bearer tok-Z9.x"
    assert call.headers["content-type"] == "application/json"
    body = json.loads(call.body)
    assert body.pop("finishedAt").endswith("Z")
    assert body == {
        "projectId": pid,
        "status": "COMPLETED",
        "catalogs": [{"catalogId": cid, "status": "COMPLETED", "error": None}],
    }
    status = ok(client.get(f"/api/v1/metadata/{pid}/refresh/{cid}", headers=PARTNER))
    assert status == {"status": "COMPLETED", "error": None}


def test_a_failed_refresh_is_reported_too(
    client: TestClient, receiver: Receiver, tmp_path: Path
) -> None:
    source = make_sqlite(tmp_path / "sources" / "shop.db")
    made = project_with_catalog(client, source)
    pid, cid = made.id, made.catalog_id
    source.write_bytes(b"this is no database any more " * 100)
    receiver.statuses = [503]  # the first delivery fails: it is retried
    started = ok(
        client.post(
            f"/api/v1/metadata/{pid}/refresh", json={"callbackURL": receiver.url}, headers=PARTNER
        )
    )
    assert started == {
        "projectId": pid,
        "status": "ACTIVE",
        "catalogs": [{"catalogId": cid, "status": "ACTIVE", "error": None}],
    }
    drain(client)
    first, second = receiver.wait_for(2)
    assert first.body == second.body
    assert "authorization" not in second.headers  # no token given, none sent
    body = json.loads(second.body)
    error = f"cannot read SQLite file {source}: file is not a database"
    assert body["status"] == "FAILED"
    assert body["catalogs"] == [{"catalogId": cid, "status": "FAILED", "error": error}]
    status = ok(client.get(f"/api/v1/metadata/{pid}/refresh/{cid}", headers=PARTNER))
    assert status == {"status": "FAILED", "error": error}
    # without a callback the same refresh answers its outcome, never a 500
    sync = ok(client.post(f"/api/v1/metadata/{pid}/refresh", json={}, headers=PARTNER))
    assert sync == {
        "status": "FAILED",
        "catalogs": [{"catalogId": cid, "status": "FAILED", "error": error}],
    }


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"callbackURL": "ftp://x.example/x"}, 422, "callbackURL must be an absolute http:// or "),
        ({"callbackURL": "not a url"}, 422, "callbackURL must be an absolute http:// or https://"),
        ({"callbackToken": "abc"}, 422, "callbackToken goes with a callbackURL"),
        ({"callbackURL": "http://127.0.0.1:9/x", "catalogId": "nope"}, 404, "Catalog nope not"),
    ],
)
def test_bad_callback_requests_are_refused(
    client: TestClient,
    receiver: Receiver,
    tmp_path: Path,
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    pid = project_with_catalog(client, make_sqlite(tmp_path / "sources" / "shop.db")).id
    response = client.post(f"/api/v1/metadata/{pid}/refresh", json=body, headers=PARTNER)
    assert response.status_code == status, response.text
    assert response.json()["message"].startswith(message)
    drain(client)
    assert receiver.requests == []


def test_a_token_that_could_break_the_header_is_refused(client: TestClient, tmp_path: Path) -> None:
    pid = project_with_catalog(client, make_sqlite(tmp_path / "sources" / "shop.db")).id
    response = client.post(
        f"/api/v1/metadata/{pid}/refresh",
        json={"callbackURL": "http://example.com/x", "callbackToken": "a\r\nX-Evil: 1"},
        headers=PARTNER,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errorCode"] == "VALIDATION_ERROR"


def test_private_callback_targets_are_refused_by_default(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    (tmp_path / "sources").mkdir()
    settings = make_settings(
        database_url,
        tmp_path / "data",
        auth_enabled=True,
        data_file_roots={"*": [tmp_path / "sources"]},
    )
    with AppClient(create_app(settings)) as client:
        made = project_with_catalog(client, make_sqlite(tmp_path / "sources" / "shop.db"))
        pid, cid = made.id, made.catalog_id
        response = client.post(
            f"/api/v1/metadata/{pid}/refresh", json={"callbackURL": receiver.url}, headers=PARTNER
        )
        assert response.status_code == 422, response.text
        assert response.json() == {
            "errorCode": "VALIDATION_ERROR",
            "message": f"callbackURL {receiver.url} resolves to the non-public address "
            "127.0.0.1; set PARLEY_DATA_ALLOW_PRIVATE_HOSTS=true to allow private targets",
        }
        # nothing started: the catalog keeps its last outcome
        status = ok(client.get(f"/api/v1/metadata/{pid}/refresh/{cid}", headers=PARTNER))
        assert status == {"status": "COMPLETED", "error": None}
    assert receiver.requests == []
