"""`parley serve --demo`: the generated database is the same on every build, and starting twice
on one data directory leaves one project with its catalog, relations and golden SQLs."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import PARLEY, AppClient, _free_port, parley_env
from parley.app import create_app
from parley.config import Settings
from parley.demo.generate import VERSION, build_demo_database, canonical_checksum, database_version
from parley.demo.golden import GOLDEN_SQLS
from parley.demo.register import CONNECTION_ID
from parley.demo.schema import TABLES
from parley.demo.startup import demo_startup

ROW_COUNTS = {
    "regions": 3,
    "employees": 68,
    "stores": 17,
    "customers": 3000,
    "products": 132,
    "orders": 14000,
    "order_items": 28644,
    "returns": 1745,
}
RELATIONS = {
    ("customers", "region_id", "regions", "region_id"),
    ("customers", "sales_rep_id", "employees", "employee_id"),
    ("employees", "manager_id", "employees", "employee_id"),
    ("employees", "region_id", "regions", "region_id"),
    ("order_items", "order_id", "orders", "order_id"),
    ("order_items", "product_id", "products", "product_id"),
    ("orders", "customer_id", "customers", "customer_id"),
    ("orders", "store_id", "stores", "store_id"),
    ("returns", "order_item_id", "order_items", "order_item_id"),
    ("stores", "manager_id", "employees", "employee_id"),
    ("stores", "region_id", "regions", "region_id"),
}


def test_the_demo_database_is_the_same_on_every_build(tmp_path: Path) -> None:
    first = build_demo_database(tmp_path / "a" / "retail.db")
    second = build_demo_database(tmp_path / "b" / "retail.db")
    assert first == second == ROW_COUNTS
    assert canonical_checksum(tmp_path / "a" / "retail.db") == canonical_checksum(
        tmp_path / "b" / "retail.db"
    )
    assert database_version(tmp_path / "a" / "retail.db") == VERSION
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["retail.db"]


def _snapshot(client: TestClient) -> dict[str, Any]:
    def ok(path: str) -> Any:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    catalogs = ok("/api/v1/data/projects/demo/catalogs")
    catalog_id = catalogs[0]["id"]
    return {
        "projects": ok("/api/v1/projects"),
        "connections": ok("/api/v1/connections/demo"),
        "catalogs": catalogs,
        "metadata": ok("/api/v1/metadata/demo"),
        "relations": ok(f"/api/v1/metadata/demo/relations/{catalog_id}"),
        "golden": ok("/api/v1/metadata/demo/golden-sqls"),
    }


def _start(settings: Settings) -> dict[str, Any]:
    with AppClient(create_app(settings, startup=[demo_startup])) as client:
        return _snapshot(client)


@pytest.mark.postgres
def test_serve_demo_twice_makes_one_project(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _start(settings)
    said = capsys.readouterr().out
    assert "created: project, connection, catalog, golden SQL)" in said
    assert "curl -s http://127.0.0.1:8000/api/v1/ai-agent/demo/chat" in said
    path = settings.data_dir / "uploads" / "demo" / CONNECTION_ID / "retail.db"
    built_at = path.stat().st_mtime_ns

    second = _start(settings)
    assert "created: nothing new, all there from before)" in capsys.readouterr().out
    assert path.stat().st_mtime_ns == built_at
    assert second == first

    assert [(p["id"], p["name"]) for p in first["projects"]] == [
        ("demo", "Demo: Alpenglow Outdoor")
    ]
    assert [(c["id"], c["name"], c["type"]) for c in first["connections"]] == [
        (CONNECTION_ID, "retail-demo", "SQLITE")
    ]
    assert [(c["name"], c["connectionId"]) for c in first["catalogs"]] == [
        ("retail", CONNECTION_ID)
    ]
    [catalog] = first["metadata"]["catalogs"]
    assert (catalog["catalogName"], catalog["catalogType"]) == ("retail", "sqlite")
    [schema] = catalog["schemas"]
    tables = {t["tableName"]: t for t in schema["tables"]}
    assert {name: t["rowCount"] for name, t in tables.items()} == ROW_COUNTS
    for spec in TABLES:
        table = tables[spec.name]
        assert (table["tableDescription"], table["useWithAI"]) == (spec.description, True)
        described = {c["columnName"]: c["columnDescription"] for c in table["columns"]}
        assert described == spec.columns
        categorical = {c["columnName"] for c in table["columns"] if c["isCategorical"]}
        assert set(spec.categorical) <= categorical
    states = next(c for c in tables["customers"]["columns"] if c["columnName"] == "state")
    assert len(states["categoricalValues"]) == 29
    assert states["categoricalValues"][:3] == ["England", "California", "Bavaria"]
    channels = next(c for c in tables["orders"]["columns"] if c["columnName"] == "channel")
    assert channels["categoricalValues"] == ["web", "phone", "mobile app", "store"]
    relations = {
        (r["tableName"], r["columnName"], r["targetTableName"], r["targetColumnName"])
        for r in first["relations"]["relations"]
    }
    assert relations == RELATIONS
    assert [(g["prompt"], g["sql"]) for g in first["golden"]["goldenSqls"]] == list(GOLDEN_SQLS)


def test_parley_serve_demo_serves_the_demo_project(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*PARLEY, "serve", "--demo", "--port", str(port)],
            env=parley_env(tmp_path / "data"),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"parley serve --demo did not come up:\n{log.read_text()}")
            time.sleep(0.2)
        response = httpx.post(
            f"{base}/api/v1/data/projects/demo/queries/execute?format=COMPACT",
            json={"statement": "SELECT COUNT(*) FROM customers WHERE state = 'Bavaria'"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"] == [[238]]
    finally:
        process.terminate()
        process.wait(timeout=20)
    said = log.read_text()
    assert f"curl -s {base}/api/v1/ai-agent/demo/chat -H 'content-type: application/json'" in said
