"""A PostgreSQL catalog through the SQL endpoint, with the `trino` client, on a server whose own
database is PostgreSQL too: PostgreSQL's types (numeric without a precision, timestamptz,
json, bytea) arrive as Trino types, Trino SQL is written in PostgreSQL's dialect before the
guard checks it, and the metadata statements read the catalog from PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import trino
from fastapi.testclient import TestClient

from conftest import PostgresForTests, serve
from data_sources import PG_PASSWORD, _pg, drop_postgres, make_postgres
from helpers import add_catalog, new_project

PG_DB = "parley_source_trino"


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresForTests) -> Iterator[int]:
    root: Path = tmp_path_factory.mktemp("trino-pg")
    make_postgres(postgres.socket_dir, PG_DB)
    _pg(
        postgres.socket_dir,
        PG_DB,
        "CREATE TABLE shop.kinds (id int PRIMARY KEY, price numeric, at timestamptz, "
        "doc jsonb, raw bytea)",
        "INSERT INTO shop.kinds VALUES (1, 1234.5, '2024-02-29 13:45:01.5+02', "
        "'{\"ü\": [1, 2]}', '\\x0001ff'), (2, 0.125, NULL, NULL, NULL)",
    )
    # Parley's own database on PostgreSQL too: the metadata statements read it
    database_url = postgres.new_database()
    env = {"PARLEY_DATA_ALLOW_PRIVATE_HOSTS": "true", "PARLEY_DATABASE_URL": database_url}
    with serve(root, **env) as url, httpx.Client(base_url=url, timeout=60) as http:
        client = cast(TestClient, http)  # the helpers' TestClient is an httpx.Client too
        new_project(client, "Alpha", project_id="alpha")
        credential = {
            "url": postgres.socket_dir,
            "user": "postgres",
            "password": PG_PASSWORD,
            "databaseName": PG_DB,
        }
        add_catalog(client, "alpha", credential, kind="POSTGRES", connection="pg")
        port = httpx.URL(url).port
        assert port is not None
        yield port
    drop_postgres(postgres.socket_dir, PG_DB)
    postgres.drop_database(database_url)


def query(port: int, sql: str) -> tuple[list[Any], list[tuple[str, str]]]:
    conn = trino.dbapi.connect(
        host="127.0.0.1", port=port, http_scheme="http", user="alpha", catalog="pg",
        schema="shop", max_attempts=1,
    )  # fmt: skip
    cursor = conn.cursor()
    cursor.execute(sql)
    found = cursor.fetchall()
    return found, [(d.name, d.type_code) for d in cursor.description]


def test_postgres_types_arrive_as_trino_types(port: int) -> None:
    found, columns = query(port, "SELECT * FROM kinds ORDER BY id")
    assert found == [
        [
            1,
            Decimal("1234.500"),
            dt.datetime(2024, 2, 29, 11, 45, 1, 500000, tzinfo=dt.UTC),
            '{"ü": [1, 2]}',
            b"\x00\x01\xff",
        ],
        [2, Decimal("0.125"), None, None, None],
    ]
    # numeric without a precision: the widest of its values (4 + 3 digits, 3 after the point)
    assert columns == [
        ("id", "integer"),
        ("price", "decimal(7,3)"),
        ("at", "timestamp(3) with time zone"),
        ("doc", "json"),
        ("raw", "varbinary"),
    ]


def test_trino_sql_is_written_for_postgres(port: int, postgres: PostgresForTests) -> None:
    sql = (
        "SELECT tier, count(*) AS n, CAST(sum(p.amount) AS decimal(12, 2)) AS total "
        "FROM {c} c JOIN {p} p ON p.customer_id = c.id "
        "WHERE c.tier IN ('gold', 'silver') GROUP BY tier ORDER BY tier"
    )
    found, columns = query(port, sql.format(c="customers", p="payments"))
    (direct,) = _pg(postgres.socket_dir, PG_DB, sql.format(c="shop.customers", p="shop.payments"))
    assert found == [[r["tier"], r["n"], r["total"]] for r in direct]
    widest = max(len(str(r["total"]).replace(".", "")) for r in direct)
    assert columns == [("tier", "varchar"), ("n", "bigint"), ("total", f"decimal({widest},2)")]
    tables, _ = query(port, "SHOW TABLES")
    assert tables == [["customers"], ["events"], ["kinds"], ["payments"]]


def test_metadata_reads_the_catalog_from_postgres(port: int) -> None:
    columns, _ = query(port, "DESCRIBE kinds")
    assert columns == [
        ["id", "integer", "", ""],
        ["price", "decimal", "", ""],
        ["at", "timestamp(3) with time zone", "", ""],
        ["doc", "json", "", ""],
        ["raw", "varbinary", "", ""],
    ]
    schemas, _ = query(port, "SELECT schema_name FROM information_schema.schemata ORDER BY 1")
    assert schemas == [["information_schema"], ["shop"]]
