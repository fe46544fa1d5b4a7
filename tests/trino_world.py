"""A served Parley with data projects for the SQL endpoint's tests: project `alpha` with
three catalogs (`shop`: a SQLite file of users and orders, `numbers`: 2,500 numbered rows,
`typed`: a Parquet file of every column type), and project `beta` whose catalog is also
named `shop`, over other data."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import duckdb
import httpx
from fastapi.testclient import TestClient

from conftest import TEST_SECRET, serve
from data_sources import make_sqlite
from helpers import PARTNER, add_catalog, new_project, ok

NUMBERS = 2500
PAGE_ROWS = 100
MAX_ROWS = 3000
RESULT_TTL_S = 3.0


@dataclass(frozen=True)
class World:
    url: str
    alpha_key: str
    beta_key: str

    @property
    def port(self) -> int:
        port = urlsplit(self.url).port
        assert port is not None
        return port


def number_label(n: int) -> str:
    return f"zahl-ü-{n}"


def _make_sources(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    shop = make_sqlite(folder / "shop.db")
    beta = make_sqlite(folder / "beta.db", users=5)
    numbers = folder / "numbers.db"
    conn = sqlite3.connect(numbers)
    conn.execute("CREATE TABLE numbers (n INTEGER PRIMARY KEY, label TEXT)")
    conn.executemany(
        "INSERT INTO numbers VALUES (?, ?)", [(n, number_label(n)) for n in range(1, NUMBERS + 1)]
    )
    conn.commit()
    conn.close()
    typed = folder / "types.parquet"
    db = duckdb.connect()
    db.execute(
        f"""COPY (
            SELECT 1::INTEGER AS id, 12.25::DECIMAL(10, 2) AS amount, DATE '2024-02-29' AS day,
                   TIMESTAMP '2024-02-29 13:45:01.25' AS at, true AS ok,
                   'Grüße, 世界 🌍' AS greeting, '\\x00\\x01'::BLOB AS raw,
                   123456789012::BIGINT AS big, 0.5::DOUBLE AS ratio
            UNION ALL
            SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        ) TO '{typed}' (FORMAT parquet)"""
    )
    db.close()
    return {"shop": shop, "beta": beta, "numbers": numbers, "typed": typed}


def _key(client: TestClient, pid: str) -> str:
    made = ok(client.post(f"/api/v1/projects/{pid}/apiKeys", json={"name": "sql"}, headers=PARTNER))
    return str(made["apiKey"])


@contextmanager
def served_world(root: Path, *, auth: bool, **env: str) -> Iterator[World]:
    sources = _make_sources(root / "sources")
    settings = {
        "PARLEY_AUTH_ENABLED": "true" if auth else "false",
        "PARLEY_JWT_SECRET": TEST_SECRET,
        "PARLEY_DATA_FILE_ROOTS": '{"*": ["%s"]}' % (root / "sources"),
        "PARLEY_SQL_PAGE_ROWS": str(PAGE_ROWS),
        "PARLEY_QUERY_MAX_ROWS": str(MAX_ROWS),
        "PARLEY_SQL_RESULT_TTL_S": str(RESULT_TTL_S),
    } | env
    with serve(root, **settings) as url, httpx.Client(base_url=url, timeout=60) as http:
        client = cast(TestClient, http)  # the helpers' TestClient is an httpx.Client too
        new_project(client, "Alpha", project_id="alpha")
        new_project(client, "Beta", project_id="beta")
        for name in ("shop", "numbers"):
            add_catalog(client, "alpha", {"path": str(sources[name])}, connection=name)
        add_catalog(
            client,
            "alpha",
            {"files": [{"path": str(sources["typed"])}]},
            kind="FILE",
            connection="typed",
        )
        add_catalog(client, "beta", {"path": str(sources["beta"])}, connection="shop")
        yield World(url, _key(client, "alpha"), _key(client, "beta"))
