"""PostgreSQL and file (CSV, Parquet, JSON via DuckDB) sources end to end, and credentials:
sealed at rest, never in a response or a log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from conftest import PostgresForTests
from data_sources import PG_PASSWORD, drop_postgres, make_files, make_postgres
from helpers import PARTNER, add_catalog, new_project, ok
from parley.config import Settings
from parley.data.credentials import CredentialBox, CredentialUnreadable
from parley.store.engine import create_database

PG_DB = "parley_source_sources"


@pytest.fixture
def backend() -> str:
    return "sqlite"  # Parley's own store; the sources are what these tests are about


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {
        "auth_enabled": True,
        "data_file_roots": {"*": [tmp_path / "sources"]},
        "data_allow_private_hosts": True,
    }


@pytest.fixture
def pg_source(postgres: PostgresForTests) -> Iterator[str]:
    make_postgres(postgres.socket_dir, PG_DB)
    yield postgres.socket_dir
    drop_postgres(postgres.socket_dir, PG_DB)


def execute(client: TestClient, pid: str, sql: str, fmt: str = "COMPACT") -> Any:
    return ok(
        client.post(
            f"/api/v1/data/projects/{pid}/queries/execute",
            params={"format": fmt},
            json={"statement": sql},
            headers=PARTNER,
        )
    )


def test_postgres_catalog(client: TestClient, pg_source: str) -> None:
    pid = new_project(client, "p")["id"]
    pg = {"url": pg_source, "user": "postgres", "password": PG_PASSWORD, "databaseName": PG_DB}
    cat = add_catalog(client, pid, pg, kind="POSTGRES", connection="warehouse").catalog
    base = f"/api/v1/data/projects/{pid}/catalogs/{cat['id']}"
    assert [s["schemaName"] for s in ok(client.get(f"{base}/schemas", headers=PARTNER))] == ["shop"]
    tables = ok(client.get(f"{base}/schemas/shop/tables", headers=PARTNER))
    assert [t["tableName"] for t in tables] == ["customers", "events", "payments"]
    columns = ok(client.get(f"{base}/schemas/shop/tables/customers/columns", headers=PARTNER))
    assert [
        (c["name"], c["dataType"], c["isNotNull"], c["isUnique"], c["isPrimary"]) for c in columns
    ] == [
        ("id", "integer", True, True, True),
        ("email", "text", True, True, False),
        ("tier", "text", False, False, False),
        ("created_at", "timestamp with time zone", False, False, False),
    ]
    assert columns[3]["defaultValue"] == "now()"
    stats = ok(client.get(f"{base}/schemas/shop/tables/payments/statistics", headers=PARTNER))
    assert stats["rowCount"] == 500
    assert stats["columnStatistics"] == [
        {"columnName": "id", "distinctFraction": 1.0},
        {"columnName": "customer_id", "distinctFraction": 0.08},
        {"columnName": "amount", "distinctFraction": 0.194},
    ]
    meta = ok(client.get(f"/api/v1/metadata/{pid}", headers=PARTNER))
    customers, events, payments = meta["catalogs"][0]["schemas"][0]["tables"]
    assert events["rowCount"] == 2
    assert [(c["columnName"], c["distinctFraction"]) for c in events["columns"]] == [
        ("id", 1.0),
        ("payload", None),
    ]
    assert customers["columns"][2]["categoricalValues"] == ["silver", "bronze", "gold"]
    (fk,) = payments["relations"]
    assert (fk["columnName"], fk["targetSchemaName"], fk["targetTableName"]) == (
        "customer_id",
        "shop",
        "customers",
    )
    result = execute(
        client,
        pid,
        "SELECT id, amount, customer_id FROM shop.payments ORDER BY id LIMIT 2",
        "CELL_TYPED",
    )
    assert [[(c["dataType"], c["value"]) for c in row] for row in result["data"]] == [
        [("bigint", 1), ("decimal", "1.25"), ("integer", 2)],
        [("bigint", 2), ("decimal", "2.25"), ("integer", 3)],
    ]
    joined = execute(
        client,
        pid,
        "SELECT c.tier, count(*) FROM warehouse.shop.payments p "
        "JOIN warehouse.shop.customers c ON c.id = p.customer_id GROUP BY c.tier ORDER BY c.tier",
    )
    assert joined["data"] == [["bronze", 163], ["gold", 163], ["silver", 174]]


def test_file_catalog(client: TestClient, tmp_path: Path) -> None:
    files = make_files(tmp_path / "sources")
    pid = new_project(client, "p")["id"]
    credential = {
        "files": [
            {"path": str(files["csv"])},
            {"path": str(files["parquet"])},
            {"path": str(files["json"]), "tableName": "people"},
        ]
    }
    cat = add_catalog(client, pid, credential, kind="FILE", connection="lake").catalog
    base = f"/api/v1/data/projects/{pid}/catalogs/{cat['id']}/schemas/main/tables"
    assert [t["tableName"] for t in ok(client.get(base, headers=PARTNER))] == [
        "events",
        "people",
        "sales",
    ]
    columns = ok(client.get(f"{base}/sales/columns", headers=PARTNER))
    assert [(c["name"], c["dataType"]) for c in columns] == [
        ("id", "bigint"),
        ("region", "varchar"),
        ("amount", "double"),
    ]
    assert execute(client, pid, "SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind")[
        "data"
    ] == [["kind0", 250], ["kind1", 250], ["kind2", 250], ["kind3", 250]]
    assert execute(client, pid, "SELECT name, age FROM lake.main.people ORDER BY age DESC LIMIT 1")[
        "data"
    ] == [["p9", 29]]
    assert execute(client, pid, "SELECT region, sum(amount) FROM sales GROUP BY 1 ORDER BY 1")[
        "data"
    ] == [["apac", 22575.0], ["eu", 22725.0], ["us", 22425.0]]
    bad = client.post(
        f"/api/v1/connections/{pid}",
        json={
            "name": "txt",
            "type": "FILE",
            "credential": {"path": str(tmp_path / "sources" / "sales.csv"), "format": "XLS"},
        },
        headers=PARTNER,
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "errorCode": "INVALID_CREDENTIAL",
        "message": "cannot tell the format of sales.csv: use a .csv, .parquet or .json file, or "
        "give format CSV, PARQUET or JSON",
    }


def _walk_gets(client: TestClient, pid: str) -> list[str]:
    """Every GET route of the project, filled in with the ids it holds."""
    conns = ok(client.get(f"/api/v1/connections/{pid}", headers=PARTNER))
    cats = ok(client.get(f"/api/v1/data/projects/{pid}/catalogs", headers=PARTNER))
    texts = [client.get("/api/v1/connections/config", headers=PARTNER).text]
    texts.append(client.get(f"/api/v1/connections/{pid}", headers=PARTNER).text)
    for conn in conns:
        for suffix in ("", "/detail"):
            texts.append(
                client.get(f"/api/v1/connections/{pid}/{conn['id']}{suffix}", headers=PARTNER).text
            )
    texts.append(client.get(f"/api/v1/data/projects/{pid}/catalogs", headers=PARTNER).text)
    texts.append(client.get(f"/api/v1/metadata/{pid}", headers=PARTNER).text)
    for cat in cats:
        texts.append(
            client.get(f"/api/v1/data/projects/{pid}/catalogs/{cat['id']}", headers=PARTNER).text
        )
        texts.append(
            client.get(f"/api/v1/metadata/{pid}/relations/{cat['id']}", headers=PARTNER).text
        )
        texts.append(
            client.get(f"/api/v1/metadata/{pid}/refresh/{cat['id']}", headers=PARTNER).text
        )
    return texts


def test_credentials_are_sealed_and_never_shown(
    client: TestClient, settings: Settings, pg_source: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pid = new_project(client, "p")["id"]
    dsn = f"postgresql://postgres:{PG_PASSWORD}@/{PG_DB}?host={pg_source}"
    add_catalog(client, pid, {"dsn": dsn}, kind="POSTGRES", connection="by_dsn")
    pg = {"url": pg_source, "user": "postgres", "password": PG_PASSWORD, "databaseName": PG_DB}
    add_catalog(client, pid, pg, kind="POSTGRES", connection="by_fields")
    # a failing connection names the problem, not the password
    failed = client.post(
        f"/api/v1/connections/{pid}",
        json={
            "name": "broken",
            "type": "POSTGRES",
            "credential": {**pg, "databaseName": "nope_db"},
        },
        headers=PARTNER,
    )
    assert failed.status_code == 400
    assert failed.json()["errorCode"] == "CONNECTION_FAILED"
    assert 'database "nope_db" does not exist' in failed.json()["message"]
    texts = [failed.text, *_walk_gets(client, pid)]
    details = [
        ok(client.get(f"/api/v1/connections/{pid}/{c['id']}/detail", headers=PARTNER))
        for c in ok(client.get(f"/api/v1/connections/{pid}", headers=PARTNER))
    ]
    assert details == [
        {"type": "POSTGRES", "url": None, "port": None, "user": "postgres", "databaseName": PG_DB},
        {
            "type": "POSTGRES",
            "url": pg_source,
            "port": 5432,
            "user": "postgres",
            "databaseName": PG_DB,
            "useSsl": False,
        },
    ]
    # a credential update that fails its test changes nothing
    conn_id = ok(client.get(f"/api/v1/connections/{pid}", headers=PARTNER))[1]["id"]
    refused = client.put(
        f"/api/v1/connections/{pid}/{conn_id}",
        json={
            "name": "by_fields",
            "type": "POSTGRES",
            "credential": {**pg, "databaseName": "nope_db"},
        },
        headers=PARTNER,
    )
    assert refused.status_code == 400
    texts.append(refused.text)
    assert execute(client, pid, "SELECT count(*) FROM by_fields.shop.customers")["data"] == [[40]]
    for body in texts:
        assert PG_PASSWORD not in body
        assert dsn not in body
    assert all(PG_PASSWORD not in r.getMessage() for r in caplog.records)

    async def stored() -> list[str]:
        database = create_database(settings.resolved_database_url)
        try:
            async with database.read() as db:
                rows = await db.execute(text("SELECT credential FROM data_connections"))
                return [r[0] for r in rows]
        finally:
            await database.dispose()

    sealed = asyncio.run(stored())
    assert len(sealed) == 2 and all(PG_PASSWORD not in s for s in sealed)
    box = CredentialBox(settings.credentials_key)
    assert sorted(box.open(s).get("password", "dsn") for s in sealed) == ["dsn", PG_PASSWORD]
    other = CredentialBox("another-secret-of-at-least-32-chars!")
    with pytest.raises(CredentialUnreadable):
        other.open(sealed[0])


def test_private_hosts_are_refused_unless_allowed(tmp_path: Path) -> None:
    from parley.data.connectors.base import BadCredential, ConnectorEnv
    from parley.data.connectors.postgres import PostgresConnector

    env = ConnectorEnv()
    for credential, message in [
        (
            {"url": "/var/run/postgresql", "user": "u", "databaseName": "d"},
            "host /var/run/postgresql is local",
        ),
        (
            {"url": "127.0.0.1", "user": "u", "databaseName": "d"},
            "host 127.0.0.1 resolves to the non-public address 127.0.0.1",
        ),
        (
            {"url": "10.1.2.3", "user": "u", "databaseName": "d"},
            "host 10.1.2.3 resolves to the non-public address 10.1.2.3",
        ),
        ({"dsn": "postgresql://u:p@localhost/d"}, "host localhost is local"),
    ]:
        with pytest.raises(BadCredential) as caught:
            PostgresConnector.open(credential, env)
        assert caught.value.detail.startswith(message)


def test_uploaded_files_belong_to_their_project(client: TestClient, settings: Settings) -> None:
    pid = new_project(client, "p")["id"]
    csv = b"city,visits\nParis,3\nRome,5\nOslo,1\n"
    conn = ok(
        client.post(
            f"/api/v1/connections/{pid}/upload",
            data={"name": "visits", "type": "FILE", "tableName": "visits"},
            files={"file": ("../../visits.csv", csv, "text/csv")},
            headers=PARTNER,
        )
    )
    assert (conn["name"], conn["type"]) == ("visits", "FILE")
    stored = settings.data_dir / "uploads" / pid / conn["id"] / "visits.csv"
    assert stored.read_bytes() == csv
    cat = ok(
        client.post(
            f"/api/v1/data/projects/{pid}/catalogs",
            json={"name": "up", "connectionId": conn["id"]},
            headers=PARTNER,
        )
    )
    assert execute(client, pid, "SELECT city FROM visits ORDER BY visits DESC")["data"] == [
        ["Rome"],
        ["Paris"],
        ["Oslo"],
    ]
    # another project cannot point a connection at this project's upload
    other = new_project(client, "p")["id"]
    refused = client.post(
        f"/api/v1/connections/{other}",
        json={"name": "steal", "type": "FILE", "credential": {"path": str(stored)}},
        headers=PARTNER,
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "errorCode": "INVALID_CREDENTIAL",
        "message": f"{stored} is outside the directories this project's connections may "
        "read: its uploads and the directories PARLEY_DATA_FILE_ROOTS grants it",
    }
    too_big = client.post(
        f"/api/v1/connections/{pid}/upload",
        data={"name": "big"},
        files={"file": ("big.csv", b"x" * (settings.max_upload_bytes + 1), "text/csv")},
        headers=PARTNER,
    )
    assert too_big.status_code == 413
    broken = client.post(
        f"/api/v1/connections/{pid}/upload",
        data={"name": "broken", "type": "SQLITE"},
        files={"file": ("broken.db", b"not a database", "application/octet-stream")},
        headers=PARTNER,
    )
    assert broken.status_code == 400
    assert broken.json()["errorCode"] == "CONNECTION_FAILED"
    assert sorted(p.name for p in (settings.data_dir / "uploads" / pid).iterdir()) == [conn["id"]]
    assert (
        client.delete(
            f"/api/v1/data/projects/{pid}/catalogs/{cat['id']}", headers=PARTNER
        ).status_code
        == 200
    )
    assert (
        client.delete(f"/api/v1/connections/{pid}/{conn['id']}", headers=PARTNER).status_code == 200
    )
    assert not stored.exists()


def test_deleting_a_project_removes_its_uploads(client: TestClient, settings: Settings) -> None:
    pid = new_project(client, "p")["id"]
    ok(
        client.post(
            f"/api/v1/connections/{pid}/upload",
            data={"name": "v"},
            files={"file": ("v.csv", b"a,b\n1,2\n", "text/csv")},
            headers=PARTNER,
        )
    )
    assert (settings.data_dir / "uploads" / pid).is_dir()
    assert client.delete(f"/api/v1/projects/{pid}", headers=PARTNER).status_code == 200
    assert not (settings.data_dir / "uploads" / pid).exists()
    assert client.get(f"/api/v1/connections/{pid}", headers=PARTNER).status_code == 404


def test_an_upload_to_an_unknown_project_writes_nothing(
    client: TestClient, settings: Settings
) -> None:
    """It was a 404 that left an empty folder behind, and a 500 for ids longer than a file
    name may be."""
    for pid in ("no-such-project", "p" * 300):
        response = client.post(
            f"/api/v1/connections/{pid}/upload",
            data={"name": "v"},
            files={"file": ("v.csv", b"a,b\n1,2\n", "text/csv")},
            headers=PARTNER,
        )
        assert (response.status_code, response.json()["errorCode"]) == (404, "NOT_FOUND")
    uploads = settings.data_dir / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_project_folders_fit_a_file_name_and_never_collide() -> None:
    """A project's folder (its uploads, `{projectId}` in PARLEY_DATA_FILE_ROOTS) is its id,
    or a digest for ids no file name may hold; an id shaped like a digest is digested too, so
    it cannot take the folder of the long id it is the digest of."""
    from parley.data.file_roots import FileRoots, project_folder_name

    assert project_folder_name("shop-1") == "shop-1"
    assert project_folder_name("p" * 200) == "p" * 200
    long = project_folder_name("p" * 512)
    assert long.startswith("id-") and len(long) == 3 + 64
    assert project_folder_name("q" * 512) != long
    assert project_folder_name(long) not in (long, "p" * 512)
    for odd in ("..", ".", "a/b", "a\\b", ""):
        assert project_folder_name(odd).startswith("id-")
    roots = FileRoots({"*": ("/srv/{projectId}/in", "/srv/shared"), "proj": ("/srv/p",)})
    assert [str(r) for r in roots.for_project("proj")] == ["/srv/p", "/srv/proj/in", "/srv/shared"]
    assert [str(r) for r in roots.for_project("proj2")] == ["/srv/proj2/in", "/srv/shared"]
    assert [str(r) for r in roots.for_project(long)] == [
        f"/srv/{project_folder_name(long)}/in",
        "/srv/shared",
    ]
    assert [str(r) for r in roots.for_project(None)] == ["/srv/shared"]
