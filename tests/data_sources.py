"""Real data sources for the data-project tests: a SQLite file, CSV/Parquet/JSON files (written
with DuckDB), and a database on the test PostgreSQL server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import duckdb

REGIONS = ["eu", "us", "apac"]
PG_PASSWORD = "pg-S3cret-never-shown-9f81"


def make_sqlite(path: Path, users: int = 60) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, region TEXT);
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            amount REAL NOT NULL,
            status TEXT
        );
        """
    )
    conn.executemany(
        "INSERT INTO users VALUES (?, ?, ?)",
        [(i, f"user{i}", REGIONS[i % 3]) for i in range(1, users + 1)],
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [(i, 1 + i % users, float(i % 50), ["paid", "open"][i % 2]) for i in range(1, 201)],
    )
    conn.commit()
    conn.close()
    return path


def make_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "sales.csv"
    csv.write_text(
        "id,region,amount\n"
        + "\n".join(f"{i},{REGIONS[i % 3]},{i * 1.5}" for i in range(1, 301))
        + "\n"
    )
    parquet = folder / "events.parquet"
    db = duckdb.connect()
    db.execute(
        f"COPY (SELECT range AS id, 'kind' || (range % 4) AS kind FROM range(1000)) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    db.close()
    js = folder / "people.json"
    js.write_text(json.dumps([{"name": f"p{i}", "age": 20 + i} for i in range(10)]))
    return {"csv": csv, "parquet": parquet, "json": js}


def fingerprint(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def sqlite_rows(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


def _pg(socket_dir: str, database: str, *statements: str) -> list[Any]:
    import asyncpg

    async def run() -> list[Any]:
        conn = await asyncpg.connect(host=socket_dir, user="postgres", database=database)
        try:
            out = []
            for sql in statements:
                out.append(await conn.fetch(sql))
            return out
        finally:
            await conn.close()

    return asyncio.run(run())


def make_postgres(socket_dir: str, database: str) -> None:
    _pg(socket_dir, "postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    _pg(socket_dir, "postgres", f'CREATE DATABASE "{database}"')
    _pg(
        socket_dir,
        database,
        "CREATE SCHEMA shop",
        "CREATE TABLE shop.customers (id int PRIMARY KEY, email text UNIQUE NOT NULL, "
        "tier text, created_at timestamptz DEFAULT now())",
        "CREATE TABLE shop.payments (id bigint PRIMARY KEY, customer_id int NOT NULL "
        "REFERENCES shop.customers(id), amount numeric(10,2) NOT NULL)",
        "INSERT INTO shop.customers (id, email, tier) SELECT g, 'c' || g || '@example.com', "
        "(ARRAY['gold','silver','bronze'])[1 + g % 3] FROM generate_series(1, 40) g",
        "INSERT INTO shop.payments SELECT g, 1 + g % 40, (g % 97) + 0.25 "
        "FROM generate_series(1, 500) g",
        # json has no equality operator: COUNT(DISTINCT payload) fails on PostgreSQL
        "CREATE TABLE shop.events (id int PRIMARY KEY, payload json)",
        "INSERT INTO shop.events VALUES (1, '{\"a\": 1}'), (2, '{\"a\": 2}')",
    )


def postgres_rows(socket_dir: str, database: str) -> dict[str, int]:
    customers, payments = _pg(
        socket_dir,
        database,
        "SELECT count(*) FROM shop.customers",
        "SELECT count(*) FROM shop.payments",
    )
    return {"customers": customers[0][0], "payments": payments[0][0]}


def drop_postgres(socket_dir: str, database: str) -> None:
    _pg(socket_dir, "postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# `docs (id, body, data)`: 50 small rows, and row 100 whose text and bytes pass the test caps
DOC_BODY = "x" * 100
BIG_BODY = "é" * 3000  # 6,000 bytes of UTF-8
BIG_DATA = bytes(range(256)) * 12


def doc_rows() -> list[tuple[int, str, bytes]]:
    return [(i, DOC_BODY, b"\x00\x01") for i in range(1, 51)] + [(100, BIG_BODY, BIG_DATA)]


def make_docs(folder: Path, socket_dir: str, database: str) -> tuple[Path, Path]:
    """The docs table in a SQLite file, a Parquet file and a PostgreSQL database."""
    folder.mkdir(parents=True, exist_ok=True)
    sqlite_path = folder / "docs.db"
    conn = sqlite3.connect(sqlite_path)
    conn.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT, data BLOB)")
    conn.executemany("INSERT INTO docs VALUES (?, ?, ?)", doc_rows())
    conn.commit()
    conn.close()
    parquet = folder / "docs.parquet"
    db = duckdb.connect()
    db.execute("CREATE TABLE docs (id INTEGER, body VARCHAR, data BLOB)")
    db.executemany("INSERT INTO docs VALUES (?, ?, ?)", doc_rows())
    db.execute(f"COPY docs TO '{parquet}' (FORMAT parquet)")
    db.close()

    async def fill() -> None:
        import asyncpg

        admin = await asyncpg.connect(host=socket_dir, user="postgres", database="postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        pg = await asyncpg.connect(host=socket_dir, user="postgres", database=database)
        await pg.execute("CREATE TABLE docs (id int PRIMARY KEY, body text, data bytea)")
        await pg.executemany("INSERT INTO docs VALUES ($1, $2, $3)", doc_rows())
        await pg.close()

    asyncio.run(fill())
    return sqlite_path, parquet
