"""/v3/keys and /v3/workspaces/{w}/webhooks (Honcho 3.0.12), in process on SQLite and
PostgreSQL: v3's status codes (201 when an endpoint is created, 204 for a delete), Honcho 3's
words for a key without a workspace, the test event delivered signed to a real receiver on
127.0.0.1, bad input in v3's 422 shape, and keys that reach only their own workspace.
(honcho-ai 2.7.0 has no calls for keys or webhooks.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from conftest import TEST_SECRET
from helpers import ok
from parley.auth.keys import ADMIN, Principal, create_key
from parley.memory.webhook_delivery import SIGNATURE_HEADER
from test_webhooks import PRIVATE, Receiver, drain, expected_signature

AUTH = {"auth_enabled": True}
W = "w"
HOOKS = f"/v3/workspaces/{W}/webhooks"
PUBLIC_URL = "http://93.184.216.34/hook"  # an address literal: no lookup, never called here


def bearer(principal: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(principal, secret=TEST_SECRET)}"}


ADMIN_H = bearer(ADMIN)


def workspace(client: TestClient, workspace_id: str = W, **kwargs: Any) -> None:
    made = client.post("/v3/workspaces", json={"id": workspace_id}, **kwargs)
    assert made.status_code == 201, made.text


def _issue(response: Any) -> tuple[str, list[Any]]:
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    return issue["type"], issue["loc"]


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [AUTH])
def test_admin_mints_scoped_keys_that_work_on_v3(client: TestClient) -> None:
    workspace(client, headers=ADMIN_H)
    minted = client.post(
        "/v3/keys", params={"workspace_id": W, "peer_id": "alice"}, headers=ADMIN_H
    )
    assert minted.status_code == 200, minted.text
    assert set(minted.json()) == {"key"}
    claims = jwt.decode(minted.json()["key"], TEST_SECRET, algorithms=["HS256"])
    assert (claims["w"], claims["p"]) == (W, "alice")
    assert "ad" not in claims and "s" not in claims and "exp" not in claims

    later = datetime.now(UTC) + timedelta(hours=1)
    expiring = ok(
        client.post(
            "/v3/keys",
            params={"workspace_id": W, "session_id": "s", "expires_at": later.isoformat()},
            headers=ADMIN_H,
        )
    )
    claims = jwt.decode(expiring["key"], TEST_SECRET, algorithms=["HS256"])
    assert (claims["s"], claims["exp"]) == ("s", int(later.timestamp()))

    # the minted workspace key reaches its workspace through /v3 and no other
    minted = ok(client.post("/v3/keys", params={"workspace_id": W}, headers=ADMIN_H))
    key = {"Authorization": f"Bearer {minted['key']}"}
    assert client.post(f"/v3/workspaces/{W}/search", json={"query": "x"}, headers=key).json() == []
    elsewhere = client.post("/v3/workspaces/other/search", json={"query": "x"}, headers=key)
    assert (elsewhere.status_code, elsewhere.json()) == (
        403,
        {"detail": "a key for workspace w cannot reach workspace other"},
    )


@pytest.mark.parametrize("settings_overrides", [AUTH])
def test_bad_key_requests_answer_as_honcho_3(client: TestClient) -> None:
    def refused(params: dict[str, str], detail: str) -> None:
        response = client.post("/v3/keys", params=params, headers=ADMIN_H)
        assert (response.status_code, response.json()) == (422, {"detail": detail}), params

    refused({}, "At least one of workspace_id, peer_id, or session_id must be provided")
    for params in ({"peer_id": "alice"}, {"session_id": "s"}, {"peer_id": "a", "session_id": "s"}):
        refused(params, "workspace_id is required when scoping a key to a peer or session")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    refused({"workspace_id": W, "expires_at": past}, "expires_at must be in the future")
    bad_time = client.post(
        "/v3/keys", params={"workspace_id": W, "expires_at": "soon"}, headers=ADMIN_H
    )
    assert _issue(bad_time) == ("datetime_from_date_parsing", ["query", "expires_at"])
    bad_id = client.post("/v3/keys", params={"workspace_id": "no spaces"}, headers=ADMIN_H)
    assert _issue(bad_id) == ("string_pattern_mismatch", ["query", "workspace_id"])

    # only admin keys mint keys
    needs_admin = "this route needs an admin key; the request used a key for workspace w"
    for headers, detail in (
        (bearer(Principal(workspace=W)), needs_admin),
        (
            bearer(Principal(workspace=W, peer="alice")),
            "this route needs an admin key; the request used a key for peer alice of workspace w",
        ),
    ):
        response = client.post("/v3/keys", params={"workspace_id": W}, headers=headers)
        assert (response.status_code, response.json()) == (403, {"detail": detail})
    missing = client.post("/v3/keys", params={"workspace_id": W})
    assert missing.status_code == 401


def test_with_auth_off_keys_are_minted_as_on_v2(client: TestClient) -> None:
    """Honcho 3 answers 405 here (auth off: keys are disabled); Parley mints them, as its /v2
    does, for a deployment that turns auth on later."""
    minted = ok(client.post("/v3/keys", params={"workspace_id": W}))
    assert jwt.decode(minted["key"], TEST_SECRET, algorithms=["HS256"])["w"] == W


# --- webhooks --------------------------------------------------------------------------------


def test_get_or_create_is_201_then_200_and_delete_is_204(client: TestClient) -> None:
    workspace(client)
    first = client.post(HOOKS, json={"url": PUBLIC_URL})
    assert first.status_code == 201, first.text
    made = first.json()
    assert set(made) == {"id", "workspace_id", "url", "created_at"}
    assert (made["workspace_id"], made["url"]) == (W, PUBLIC_URL)
    again = client.post(HOOKS, json={"url": PUBLIC_URL})
    assert (again.status_code, again.json()) == (200, made)
    other = client.post(HOOKS, json={"url": PUBLIC_URL + "/2"})
    assert other.status_code == 201

    listed = ok(client.get(HOOKS, params={"size": 1}))
    assert (listed["items"], listed["total"], listed["pages"]) == ([made], 2, 2)
    # the same endpoints through /v2
    assert ok(client.get(f"/v2/workspaces/{W}/webhooks")) == ok(client.get(HOOKS))

    gone = client.delete(f"{HOOKS}/{made['id']}")
    assert (gone.status_code, gone.content) == (204, b"")
    assert [e["id"] for e in ok(client.get(HOOKS))["items"]] == [other.json()["id"]]
    twice = client.delete(f"{HOOKS}/{made['id']}")
    assert (twice.status_code, twice.json()) == (
        404,
        {"detail": f"Webhook endpoint {made['id']} not found in workspace {W}"},
    )
    # registering the URL again makes a new endpoint (201)
    back = client.post(HOOKS, json={"url": PUBLIC_URL})
    assert back.status_code == 201 and back.json()["id"] != made["id"]


def test_unknown_workspace_and_endpoint(client: TestClient) -> None:
    """As in Honcho: registering needs the workspace (404); listing and the test emit of an
    unknown workspace find no endpoints; an endpoint of another workspace is not found."""
    created = client.post("/v3/workspaces/nope/webhooks", json={"url": PUBLIC_URL})
    assert (created.status_code, created.json()) == (404, {"detail": "Workspace nope not found"})
    empty = {"items": [], "total": 0, "page": 1, "size": 50, "pages": 0}
    assert ok(client.get("/v3/workspaces/nope/webhooks")) == empty
    assert ok(client.get("/v3/workspaces/nope/webhooks/test")) == {
        "message": "test.event queued for 0 endpoint(s)",
        "endpoints": 0,
    }
    workspace(client)
    workspace(client, "other")
    theirs = client.post("/v3/workspaces/other/webhooks", json={"url": PUBLIC_URL})
    assert theirs.status_code == 201
    stolen = client.delete(f"{HOOKS}/{theirs.json()['id']}")
    assert stolen.status_code == 404
    assert ok(client.get("/v3/workspaces/other/webhooks"))["total"] == 1


def test_bad_webhook_urls_are_422_in_v3s_shape(client: TestClient) -> None:
    workspace(client)
    for body, kind in (
        ({}, ("missing", ["body", "url"])),
        ({"url": 5}, ("string_type", ["body", "url"])),
        ({"url": ""}, ("string_too_short", ["body", "url"])),
    ):
        assert _issue(client.post(HOOKS, json=body)) == kind, body
    for url, reason in (
        ("ftp://example.com/x", "webhook URL must be an absolute http:// or https:// URL"),
        (
            "http://127.0.0.1:9/x",
            "webhook URL http://127.0.0.1:9/x resolves to the non-public address 127.0.0.1; "
            "set PARLEY_WEBHOOK_ALLOW_PRIVATE_HOSTS=true to allow private targets",
        ),
    ):
        response = client.post(HOOKS, json={"url": url})
        assert response.status_code == 422
        assert response.json() == {
            "detail": [
                {
                    "type": "value_error",
                    "loc": ["body", "url"],
                    "msg": f"Value error, {reason}",
                    "input": url,
                    "ctx": {"error": {}},
                }
            ]
        }
    bad_page = client.get(HOOKS, params={"size": 0})
    assert _issue(bad_page) == ("greater_than_equal", ["query", "size"])
    assert ok(client.get(HOOKS))["total"] == 0


@pytest.mark.parametrize("settings_overrides", [PRIVATE | {"max_webhooks_per_workspace": 1}])
def test_endpoint_limit_is_409(client: TestClient) -> None:
    workspace(client)
    assert client.post(HOOKS, json={"url": "http://127.0.0.1:9/a"}).status_code == 201
    full = client.post(HOOKS, json={"url": "http://127.0.0.1:9/b"})
    assert full.status_code == 409
    assert full.json() == {
        "detail": "workspace w already has 1 webhook endpoints (the limit is 1); delete one first"
    }
    # fetching the existing one is not creating one
    assert client.post(HOOKS, json={"url": "http://127.0.0.1:9/a"}).status_code == 200


@pytest.mark.parametrize("settings_overrides", [PRIVATE])
def test_test_event_is_delivered_signed(client: TestClient) -> None:
    receiver = Receiver()
    try:
        workspace(client)
        assert client.post(HOOKS, json={"url": receiver.url}).status_code == 201
        assert ok(client.get(f"{HOOKS}/test")) == {
            "message": "test.event queued for 1 endpoint(s)",
            "endpoints": 1,
        }
        drain(client)
        [request] = receiver.requests
        assert (request.method, request.path) == ("POST", "/hooks/honcho")
        event = json.loads(request.body)
        assert (event["type"], event["data"]) == ("test.event", {"workspace_id": W})
        assert request.headers[SIGNATURE_HEADER.lower()] == expected_signature(request.body)
        # a deleted endpoint gets nothing
        [endpoint] = ok(client.get(HOOKS))["items"]
        assert client.delete(f"{HOOKS}/{endpoint['id']}").status_code == 204
        assert ok(client.get(f"{HOOKS}/test"))["endpoints"] == 0
        drain(client)
        assert len(receiver.requests) == 1
    finally:
        receiver.stop()


@pytest.mark.parametrize("settings_overrides", [AUTH])
def test_webhook_routes_refuse_keys_of_another_workspace(client: TestClient) -> None:
    workspace(client, headers=ADMIN_H)
    made = client.post(HOOKS, json={"url": PUBLIC_URL}, headers=ADMIN_H)
    assert made.status_code == 201
    endpoint_id = made.json()["id"]
    routes = [
        ("POST", HOOKS, {"json": {"url": PUBLIC_URL + "/x"}}),
        ("GET", HOOKS, {}),
        ("GET", f"{HOOKS}/test", {}),
        ("DELETE", f"{HOOKS}/{endpoint_id}", {}),
    ]
    other = bearer(Principal(workspace="other"))
    peer = bearer(Principal(workspace=W, peer="alice"))
    for method, path, body in routes:
        refused = client.request(method, path, headers=other, **body)
        assert (refused.status_code, refused.json()) == (
            403,
            {"detail": "a key for workspace other cannot reach workspace w"},
        ), path
        assert endpoint_id not in refused.text
        assert client.request(method, path, headers=peer, **body).status_code == 403, path
        assert client.request(method, path, **body).status_code == 401, path
    # nothing changed, and the workspace's own key manages its endpoints
    own = bearer(Principal(workspace=W))
    assert [e["id"] for e in ok(client.get(HOOKS, headers=own))["items"]] == [endpoint_id]
    assert client.delete(f"{HOOKS}/{endpoint_id}", headers=own).status_code == 204
