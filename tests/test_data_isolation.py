"""Project keys reach only their own project: every /api/v1 route, called with project A's key
on project B's ids, is a 403 in Peaka's error shape that leaks and changes nothing of B."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from conftest import PARLEY, AppClient, make_settings, parley_env
from helpers import PARTNER, add_catalog, new_project, ok, project_key
from parley.api.deps import Scope
from parley.app import create_app
from parley.config import Settings
from parley.data.file_roots import LEGACY_LIST
from test_auth import route_scopes

B_SECRET = "B-DATA-CONFIDENTIAL-1234"


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {
        "auth_enabled": True,
        "data_file_roots": {
            "*": [tmp_path / "tenants" / "{projectId}", tmp_path / "shared"],
            "proj": [tmp_path / "granted"],
        },
        "data_allow_private_hosts": True,
    }


def _body(method: str, path: str) -> dict[str, Any]:
    if method not in ("POST", "PUT"):
        return {}
    if path.endswith("/execute"):
        return {"json": {"statement": "SELECT * FROM secrets"}}
    if "/ai-agent/" in path:
        return {"json": {"message": "SELECT * FROM secrets", "displayName": "evil"}}
    if "/connections/" in path:
        return {"json": {"name": "evil", "type": "SQLITE", "credential": {"path": "/etc/passwd"}}}
    if path.endswith("/catalogs"):
        return {"json": {"name": "evil", "connectionId": "x"}}
    if path.endswith("/queries") or "/queries/" in path:
        return {"json": {"displayName": "evil", "inputQuery": "SELECT 1"}}
    if path.endswith("/golden-sqls"):
        return {"json": {"prompt": "evil", "sql": "SELECT 1"}}
    if "/relations/" in path:
        return {
            "json": {
                "targetCatalogId": "x",
                "targetSchemaName": "main",
                "targetTableName": "secrets",
                "targetColumnName": "id",
                "type": "ONE_TO_ONE",
            }
        }
    if path.endswith("/apiKeys") or path.startswith("/api/v1/projects"):
        return {"json": {"name": "evil"}}
    if "/categorical/" in path:
        return {"json": {"limit": 5}}
    if path.startswith("/api/v1/metadata/{project_id}/{"):
        return {"json": {"useWithAI": False, "tableDescription": "evil"}}
    if path.endswith("/refresh"):
        return {"json": {}}
    if path.startswith("/api/v1/sql/transpile"):
        return {"json": {"query": "SELECT 1"}}
    return {"json": {}}


def _snapshot(client: TestClient, b: str) -> list[Any]:
    return [
        ok(client.get(f"/api/v1/projects/{b}", headers=PARTNER)),
        ok(client.get(f"/api/v1/projects/{b}/apiKeys", headers=PARTNER)),
        ok(client.get(f"/api/v1/connections/{b}", headers=PARTNER)),
        ok(client.get(f"/api/v1/data/projects/{b}/catalogs", headers=PARTNER)),
        ok(client.get(f"/api/v1/data/projects/{b}/queries", headers=PARTNER)),
        ok(client.get(f"/api/v1/metadata/{b}", headers=PARTNER)),
        ok(client.get(f"/api/v1/metadata/{b}/golden-sqls", headers=PARTNER)),
        ok(client.get(f"/api/v1/ai-agent/{b}/threads", headers=PARTNER)),
        ok(client.get(f"/api/v1/data/projects/{b}/queries/folders/tree", headers=PARTNER)),
        ok(client.get(f"/api/v1/data/projects/{b}/exports", headers=PARTNER)),
    ]


def test_project_keys_reach_only_their_project(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    import sqlite3

    a = ok(client.post("/api/v1/projects", json={"name": "A"}, headers=PARTNER))["id"]
    b = ok(client.post("/api/v1/projects", json={"name": "B"}, headers=PARTNER))["id"]
    db = tmp_path / "tenants" / b / "b.db"
    db.parent.mkdir(parents=True)
    raw = sqlite3.connect(db)
    raw.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)")
    raw.execute("CREATE TABLE owners (id INTEGER PRIMARY KEY, secret_id INTEGER)")
    raw.execute("INSERT INTO secrets VALUES (1, ?)", (B_SECRET,))
    raw.commit()
    raw.close()
    a_key = ok(client.post(f"/api/v1/projects/{a}/apiKeys", json={"name": "a"}, headers=PARTNER))
    b_key = ok(client.post(f"/api/v1/projects/{b}/apiKeys", json={"name": "b"}, headers=PARTNER))
    a_h = {"Authorization": f"Bearer {a_key['apiKey']}"}
    b_h = {"Authorization": f"Bearer {b_key['apiKey']}"}
    vault = add_catalog(client, b, {"path": str(db)}, connection="vault", headers=b_h)
    conn, cat = vault.connection, vault.catalog
    query = ok(
        client.post(
            f"/api/v1/data/projects/{b}/queries",
            json={"displayName": "all", "inputQuery": "SELECT * FROM secrets", "path": "/vault"},
            headers=b_h,
        )
    )
    golden = ok(
        client.post(
            f"/api/v1/metadata/{b}/golden-sqls",
            json={"prompt": "what is the secret", "sql": "SELECT secret FROM secrets"},
            headers=b_h,
        )
    )
    relation = ok(
        client.post(
            f"/api/v1/metadata/{b}/relations/{cat['id']}/main/owners/secret_id",
            json={
                "targetCatalogId": cat["id"],
                "targetSchemaName": "main",
                "targetTableName": "secrets",
                "targetColumnName": "id",
            },
            headers=b_h,
        )
    )
    thread = ok(
        client.post(
            f"/api/v1/ai-agent/{b}/chat",
            json={"message": "SELECT secret FROM secrets"},
            headers=b_h,
        )
    )
    export = client.post(
        f"/api/v1/data/projects/{b}/queries/{query['id']}/exports", json={}, headers=b_h
    )
    assert export.status_code == 202, export.text
    cache = ok(
        client.post(
            f"/api/v1/data/projects/{b}/cache",
            json={"catalogId": cat["id"], "schemaName": "main", "tableName": "secrets"},
            headers=b_h,
        )
    )
    ids = {
        "cache_id": cache["id"],
        "export_id": export.json()["id"],  # PENDING: no worker runs here
        "thread_id": thread["threadId"],
        "project_id": b,
        "connection_id": conn["id"],
        "catalog_id": cat["id"],
        "schema_name": "main",
        "table_name": "secrets",
        "column_name": "secret",
        "query_id": query["id"],
        "folder_id": query["folderId"],
        "parent_folder_id": query["folderId"],
        "golden_id": golden["id"],
        "relation_id": relation["id"],
        "api_key_id": b_key["apiKeyId"],
        "connection_type": "SQLITE",
        "dialect": "postgres",
        # partner routes (/organizations/...): refused to a project key whatever the ids
        "organization_id": "org",
        "workspace_id": "ws",
        "table_id": "t",  # a semantic table's id: refused before it is looked up
    }
    before = _snapshot(client, b)
    assert (
        B_SECRET
        in ok(
            client.post(
                f"/api/v1/data/projects/{b}/queries/execute", json={"id": query["id"]}, headers=b_h
            )
        ).__repr__()
    )

    scopes = route_scopes(settings)
    routes = sorted(r for r in scopes if r[1].startswith("/api/v1/"))
    assert len(routes) >= 45
    refused = 0
    for method, path in routes:
        scope = scopes[(method, path)]
        if scope is Scope.AUTHENTICATED:
            assert "{project_id}" not in path, path  # such routes hold no project data
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        response = client.request(method, url, headers=a_h, **_body(method, path))
        if scope is Scope.ADMIN:
            message = f"this route needs an admin key; the request used a key for workspace {a}"
        else:
            assert scope is Scope.PROJECT, (method, path, scope)
            message = f"a key for workspace {a} cannot reach project {b}"
        assert response.status_code == 403, (method, url, response.status_code, response.text)
        assert response.json() == {"errorCode": "FORBIDDEN", "message": message}, (method, url)
        assert B_SECRET not in response.text
        refused += 1
    assert refused >= 40
    assert _snapshot(client, b) == before

    # the /v2 face of the same tenancy: A's key is a workspace key of A only
    forbidden = client.post(f"/v2/workspaces/{b}/peers/list", json={}, headers=a_h)
    assert (forbidden.status_code, forbidden.json()) == (
        403,
        {"detail": f"a key for workspace {a} cannot reach workspace {b}"},
    )

    # control: B's key reaches B's data on B's read routes (internal tables `secrets` too)
    for kind in ("table", "bitable"):
        internal = f"/api/v1/data/projects/{b}/{kind}/secrets"
        ok(client.post(internal, headers=b_h))
        column = {"name": "secret", "dataType": "VARCHAR"}
        ok(client.post(f"{internal}/columns", json=[column], headers=b_h))
    for method, path in routes:
        if (
            method != "GET"
            or scopes[(method, path)] is not Scope.PROJECT
            or "golden-sql/query" in path
            or path.endswith("/query")
            or path.endswith("/exports/{export_id}/file")  # a PENDING export has no file yet
            or path.endswith("/materialized-queries/{query_id}/status")  # a plain query: 400
        ):
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        assert client.get(url, headers=b_h).status_code == 200, url


# --- files: a project opens its own uploads and the directories granted to it, no others ----

OUTSIDE = (
    "{} is outside the directories this project's connections may read: its uploads and the "
    "directories PARLEY_DATA_FILE_ROOTS grants it"
)


def _project_key(client: TestClient, project_id: str) -> dict[str, str]:
    """A project `project_id` and the headers of an API key of its own."""
    new_project(client, project_id, project_id=project_id)
    return project_key(client, project_id)


def _secret_files(folder: Path, secret: str) -> tuple[Path, Path]:
    """A SQLite database and a CSV file, each holding `secret`."""
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "vault.db"
    raw = sqlite3.connect(db)
    raw.execute("CREATE TABLE secrets (secret TEXT)")
    raw.execute("INSERT INTO secrets VALUES (?)", (secret,))
    raw.commit()
    raw.close()
    csv = folder / "vault.csv"
    csv.write_text(f"secret\n{secret}\n")
    return db, csv


def _connect(
    client: TestClient, project_id: str, h: dict[str, str], kind: str, path: str, name: str = "c"
) -> Any:
    return client.post(
        f"/api/v1/connections/{project_id}",
        json={"name": name, "type": kind, "credential": {"path": path}},
        headers=h,
    )


def _kind(path: Path | str) -> str:
    return "SQLITE" if str(path).endswith(".db") else "FILE"


def test_a_project_opens_only_its_own_files(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    """Project `proj` against `proj2` (whose id it is a prefix of), on every way a path could
    lead out of `proj`'s directories: another project's path, `..`, links to a file and to a
    folder, another project's upload, and `file:` URIs. Each is Peaka's 400, and nothing of
    `proj2` is read or stored."""
    a_h = _project_key(client, "proj")
    b_h = _project_key(client, "proj2")
    tenants = tmp_path / "tenants"
    b_db, b_csv = _secret_files(tenants / "proj2", B_SECRET)
    b_upload = ok(
        client.post(
            "/api/v1/connections/proj2/upload",
            data={"name": "up", "type": "FILE"},
            files={"file": ("up.csv", f"secret\n{B_SECRET}\n".encode(), "text/csv")},
            headers=b_h,
        )
    )
    b_uploaded = settings.data_dir / "uploads" / "proj2" / b_upload["id"] / "up.csv"
    assert b_uploaded.is_file()
    # proj2 reads its own files
    for path in (b_db, b_csv):
        assert _connect(client, "proj2", b_h, _kind(path), str(path), path.name).status_code == 200

    # what proj may read: its tenant folder, its own grant, the shared folder, its uploads
    own_db, own_csv = _secret_files(tenants / "proj", "proj's own")
    granted_db, _ = _secret_files(tmp_path / "granted", "granted to proj")
    shared_db, _ = _secret_files(tmp_path / "shared", "shared by all")
    for i, path in enumerate((own_db, own_csv, granted_db, shared_db)):
        assert _connect(client, "proj", a_h, _kind(path), str(path), f"own{i}").status_code == 200
    ok(
        client.post(
            "/api/v1/connections/proj/upload",
            data={"name": "mine", "type": "FILE"},
            files={"file": ("mine.csv", b"x\n1\n", "text/csv")},
            headers=a_h,
        )
    )

    (tenants / "proj" / "link.db").symlink_to(b_db)
    (tenants / "proj" / "link.csv").symlink_to(b_csv)
    (tenants / "proj" / "folder").symlink_to(tenants / "proj2", target_is_directory=True)
    (tmp_path / "granted" / "upload.csv").symlink_to(b_uploaded)
    own_uploads = settings.data_dir / "uploads" / "proj"
    escapes = [
        str(b_db),  # another project's folder, named outright
        str(b_csv),
        f"{tenants}/proj/../proj2/vault.db",  # `..`
        f"{tenants}/proj/../proj2/vault.csv",
        f"{tmp_path}/granted/../tenants/proj2/vault.db",
        str(tenants / "proj" / "link.db"),  # a link to a file
        str(tenants / "proj" / "link.csv"),
        str(tenants / "proj" / "folder" / "vault.db"),  # a link to a folder
        str(tenants / "proj" / "folder" / "vault.csv"),
        str(tmp_path / "granted" / "upload.csv"),  # a link to proj2's upload
        str(b_uploaded),  # proj2's upload: proj is a prefix of proj2
        f"{own_uploads}/../proj2/{b_upload['id']}/up.csv",
    ]
    for path in escapes:
        response = _connect(client, "proj", a_h, _kind(path), path)
        assert response.status_code == 400, (path, response.text)
        assert response.json() == {
            "errorCode": "INVALID_CREDENTIAL",
            "message": OUTSIDE.format(path),
        }
    # links that lead in a loop are a clear 400, not a server error
    (tenants / "proj" / "loop1").symlink_to(tenants / "proj" / "loop2")
    (tenants / "proj" / "loop2").symlink_to(tenants / "proj" / "loop1")
    looped = f"{tenants}/proj/loop1/vault.db"
    assert _connect(client, "proj", a_h, "SQLITE", looped).json() == {
        "errorCode": "INVALID_CREDENTIAL",
        "message": f"{looped} cannot be resolved: links in it lead in a loop",
    }
    # DuckDB would read a path with *, ? or [ as a pattern, matching files next to it
    pattern = tenants / "proj" / "vault[.]csv"
    pattern.write_text("x\n1\n")
    response = _connect(client, "proj", a_h, "FILE", str(pattern))
    assert response.json() == {
        "errorCode": "INVALID_CREDENTIAL",
        "message": f"{pattern}: DuckDB reads *, ? and [ in a path as a pattern that could match "
        "other files; rename the file",
    }
    what = {"SQLITE": "path", "FILE": "files[0].path"}
    for path in (f"file:{b_db}", f"file://{b_db}", f"file:{b_csv}", "vault.db"):
        response = _connect(client, "proj", a_h, _kind(path), path)
        assert response.status_code == 400, (path, response.text)
        assert response.json() == {
            "errorCode": "INVALID_CREDENTIAL",
            "message": f"credential.{what[_kind(path)]} must be an absolute path",
        }
    # nor can an existing connection be pointed there
    conns = ok(client.get("/api/v1/connections/proj", headers=a_h))
    assert sorted(c["name"] for c in conns) == ["mine", "own0", "own1", "own2", "own3"]
    moved = client.put(
        f"/api/v1/connections/proj/{conns[0]['id']}",
        json={"name": "own0", "type": "SQLITE", "credential": {"path": str(b_db)}},
        headers=a_h,
    )
    assert moved.status_code == 400
    assert moved.json() == {"errorCode": "INVALID_CREDENTIAL", "message": OUTSIDE.format(b_db)}
    details = [
        ok(client.get(f"/api/v1/connections/proj/{c['id']}/detail", headers=a_h)) for c in conns
    ]
    assert not any("proj2" in repr(d) for d in details)
    # proj2 keeps all of it, unchanged
    assert sorted(c["name"] for c in ok(client.get("/api/v1/connections/proj2", headers=b_h))) == [
        "up",
        "vault.csv",
        "vault.db",
    ]


def test_a_link_put_in_place_later_is_not_followed(client: TestClient, tmp_path: Path) -> None:
    """A file of the project's own that later becomes a link to another project's file (a
    folder its people can write to) is not read through the link."""
    a_h = _project_key(client, "proj")
    _project_key(client, "proj2")
    b_db, b_csv = _secret_files(tmp_path / "tenants" / "proj2", B_SECRET)
    own_db, own_csv = _secret_files(tmp_path / "tenants" / "proj", "proj's own")
    journaled, _ = _secret_files(tmp_path / "tenants" / "proj" / "j", "proj's own")
    ids = {}
    for name, path in (("base", own_db), ("lake", own_csv), ("journaled", journaled)):
        credential = {"path": str(path)}
        ids[name] = add_catalog(
            client, "proj", credential, kind=_kind(path), connection=name, headers=a_h
        ).id
    for path, target in ((own_db, b_db), (own_csv, b_csv)):
        path.rename(path.with_suffix(".old"))
        path.symlink_to(target)
    # SQLite reads a -wal file next to the database as its recent pages: not through a link
    wal = Path(f"{journaled}-wal")
    wal.symlink_to(b_db)

    query = client.post(
        "/api/v1/data/projects/proj/queries/execute",
        json={"statement": "SELECT * FROM lake.main.vault"},
        headers=a_h,
    )
    assert query.status_code == 400
    assert query.json() == {
        "errorCode": "QUERY_FAILED",
        "message": f'DuckDB error: Permission Error: Cannot access file "{own_csv}" - file '
        "system operations are disabled by configuration\n\n"
        'LINE 1: SELECT * FROM "main"."vault" LIMIT 10000\n'
        "                                             ^^^",
    }
    refreshed = ok(client.post("/api/v1/metadata/proj/refresh", json={}, headers=a_h))
    linked = (
        "{} has been replaced by a link since the connection was made; Parley does not follow "
        "it (point the connection at the file itself)"
    )
    assert refreshed == {
        "status": "FAILED",
        "catalogs": [
            {"catalogId": ids["base"], "status": "FAILED", "error": linked.format(own_db)},
            {
                "catalogId": ids["lake"],
                "status": "FAILED",
                "error": f'DuckDB cannot read the files: Permission Error: Cannot access file "{own_csv}" - file system operations are disabled by configuration',
            },
            {
                "catalogId": ids["journaled"],
                "status": "FAILED",
                "error": f"{wal} is a link; Parley does not open a database whose journal is a link",
            },
        ],
    }
    assert B_SECRET not in query.text + repr(refreshed)
    # a connector built again (a restart, a changed credential) resolves the link and refuses
    again = _connect(client, "proj", a_h, "SQLITE", str(own_db), "again")
    assert again.json() == {"errorCode": "INVALID_CREDENTIAL", "message": OUTSIDE.format(own_db)}


def test_parleys_own_files_are_never_a_source(
    database_url: str, backend: str, tmp_path: Path
) -> None:
    """Even under a directory granted to every project, Parley's data directory (every
    project's uploads, the server secret) and its SQLite database (wherever it lies) are
    refused."""
    settings = make_settings(
        database_url, tmp_path / "data", auth_enabled=True, data_file_roots={"*": [tmp_path]}
    )
    with AppClient(create_app(settings), raise_server_exceptions=False) as client:
        a_h = _project_key(client, "proj")
        b_h = _project_key(client, "proj2")
        up = ok(
            client.post(
                "/api/v1/connections/proj2/upload",
                data={"name": "up", "type": "FILE"},
                files={"file": ("up.csv", f"secret\n{B_SECRET}\n".encode(), "text/csv")},
                headers=b_h,
            )
        )
        refused = [
            settings.data_dir / "uploads" / "proj2" / up["id"] / "up.csv",
            settings.data_dir / "server-secret",
        ]
        if backend == "sqlite":
            assert database_url.endswith(f"///{tmp_path / 'parley.db'}")  # outside data_dir
            refused.append(tmp_path / "parley.db")
        for path in refused:
            response = _connect(client, "proj", a_h, _kind(path), str(path))
            assert response.status_code == 400, (path, response.text)
            assert response.json() == {
                "errorCode": "INVALID_CREDENTIAL",
                "message": f"{path} is inside Parley's own data",
            }


def test_a_shared_list_of_file_roots_is_refused_at_start(tmp_path: Path) -> None:
    """The old form, a list every project shared, stops the server with what to write
    instead; an empty list granted nothing and still starts."""
    with pytest.raises(ValidationError) as caught:
        make_settings("sqlite+aiosqlite://", tmp_path, data_file_roots=[tmp_path])
    assert caught.value.errors()[0]["msg"] == f"Value error, {LEGACY_LIST}"
    assert make_settings("sqlite+aiosqlite://", tmp_path, data_file_roots=[]).data_file_roots == {}
    served = subprocess.run(
        [*PARLEY, "serve", "--port", "1"],
        env=parley_env(tmp_path / "data", PARLEY_DATA_FILE_ROOTS=json.dumps([str(tmp_path)])),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 1
    assert served.stderr == (
        f"parley: invalid settings: PARLEY_DATA_FILE_ROOTS: Value error, {LEGACY_LIST}\n"
    )
    assert not (tmp_path / "data").exists()
