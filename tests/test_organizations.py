"""Peaka's partner hierarchy over the API (/api/v1/organizations/...), on both backends: a
partner key reaches its own organization, its workspaces and their projects, and nothing of
another partner's; `/api/v1/projects` keeps working and lands projects in the default workspace
of the partner's organization; a workspace that holds projects is never deleted."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import BACKENDS, AppClient, make_settings, migrated_database
from helpers import PARTNER, bearer, ok, project_key
from parley.app import create_app
from parley.auth import peaka_keys
from parley.config import Settings
from parley.data import organizations
from parley.store.org_models import OrgWorkspaceProject

API = "/api/v1"
_names = itertools.count()


@pytest.fixture(scope="module", params=BACKENDS)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"organizations-{request.param}")
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(url, folder / "data", auth_enabled=True, key_cache_ttl_s=0)


@pytest.fixture(scope="module")
def client(shared_settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(shared_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def partner(client: TestClient, *, new_organization: bool = True) -> tuple[str, dict[str, str]]:
    """A partner key (headers) and its organization's id: a new organization, or the default
    one (a partner key bound to none)."""

    async def make() -> tuple[str, str]:
        async with client.app.state.parley.database.write() as db:
            row, token = await peaka_keys.create_api_key(
                db=db, project_id=None, name="partner", expires_at=None
            )
            if not new_organization:
                return (await organizations.default_organization(db=db)).id, token
            org = await organizations.create_organization(db=db, name=f"Org {next(_names)}")
            await organizations.bind_key(db=db, api_key_id=row.id, organization_id=org.id)
            return org.id, token

    org_id, token = client.portal.call(make)
    return org_id, bearer(token)


def error(response: Any, status: int, code: str, message: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["errorCode"] == code, body
    if message is not None:
        assert body["message"] == message


def default_workspace(client: TestClient, org_id: str, headers: dict[str, str]) -> str:
    [found] = [
        w
        for w in ok(client.get(f"{API}/organizations/{org_id}/workspaces", headers=headers))
        if w["defaultWorkspace"]
    ]
    return str(found["id"])


def test_a_partner_key_sees_its_own_organization_only(client: TestClient) -> None:
    org_id, key = partner(client)
    listed = ok(client.get(f"{API}/organizations", headers=key))
    assert listed == [
        {
            "id": org_id,
            "name": listed[0]["name"],
            "owner": None,
            "createdAt": listed[0]["createdAt"],
            "iconFileId": None,
            "description": None,
        }
    ]
    assert listed[0]["createdAt"].endswith("Z")
    assert ok(client.get(f"{API}/organizations/{org_id}", headers=key)) == listed[0]
    # the default organization's partner sees the default organization, not this one
    default_id, default_key = partner(client, new_organization=False)
    [default] = ok(client.get(f"{API}/organizations", headers=default_key))
    assert (default["id"], default["name"]) == (default_id, "Default Organization")
    # an admin key sees every organization
    every = {o["id"] for o in ok(client.get(f"{API}/organizations", headers=PARTNER))}
    assert {org_id, default_id} <= every
    error(
        client.get(f"{API}/organizations/{default_id}", headers=key),
        403,
        "FORBIDDEN",
        f"a partner key of organization {org_id} cannot reach organization {default_id}",
    )
    error(client.get(f"{API}/organizations/nope", headers=PARTNER), 404, "NOT_FOUND")


def test_workspace_crud(client: TestClient) -> None:
    org_id, key = partner(client)
    base = f"{API}/organizations/{org_id}/workspaces"
    [default] = ok(client.get(base, headers=key))
    assert default == {
        "id": default["id"],
        "name": "Default Workspace",
        "createdBy": None,
        "organizationId": org_id,
        "description": "Default Workspace",
        "createdAt": default["createdAt"],
        "defaultWorkspace": True,
    }
    made = ok(client.post(base, json={"name": "workspace 1", "description": "d"}, headers=key))
    wid = made["id"]
    assert made == {
        "id": wid,
        "name": "workspace 1",
        "createdBy": made["createdBy"],
        "organizationId": org_id,
        "description": "d",
        "createdAt": made["createdAt"],
        "defaultWorkspace": False,
    }
    assert made["createdBy"] is not None  # the partner key's id
    assert ok(client.get(f"{base}/{wid}", headers=key)) == made
    renamed = ok(client.put(f"{base}/{wid}", json={"name": "renamed"}, headers=key))
    assert renamed == made | {"name": "renamed"}
    assert [w["id"] for w in ok(client.get(base, headers=key))] == [default["id"], wid]

    deleted = client.delete(f"{base}/{wid}", headers=key)
    assert (deleted.status_code, deleted.content) == (200, b"")
    error(client.get(f"{base}/{wid}", headers=key), 404, "NOT_FOUND", f"Workspace {wid} not found")
    error(client.delete(f"{base}/{wid}", headers=key), 404, "NOT_FOUND")
    error(
        client.delete(f"{base}/{default['id']}", headers=key),
        409,
        "CONFLICT",
        f"Workspace {default['id']} is the organization's default workspace (projects made "
        "without a workspace land there); it cannot be deleted",
    )


def test_workspace_bad_input(client: TestClient) -> None:
    org_id, key = partner(client)
    base = f"{API}/organizations/{org_id}/workspaces"
    error(client.post(base, json={}, headers=key), 422, "VALIDATION_ERROR")
    error(client.post(base, json={"name": ""}, headers=key), 422, "VALIDATION_ERROR")
    error(client.post(base, json={"name": "x" * 201}, headers=key), 422, "VALIDATION_ERROR")
    error(client.post(base, json={"name": 5}, headers=key), 422, "VALIDATION_ERROR")
    error(client.post(base, content=b"{", headers=key), 422, "VALIDATION_ERROR")
    wid = ok(client.post(base, json={"name": "w"}, headers=key))["id"]
    error(client.put(f"{base}/{wid}", json={"name": ""}, headers=key), 422, "VALIDATION_ERROR")
    assert ok(client.get(f"{base}/{wid}", headers=key))["name"] == "w"


def test_projects_of_a_workspace_are_the_projects_of_api_v1(client: TestClient) -> None:
    org_id, key = partner(client)
    base = f"{API}/organizations/{org_id}/workspaces"
    wid = ok(client.post(base, json={"name": "team"}, headers=key))["id"]
    made = ok(client.post(f"{base}/{wid}/projects", json={"name": "Shop"}, headers=key))
    pid = made["id"]
    assert made == {
        "id": pid,
        "name": "Shop",
        "description": None,
        "domain": None,
        "webhookBaseUrl": None,
        "createdAt": made["createdAt"],
        "owner": None,
        "workspaceId": wid,
    }
    # the same project under /api/v1/projects (where workspaceId stays the project's own id)
    legacy = ok(client.get(f"{API}/projects/{pid}", headers=key))
    assert legacy == made | {"workspaceId": pid}
    # its keys work on its data routes; it is the memory workspace of the same id
    pkey = project_key(client, pid)
    assert ok(client.get(f"{API}/connections/{pid}", headers=pkey)) == []
    assert ok(client.get(f"{base}/{wid}/projects", headers=key)) == [made]
    assert ok(client.get(f"{base}/{wid}/projects/{pid}", headers=key)) == made
    updated = ok(
        client.put(
            f"{base}/{wid}/projects/{pid}",
            json={"name": "Store", "description": "about"},
            headers=key,
        )
    )
    assert updated == made | {"name": "Store", "description": "about"}
    assert ok(client.get(f"{API}/projects/{pid}", headers=key))["name"] == "Store"
    # not found in another workspace of the same organization
    default = default_workspace(client, org_id, key)
    error(
        client.get(f"{base}/{default}/projects/{pid}", headers=key),
        404,
        "NOT_FOUND",
        f"Project {pid} not found in workspace {default}",
    )
    # a workspace with a project is not deleted, and the project is still there
    error(
        client.delete(f"{base}/{wid}", headers=key),
        409,
        "CONFLICT",
        f"Workspace {wid} holds 1 project(s); delete them first (deleting a workspace never "
        "deletes projects)",
    )
    assert ok(client.get(f"{API}/projects/{pid}", headers=key))["name"] == "Store"
    # a duplicate id is a 409, as under /projects
    error(
        client.post(f"{base}/{wid}/projects", json={"name": "x", "id": pid}, headers=key),
        409,
        "CONFLICT",
    )
    deleted = client.delete(f"{base}/{wid}/projects/{pid}", headers=key)
    assert (deleted.status_code, deleted.content) == (200, b"")
    error(client.get(f"{API}/projects/{pid}", headers=key), 404, "NOT_FOUND")
    error(client.get(f"{API}/connections/{pid}", headers=pkey), 401, "UNAUTHORIZED")
    assert ok(client.get(f"{base}/{wid}/projects", headers=key)) == []
    assert client.delete(f"{base}/{wid}", headers=key).status_code == 200


def test_api_v1_projects_land_in_the_default_workspace_of_the_partners_organization(
    client: TestClient,
) -> None:
    org_id, key = partner(client)
    made = ok(client.post(f"{API}/projects", json={"name": "Legacy"}, headers=key))
    default = default_workspace(client, org_id, key)
    listed = ok(
        client.get(f"{API}/organizations/{org_id}/workspaces/{default}/projects", headers=key)
    )
    assert listed == [made | {"workspaceId": default}]
    # /projects lists the organization's projects only
    assert ok(client.get(f"{API}/projects", headers=key)) == [made]
    other_org, other_key = partner(client)
    assert ok(client.get(f"{API}/projects", headers=other_key)) == []


def test_another_partners_ids_reach_nothing(client: TestClient) -> None:
    org_a, key_a = partner(client)
    org_b, key_b = partner(client)
    ws_a = ok(
        client.post(f"{API}/organizations/{org_a}/workspaces", json={"name": "a"}, headers=key_a)
    )["id"]
    pid = ok(
        client.post(
            f"{API}/organizations/{org_a}/workspaces/{ws_a}/projects",
            json={"name": "A"},
            headers=key_a,
        )
    )["id"]
    a_paths = [
        ("get", f"{API}/organizations/{org_a}"),
        ("get", f"{API}/organizations/{org_a}/workspaces"),
        ("post", f"{API}/organizations/{org_a}/workspaces"),
        ("get", f"{API}/organizations/{org_a}/workspaces/{ws_a}"),
        ("put", f"{API}/organizations/{org_a}/workspaces/{ws_a}"),
        ("delete", f"{API}/organizations/{org_a}/workspaces/{ws_a}"),
        ("get", f"{API}/organizations/{org_a}/workspaces/{ws_a}/projects"),
        ("post", f"{API}/organizations/{org_a}/workspaces/{ws_a}/projects"),
        ("get", f"{API}/organizations/{org_a}/workspaces/{ws_a}/projects/{pid}"),
        ("put", f"{API}/organizations/{org_a}/workspaces/{ws_a}/projects/{pid}"),
        ("delete", f"{API}/organizations/{org_a}/workspaces/{ws_a}/projects/{pid}"),
        ("get", f"{API}/projects/{pid}"),
        ("put", f"{API}/projects/{pid}"),
        ("delete", f"{API}/projects/{pid}"),
        ("get", f"{API}/projects/{pid}/apiKeys"),
        ("post", f"{API}/projects/{pid}/apiKeys"),
        ("get", f"{API}/connections/{pid}"),
    ]
    body = {"name": "x"}
    for method, path in a_paths:
        sent = client.request(
            method, path, json=body if method in ("post", "put") else None, headers=key_b
        )
        assert sent.status_code == 403, (method, path, sent.text)
        assert sent.json()["errorCode"] == "FORBIDDEN"
    # the project is a memory workspace too: B's partner key reaches none of it on /v2, /v3
    ok(client.post(f"/v2/workspaces/{pid}/peers", json={"id": "alice"}, headers=key_a))
    for method, path in [
        ("post", f"/v2/workspaces/{pid}/peers/list"),
        ("get", f"/v2/workspaces/{pid}/peers/alice/card"),
        ("post", f"/v2/workspaces/{pid}/search"),
        ("post", f"/v3/workspaces/{pid}/sessions/list"),
        ("delete", f"/v3/workspaces/{pid}"),
    ]:
        sent = client.request(method, path, json={} if method == "post" else None, headers=key_b)
        assert sent.status_code == 403, (method, path, sent.text)
        assert sent.json() == {
            "detail": f"a partner key of organization {org_b} cannot reach project {pid}"
        }

    def listed(version: str, headers: dict[str, str]) -> set[str]:
        found = client.post(f"/{version}/workspaces/list?size=100", json={}, headers=headers)
        return {w["id"] for w in ok(found)["items"]}

    _, key_default = partner(client, new_organization=False)
    for version in ("v2", "v3"):
        assert pid in listed(version, key_a)
        assert pid not in listed(version, key_b) and pid not in listed(version, key_default)
    # A's workspace under B's own organization is not found; A's project is refused anywhere
    error(
        client.get(f"{API}/organizations/{org_b}/workspaces/{ws_a}", headers=key_b),
        404,
        "NOT_FOUND",
        f"Workspace {ws_a} not found",
    )
    ws_b = default_workspace(client, org_b, key_b)
    for method in ("get", "delete"):
        error(
            client.request(
                method,
                f"{API}/organizations/{org_b}/workspaces/{ws_b}/projects/{pid}",
                headers=key_b,
            ),
            403,
            "FORBIDDEN",
            f"a partner key of organization {org_b} cannot reach project {pid}",
        )
    # a project key reaches no partner route, even of its own organization
    pkey = project_key(client, pid)
    for method, path in a_paths[:11]:
        sent = client.request(
            method, path, json=body if method in ("post", "put") else None, headers=pkey
        )
        assert sent.status_code == 403, (method, path, sent.text)
    error(client.get(f"{API}/organizations", headers=pkey), 403, "FORBIDDEN")
    error(client.get(f"{API}/organizations"), 401, "UNAUTHORIZED")
    # and everything of A is still there
    assert ok(client.get(f"{API}/projects/{pid}", headers=key_a))["name"] == "A"
    assert (
        ok(client.get(f"{API}/organizations/{org_a}/workspaces/{ws_a}", headers=key_a))["name"]
        == "a"
    )


def test_the_migration_places_existing_projects_in_the_default_workspace(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Projects stored before 0023 land in the default workspace of the default organization."""
    from sqlalchemy import text

    from parley.store import migrate
    from parley.store.engine import create_database

    if backend == "postgres":
        server = request.getfixturevalue("postgres")
        url = str(server.new_database(migrated=False))
        request.addfinalizer(lambda: server.drop_database(url))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0019")

    async def seed() -> None:
        database = create_database(url)
        try:
            async with database.write() as db:
                await db.execute(
                    text(
                        "INSERT INTO workspaces (id, metadata, configuration, created_at) "
                        "VALUES ('old1', '{}', '{}', CURRENT_TIMESTAMP)"
                    )
                )
                await db.execute(
                    text(
                        "INSERT INTO projects (id, name, created_at) "
                        "VALUES ('old1', 'Old', CURRENT_TIMESTAMP)"
                    )
                )
        finally:
            await database.dispose()

    async def placed() -> tuple[str | None, str, bool]:
        database = create_database(url)
        try:
            async with database.read() as db:
                row = await db.get(OrgWorkspaceProject, "old1")
                ws = await organizations.workspace_of(db=db, project_id="old1")
                assert ws is not None
                org = await organizations.default_organization_id(db=db)
                return (
                    (row.org_workspace_id if row else None),
                    ws.organization_id == org,
                    ws.is_default,
                )
        finally:
            await database.dispose()

    asyncio.run(seed())
    migrate.upgrade(url)
    where, in_default_org, is_default = asyncio.run(placed())
    assert where is not None and in_default_org and is_default


