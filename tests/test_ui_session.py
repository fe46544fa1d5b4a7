"""/api/v1/ui/initSession on both backends: a session token of one project, which works as a
bearer credential with exactly that project's key's reach until it expires; only its hash is
stored; expired, forged and orphaned tokens are 401s."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from conftest import BACKENDS, AppClient, make_settings, migrated_database
from helpers import PARTNER, bearer, new_project, ok, project_key
from parley.app import create_app
from parley.auth import ui_sessions
from parley.config import Settings
from parley.store.org_models import UiSession
from test_organizations import error, partner

API = "/api/v1"
INIT = f"{API}/ui/initSession"


@pytest.fixture(scope="module", params=BACKENDS)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"ui-session-{request.param}")
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(
            url,
            folder / "data",
            auth_enabled=True,
            key_cache_ttl_s=0,
            ui_session_max_lifetime_s=3600,
        )


@pytest.fixture(scope="module")
def client(shared_settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(shared_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def stored(client: TestClient, project_id: str) -> list[UiSession]:
    async def read() -> list[UiSession]:
        async with client.app.state.parley.database.read() as db:
            rows = await db.scalars(select(UiSession).where(UiSession.project_id == project_id))
            return list(rows)

    return client.portal.call(read)


def test_a_session_token_has_its_projects_reach(client: TestClient) -> None:
    pid = new_project(client)["id"]
    other = new_project(client)["id"]
    key = project_key(client, pid)
    made = ok(client.post(INIT, json={"projectId": pid, "timeoutInSeconds": 300}, headers=key))
    token = made["sessionToken"]
    assert made == {
        "sessionUrl": f"http://testserver/console/#token={token}&page=/data/{pid}",
        "partnerOrigin": None,
        "sessionToken": token,
        "expiresAt": made["expiresAt"],
    }
    expires = datetime.fromisoformat(made["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(seconds=290) < expires - datetime.now(UTC) <= timedelta(seconds=300)
    session = bearer(token)
    # its own project, as the project key reaches it
    assert ok(client.get(f"{API}/projects/{pid}", headers=session))["id"] == pid
    assert ok(client.get(f"{API}/connections/{pid}", headers=session)) == []
    assert ok(client.post(f"/v2/workspaces/{pid}/peers/list", headers=session))["items"] == []
    # nothing else: another project, partner routes, a new session
    error(client.get(f"{API}/connections/{other}", headers=session), 403, "FORBIDDEN")
    error(client.get(f"{API}/projects", headers=session), 403, "FORBIDDEN")
    error(client.get(f"{API}/organizations", headers=session), 403, "FORBIDDEN")
    error(client.post(f"{API}/projects/{pid}/apiKeys", json={}, headers=session), 403, "FORBIDDEN")
    error(
        client.post(INIT, json={"projectId": pid}, headers=session),
        403,
        "FORBIDDEN",
        "a session token cannot start another session; use the project's key",
    )
    # only the hash is stored
    [row] = stored(client, pid)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.id)


def test_who_may_start_a_session(client: TestClient) -> None:
    pid = new_project(client)["id"]
    other_key = project_key(client, new_project(client)["id"])
    error(client.post(INIT, json={"projectId": pid}, headers=other_key), 403, "FORBIDDEN")
    # a partner key of another organization cannot; the admin key can
    org_id, foreign = partner(client)
    error(client.post(INIT, json={"projectId": pid}, headers=foreign), 403, "FORBIDDEN")
    made = ok(client.post(INIT, json={"projectId": pid}, headers=PARTNER))
    expires = datetime.fromisoformat(made["expiresAt"].replace("Z", "+00:00"))
    # the default lifetime (PARLEY_UI_SESSION_LIFETIME_S, 300)
    assert timedelta(seconds=290) < expires - datetime.now(UTC) <= timedelta(seconds=300)
    # the deprecated GET with query parameters
    got = ok(client.get(INIT, params={"projectId": pid, "timeoutInSeconds": 60}, headers=PARTNER))
    assert ok(client.get(f"{API}/projects/{pid}", headers=bearer(got["sessionToken"])))["id"] == pid
    assert len(stored(client, pid)) == 2
    error(client.post(INIT, json={"projectId": pid}), 401, "UNAUTHORIZED")
    error(
        client.post(INIT, json={"projectId": "nope"}, headers=PARTNER),
        404,
        "NOT_FOUND",
        "Project nope not found",
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"projectId": ""},
        {"projectId": "a/b"},
        {"projectId": "p", "timeoutInSeconds": 0},
        {"projectId": "p", "timeoutInSeconds": "soon"},
        {"projectId": "p", "timeoutInSeconds": 3601},
        {"projectId": "p", "sessionMode": "OTHER"},
    ],
)
def test_bad_requests_are_422s(client: TestClient, body: dict[str, Any]) -> None:
    error(client.post(INIT, json=body, headers=PARTNER), 422, "VALIDATION_ERROR")


def test_expired_forged_and_orphaned_tokens_are_401s(client: TestClient) -> None:
    pid = new_project(client)["id"]
    token = ok(client.post(INIT, json={"projectId": pid}, headers=PARTNER))["sessionToken"]
    assert client.get(f"{API}/projects/{pid}", headers=bearer(token)).status_code == 200

    async def expire() -> None:
        async with client.app.state.parley.database.write() as db:
            past = datetime.now(UTC) - timedelta(seconds=1)
            await db.execute(
                update(UiSession).where(UiSession.project_id == pid).values(expires_at=past)
            )

    client.portal.call(expire)
    error(
        client.get(f"{API}/projects/{pid}", headers=bearer(token)),
        401,
        "UNAUTHORIZED",
        "session token has expired: ask /api/v1/ui/initSession for a new one",
    )
    forged = "uis_" + "A" * 40
    error(
        client.get(f"{API}/projects/{pid}", headers=bearer(forged)),
        401,
        "UNAUTHORIZED",
        "session token is invalid",
    )
    error(client.get(f"{API}/projects/{pid}", headers=bearer(token[:-1])), 401, "UNAUTHORIZED")
    # a new session clears the expired ones out; a token of a deleted project stops working
    token = ok(client.post(INIT, json={"projectId": pid}, headers=PARTNER))["sessionToken"]
    [row] = stored(client, pid)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert client.delete(f"{API}/projects/{pid}", headers=PARTNER).status_code == 200
    error(client.get(f"{API}/connections/{pid}", headers=bearer(token)), 401, "UNAUTHORIZED")


def test_expiry_follows_the_clock() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    known = ui_sessions.KnownKey(ui_sessions.principal_of("s1", "p"), now + timedelta(seconds=5))
    assert ui_sessions.check(known, now=now).workspace == "p"
    assert ui_sessions.check(known, now=now + timedelta(seconds=4.9)).is_workspace_key
    for later in (timedelta(seconds=5), timedelta(days=1)):
        with pytest.raises(ui_sessions.Unauthorized):
            ui_sessions.check(known, now=now + later)
    assert ui_sessions.looks_like_token("uis_" + "a1" * 20)
    assert not ui_sessions.looks_like_token("uis_" + "a" * 39)
    assert not ui_sessions.looks_like_token("abcdefgh." + "a" * 32)