def test_the_sql_endpoint_keeps_a_partner_key_in_its_organization(client: TestClient) -> None:
    org_a, key_a = partner(client)
    _, key_b = partner(client)
    pid = ok(client.post(f"{API}/projects", json={"name": "A"}, headers=key_a))["id"]
    refused = ok(
        client.post("/v1/statement", content=b"SELECT 1", headers=key_b | {"X-Trino-User": pid})
    )
    assert refused["error"]["errorName"] == "PERMISSION_DENIED"
    assert refused["error"]["message"] == (
        f"a partner key of organization {partner_org(client, key_b)} cannot reach project {pid}"
    )
    allowed = ok(
        client.post("/v1/statement", content=b"SELECT 1", headers=key_a | {"X-Trino-User": pid})
    )
    assert "error" not in allowed or allowed["error"] is None


def partner_org(client: TestClient, key: dict[str, str]) -> str:
    [org] = ok(client.get(f"{API}/organizations", headers=key))
    return str(org["id"])


def test_partner_keys_of_a_new_organization_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`parley keys partner create --new-organization NAME` prints the key, its id and the new
    organization's id; `--organization ID` binds another key to it."""
    from conftest import TEST_SECRET
    from parley import cli

    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PARLEY_JWT_SECRET", TEST_SECRET)
    cli.main(["keys", "partner", "create", "--new-organization", "Acme"])
    token, _, org_id = capsys.readouterr().out.strip().split("\t")
    cli.main(["keys", "partner", "create", "--organization", org_id])
    second, _, same = capsys.readouterr().out.strip().split("\t")
    assert same == org_id
    with pytest.raises(SystemExit, match="Organization nope not found"):
        cli.main(["keys", "partner", "create", "--organization", "nope"])
    settings = Settings(
        data_dir=tmp_path / "data", jwt_secret=TEST_SECRET, auth_enabled=True, key_cache_ttl_s=0
    )
    with AppClient(create_app(settings)) as client:
        for key in (token, second):
            [org] = ok(client.get(f"{API}/organizations", headers=bearer(key)))
            assert (org["id"], org["name"]) == (org_id, "Acme")
