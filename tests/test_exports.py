"""Peaka's async exports (/api/v1/data/projects/{projectId}/.../exports) on both backends: an
export of a table or a saved query runs on the work queue's embedded worker, a page at a time,
and its file (CSV or JSONL, maybe gzipped) is downloaded from Parley with the project's keys and
parsed back exactly; a cancelled export leaves no file; the row and size limits fail an export
with a clear error; another project's key reaches neither the status nor the file; bad format
names are Peaka's 400s."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from conftest import BACKENDS, AppClient, make_settings, migrated_database, wait_for_queue
from data_sources import make_files
from helpers import PARTNER, add_catalog, ok, project_with_catalog
from parley.app import create_app
from parley.config import Settings
from parley.data.export_files import CsvOptions, ExportWriter, unescape
from parley.data.exports import EXPORT, check_options
from parley.errors import BadRequest
from parley.store.data_models import DataExport
from parley.store.models import WorkUnitLease, utcnow
from parley.store.queue import WorkQueue
from parley.worker.setup import queue_policy

API = "/api/v1/data/projects"
PAGE_ROWS = 200
MAX_ROWS = 20_000
MAX_BYTES = 256 * 1024
BIG_ROWS = 40_000
_ids = itertools.count()
WORKER_ON = {"worker_embedded": True, "worker_poll_s": 0.05, "worker_concurrency": 1}

# rows of the `orders` table: commas, quotes, line breaks, unicode and NULLs in the text
ORDERS = [
    (
        i,
        ["plain", 'say "hi", ok', "two\nlines", "café ✓", None][i % 5],
        None if i % 7 == 0 else i * 1.5,
        i % 3 == 0,
    )
    for i in range(1, 451)  # three pages of PAGE_ROWS
]


def _make_source(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT, amount REAL, flag BOOLEAN);
        CREATE TABLE big (x INTEGER);
        CREATE TABLE wide (id INTEGER PRIMARY KEY, body TEXT);
        """
    )
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ORDERS)
    conn.executemany("INSERT INTO big VALUES (?)", [(1,)] * BIG_ROWS)
    conn.executemany("INSERT INTO wide VALUES (?, ?)", [(i, "w" * 1000) for i in range(300)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"exports-{request.param}")
    (folder / "sources").mkdir()
    _make_source(folder / "sources" / "shop.db")
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(
            url,
            folder / "data",
            auth_enabled=True,
            key_cache_ttl_s=0,
            data_file_roots={"*": [folder / "sources"]},
            worker_embedded=True,
            worker_poll_s=0.05,
            worker_concurrency=1,
            exports_concurrency=2,
            exports_page_rows=PAGE_ROWS,
            exports_max_rows=MAX_ROWS,
            exports_max_bytes=MAX_BYTES,
        )


@pytest.fixture(scope="module")
def client(shared_settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(shared_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def source_of(settings: Settings) -> Path:
    return settings.data_dir.parent / "sources" / "shop.db"


def project(client: TestClient, settings: Settings) -> tuple[str, str, dict[str, str]]:
    """A new project with a catalog `shop` over the source, and the headers of its own key."""
    made = project_with_catalog(
        client, source_of(settings), project_id=f"exp{next(_ids)}", key="exporter"
    )
    return made.id, made.catalog_id, made.headers


def wait_for(client: TestClient, pid: str, eid: str, headers: dict[str, str]) -> dict[str, Any]:
    """Poll the export until it is finished; its body."""
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = ok(client.get(f"{API}/{pid}/exports/{eid}", headers=headers))
        if body["status"] not in ("PENDING", "RUNNING"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"export still {body['status']}: {body}")
        time.sleep(0.02)


def submit(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 202, response.text
    created = response.json()
    assert created == {"id": created["id"], "status": "PENDING"}
    return str(created["id"])


def table_path(pid: str, cid: str, table: str) -> str:
    return f"{API}/{pid}/catalogs/{cid}/schemas/main/tables/{table}/exports"


def error(response: Any, status: int, code: str, message: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json() == {"errorCode": code, "message": message}


def files_left(settings: Settings, pid: str) -> list[str]:
    folder = settings.data_dir / "exports" / pid
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))  # SQLite keeps booleans as integers
    return str(value)


def test_a_table_exports_to_csv_in_pages_and_downloads_exactly(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, cid, headers = project(client, shared_settings)
    eid = submit(
        client, table_path(pid, cid, "orders"), {}, headers | {"User-Agent": "export-test"}
    )
    done = wait_for(client, pid, eid, headers)
    [file] = done.pop("files")
    url = f"http://testserver/api/v1/data/projects/{pid}/exports/{eid}/file"
    assert file == {"name": "shop_main_orders.csv", "url": url, "bytes": done["bytes"]}
    assert done.pop("createdAt").endswith("Z")
    assert done.pop("durationMs") >= 0
    prefix = done.pop("apiKeyPrefix")
    assert prefix == headers["Authorization"].split()[1][:8]
    assert done == {
        "id": eid,
        "status": "SUCCEEDED",
        "format": "CSV",
        "compression": "NONE",
        "rowCount": len(ORDERS),
        "bytes": done["bytes"],
        "downloadable": True,
        "catalogId": cid,
        "schemaName": "main",
        "tableName": "orders",
        "source": 'shop.main."orders"',
        "clientSource": "export-test",
    }
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="shop_main_orders.csv"' in response.headers["content-disposition"]
    assert len(response.content) == done["bytes"]
    rows = list(csv.reader(io.StringIO(response.content.decode(), newline="")))
    assert rows == [["id", "note", "amount", "flag"]] + [[_cell(v) for v in row] for row in ORDERS]
    assert response.content.startswith(b'id,note,amount,flag\n1,"say ""hi"", ok",1.5,0\n')
    assert files_left(shared_settings, pid) == [f"{eid}.csv"]  # no temporary file is left
    wait_for_queue(client, EXPORT)


def test_a_saved_query_exports_to_gzipped_jsonl(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, _, headers = project(client, shared_settings)
    query = ok(
        client.post(
            f"{API}/{pid}/queries",
            json={
                "displayName": "Big orders",
                "inputQuery": "SELECT id, note, amount FROM orders WHERE id > 100 ORDER BY id",
            },
            headers=headers,
        )
    )
    eid = submit(
        client,
        f"{API}/{pid}/queries/{query['id']}/exports",
        {"format": "jsonl", "compression": "GZIP"},
        headers,
    )
    done = wait_for(client, pid, eid, headers)
    assert (done["status"], done["format"], done["compression"]) == ("SUCCEEDED", "JSONL", "GZIP")
    assert (done["queryId"], done["source"]) == (query["id"], 'peaka.query."big_orders"')
    assert done["rowCount"] == 350
    [file] = done["files"]
    assert file["name"] == f"query_{query['id']}_big_orders.jsonl.gz"
    response = client.get(file["url"], headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    lines = gzip.decompress(response.content).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": i, "note": note, "amount": amount} for i, note, amount, _ in ORDERS[100:]
    ]
    assert lines[0] == '{"id":101,"note":"say \\"hi\\", ok","amount":151.5}'


def test_a_table_exports_to_parquet_with_its_types(
    client: TestClient, shared_settings: Settings, tmp_path: Path
) -> None:
    """PARQUET (a Parley extension): the pages go to the temporary file as JSONL, and DuckDB
    writes the Parquet file from them; the download reads back as the rows, typed."""
    import duckdb

    pid, cid, headers = project(client, shared_settings)
    eid = submit(client, table_path(pid, cid, "orders"), {"format": "parquet"}, headers)
    done = wait_for(client, pid, eid, headers)
    assert (done["status"], done["format"], done["rowCount"]) == ("SUCCEEDED", "PARQUET", 450)
    [file] = done["files"]
    assert file["name"] == "shop_main_orders.parquet"
    response = client.get(file["url"], headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert len(response.content) == done["bytes"]
    downloaded = tmp_path / "downloaded.parquet"
    downloaded.write_bytes(response.content)
    db = duckdb.connect()
    types = db.execute(f"DESCRIBE SELECT * FROM '{downloaded}'").fetchall()
    assert [(name, kind) for name, kind, *_ in types] == [
        ("id", "BIGINT"),
        ("note", "VARCHAR"),
        ("amount", "DOUBLE"),
        ("flag", "BIGINT"),
    ]
    rows = db.execute(f"SELECT * FROM '{downloaded}' ORDER BY id").fetchall()
    assert rows == [tuple(row) for row in ORDERS]
    assert files_left(shared_settings, pid) == [f"{eid}.parquet"]  # the JSONL pages are gone


def test_a_saved_query_exports_chosen_columns(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, _, headers = project(client, shared_settings)
    sql = "SELECT id, amount, note FROM orders WHERE id <= 3 ORDER BY id -- the first three"
    query = ok(
        client.post(
            f"{API}/{pid}/queries",
            json={"displayName": "First", "inputQuery": sql},
            headers=headers,
        )
    )
    path = f"{API}/{pid}/queries/{query['id']}/exports"
    eid = submit(client, path, {"columns": ["note", "id"], "format": "JSONL"}, headers)
    done = wait_for(client, pid, eid, headers)
    assert (done["status"], done["rowCount"]) == ("SUCCEEDED", 3)
    text = client.get(done["files"][0]["url"], headers=headers).text
    assert text == "".join(
        json.dumps({"note": note, "id": i}, ensure_ascii=False, separators=(",", ":")) + "\n"
        for i, note, _, _ in ORDERS[:3]
    )
    # a column the query does not have fails the export with the source's error
    bad = wait_for(client, pid, submit(client, path, {"columns": ["nope"]}, headers), headers)
    assert bad["status"] == "FAILED"
    assert bad["error"] == (
        'unknown column(s) of peaka.query."first": nope; it has id, amount, note'
    )


def test_a_parquet_file_table_exports_through_duckdb_in_pages(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, _, headers = project(client, shared_settings)
    files = make_files(shared_settings.data_dir.parent / "sources" / f"files-{pid}")
    lake = add_catalog(
        client,
        pid,
        {"path": str(files["parquet"])},
        kind="FILE",
        connection="lake",
        headers=headers,
    )
    eid = submit(client, table_path(pid, lake.id, "events"), {"format": "JSONL"}, headers)
    done = wait_for(client, pid, eid, headers)
    assert (done["status"], done["rowCount"], done["source"]) == (
        "SUCCEEDED",
        1000,
        'lake.main."events"',
    )
    lines = client.get(done["files"][0]["url"], headers=headers).text.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": i, "kind": f"kind{i % 4}"} for i in range(1000)
    ]


def test_csv_options_columns_and_limit(client: TestClient, shared_settings: Settings) -> None:
    pid, cid, headers = project(client, shared_settings)
    eid = submit(
        client,
        table_path(pid, cid, "orders"),
        {
            "columns": ["amount", "id"],
            "limit": 14,
            "csvOptions": {
                "delimiter": ";",
                "quoteChar": "'",
                "recordSeparator": "\\r\\n",
                "includeHeader": False,
                "nullValue": "NULL",
            },
        },
        headers,
    )
    done = wait_for(client, pid, eid, headers)
    assert (done["status"], done["rowCount"]) == ("SUCCEEDED", 14)
    text = client.get(done["files"][0]["url"], headers=headers).text
    expected = "".join(
        f"{'NULL' if amount is None else amount};{i}\r\n" for i, _, amount, _ in ORDERS[:14]
    )
    assert text == expected


def test_a_cancelled_export_stops_and_leaves_no_file(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, cid, headers = project(client, shared_settings)
    eid = submit(client, table_path(pid, cid, "big"), {}, headers)
    deadline = time.monotonic() + 20
    while True:  # mid-way: some pages written, far from all of them
        running = ok(client.get(f"{API}/{pid}/exports/{eid}", headers=headers))
        if running["status"] == "RUNNING" and running["rowCount"] > 0:
            break
        assert running["status"] in ("PENDING", "RUNNING"), running
        assert time.monotonic() < deadline, running
        time.sleep(0.01)
    assert running["rowCount"] < MAX_ROWS and running["downloadable"] is False
    assert "files" not in running
    response = client.delete(f"{API}/{pid}/exports/{eid}", headers=headers)
    assert (response.status_code, response.content) == (204, b"")
    wait_for_queue(client, EXPORT)
    done = ok(client.get(f"{API}/{pid}/exports/{eid}", headers=headers))
    assert done["status"] == "CANCELLED" and done["downloadable"] is False
    assert done["rowCount"] < MAX_ROWS and "files" not in done
    assert files_left(shared_settings, pid) == []
    error(
        client.get(f"{API}/{pid}/exports/{eid}/file", headers=headers),
        404,
        "NOT_FOUND",
        f"Export {eid} has no file to download (status CANCELLED)",
    )
    # idempotent, and a no-op on a finished export (its file stays)
    assert client.delete(f"{API}/{pid}/exports/{eid}", headers=headers).status_code == 204
    finished = submit(client, table_path(pid, cid, "orders"), {"limit": 3}, headers)
    assert wait_for(client, pid, finished, headers)["status"] == "SUCCEEDED"
    assert client.delete(f"{API}/{pid}/exports/{finished}", headers=headers).status_code == 204
    after = ok(client.get(f"{API}/{pid}/exports/{finished}", headers=headers))
    assert (after["status"], after["downloadable"]) == ("SUCCEEDED", True)
    assert files_left(shared_settings, pid) == [f"{finished}.csv"]


def test_the_row_and_size_limits_fail_an_export_with_no_file(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, cid, headers = project(client, shared_settings)
    too_wide = submit(client, table_path(pid, cid, "wide"), {}, headers)
    too_long = submit(client, table_path(pid, cid, "big"), {"limit": 2_000_000}, headers)
    wide = wait_for(client, pid, too_wide, headers)
    assert (wide["status"], wide["downloadable"]) == ("FAILED", False)
    assert wide["error"] == (
        "Export exceeded the 262,144 byte export size limit (PARLEY_EXPORTS_MAX_BYTES); "
        "export fewer rows or columns, or compress it"
    )
    long = wait_for(client, pid, too_long, headers)
    assert (long["status"], long["downloadable"]) == ("FAILED", False)
    assert long["error"] == (
        "Query exceeded the 20,000 row export limit (PARLEY_EXPORTS_MAX_ROWS); give a "
        "smaller limit to export its first rows"
    )
    assert files_left(shared_settings, pid) == []
    error(
        client.get(f"{API}/{pid}/exports/{too_wide}/file", headers=headers),
        404,
        "NOT_FOUND",
        f"Export {too_wide} has no file to download (status FAILED)",
    )
    # a limit under the server's exports that many rows of a larger table
    first = submit(client, table_path(pid, cid, "big"), {"limit": 250}, headers)
    assert wait_for(client, pid, first, headers)["rowCount"] == 250


def test_another_projects_key_reaches_neither_status_nor_file(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, cid, headers = project(client, shared_settings)
    other, _, other_headers = project(client, shared_settings)
    eid = submit(client, table_path(pid, cid, "orders"), {"limit": 2}, headers)
    assert wait_for(client, pid, eid, headers)["status"] == "SUCCEEDED"
    for method, path in (
        ("GET", f"{API}/{pid}/exports/{eid}"),
        ("GET", f"{API}/{pid}/exports/{eid}/file"),
        ("GET", f"{API}/{pid}/exports"),
        ("DELETE", f"{API}/{pid}/exports/{eid}"),
        ("POST", table_path(pid, cid, "orders")),
    ):
        response = client.request(method, path, headers=other_headers, json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["errorCode"] == "FORBIDDEN"
    # its own project's routes do not find the export either
    for path in (f"{API}/{other}/exports/{eid}", f"{API}/{other}/exports/{eid}/file"):
        error(client.get(path, headers=other_headers), 404, "NOT_FOUND", f"Export {eid} not found")
    assert ok(client.get(f"{API}/{other}/exports", headers=other_headers)) == []
    assert client.get(f"{API}/{pid}/exports/{eid}/file").status_code == 401
    # the partner key reaches it
    assert client.get(f"{API}/{pid}/exports/{eid}/file", headers=PARTNER).status_code == 200


def test_bad_requests_are_peaka_errors(client: TestClient, shared_settings: Settings) -> None:
    pid, cid, headers = project(client, shared_settings)
    path = table_path(pid, cid, "orders")
    for body, message in (
        ({"format": "XML"}, "format must be one of CSV, JSONL, PARQUET; got 'XML'"),
        (
            {"format": "PARQUET", "compression": "GZIP"},
            "a PARQUET file is compressed inside (zstd): compression must be NONE",
        ),
        ({"compression": "ZIP"}, "compression must be one of NONE, GZIP; got 'ZIP'"),
        ({"columns": ["id", "nope"]}, "unknown column(s) of main.orders: nope"),
        ({"columns": []}, "columns must name at least one column (omit it for all columns)"),
        (
            {"csvOptions": {"delimiter": ";;"}},
            "csvOptions.delimiter must be one character (not a line break)",
        ),
    ):
        error(client.post(path, json=body, headers=headers), 400, "BAD_REQUEST", message)
    response = client.post(path, json={"limit": "many"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errorCode"] == "VALIDATION_ERROR"
    error(
        client.post(table_path(pid, cid, "missing"), json={}, headers=headers),
        404,
        "NOT_FOUND",
        f"Table main.missing not found in catalog {cid}",
    )
    error(
        client.post(f"{API}/{pid}/queries/nope/exports", json={}, headers=headers),
        404,
        "NOT_FOUND",
        "Query nope not found",
    )
    error(
        client.get(f"{API}/{pid}/exports?status=DONE", headers=headers),
        400,
        "BAD_REQUEST",
        "unknown status DONE; statuses are PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED",
    )
    error(
        client.get(f"{API}/{pid}/exports?createdBefore=yesterday", headers=headers),
        400,
        "BAD_REQUEST",
        "createdBefore must be an ISO-8601 time such as 2026-06-10T15:23:26Z; got 'yesterday'",
    )
    error(
        client.get(f"{API}/{pid}/exports/nope", headers=headers),
        404,
        "NOT_FOUND",
        "Export nope not found",
    )
    error(
        client.delete(f"{API}/{pid}/exports/nope", headers=headers),
        404,
        "NOT_FOUND",
        "Export nope not found",
    )
    assert ok(client.get(f"{API}/{pid}/exports", headers=headers)) == []  # nothing was queued


def test_the_list_is_newest_first_filtered_and_paged(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, cid, headers = project(client, shared_settings)
    made = [submit(client, table_path(pid, cid, "orders"), {"limit": n}, headers) for n in (1, 2)]
    failed = submit(client, table_path(pid, cid, "wide"), {"format": "JSONL"}, headers)
    for eid in (*made, failed):
        wait_for(client, pid, eid, headers)
    listed = ok(client.get(f"{API}/{pid}/exports", headers=headers))
    assert [e["id"] for e in listed] == [failed, made[1], made[0]]
    assert [e["status"] for e in listed] == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert all("files" not in e for e in listed)
    assert [e["downloadable"] for e in listed] == [False, True, True]
    done = ok(client.get(f"{API}/{pid}/exports?status=succeeded", headers=headers))
    assert [e["id"] for e in done] == [made[1], made[0]]
    page = ok(client.get(f"{API}/{pid}/exports?limit=1", headers=headers))
    assert [e["id"] for e in page] == [failed]
    rest = ok(
        client.get(
            f"{API}/{pid}/exports",
            params={"limit": 5, "createdBefore": page[0]["createdAt"]},
            headers=headers,
        )
    )
    assert [e["id"] for e in rest] == [made[1], made[0]]


def test_a_finished_export_whose_file_was_removed_is_expired(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, cid, headers = project(client, shared_settings)
    kept, gone = (
        submit(client, table_path(pid, cid, "orders"), {"limit": 1}, headers) for _ in range(2)
    )
    for eid in (kept, gone):
        assert wait_for(client, pid, eid, headers)["status"] == "SUCCEEDED"
    (shared_settings.data_dir / "exports" / pid / f"{gone}.csv").unlink()  # by an operator
    expired = ok(client.get(f"{API}/{pid}/exports/{gone}", headers=headers))
    assert (expired["status"], expired["downloadable"]) == ("EXPIRED", False)
    assert "files" not in expired
    error(
        client.get(f"{API}/{pid}/exports/{gone}/file", headers=headers),
        404,
        "NOT_FOUND",
        f"Export {gone} has no file to download (status EXPIRED)",
    )
    by_status = {
        wanted: [
            e["id"] for e in ok(client.get(f"{API}/{pid}/exports?status={wanted}", headers=headers))
        ]
        for wanted in ("EXPIRED", "SUCCEEDED", "EXPIRED,SUCCEEDED")
    }
    assert by_status == {
        "EXPIRED": [gone],
        "SUCCEEDED": [kept],
        "EXPIRED,SUCCEEDED": [gone, kept],
    }


def test_deleting_the_project_removes_its_export_files(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, cid, headers = project(client, shared_settings)
    eid = submit(client, table_path(pid, cid, "orders"), {"limit": 1}, headers)
    wait_for(client, pid, eid, headers)
    assert files_left(shared_settings, pid) == [f"{eid}.csv"]
    assert client.delete(f"/api/v1/projects/{pid}", headers=PARTNER).status_code == 200
    assert not (shared_settings.data_dir / "exports" / pid).exists()


# pure functions


def test_options_are_checked_and_limits_clamped() -> None:
    plain = CsvOptions()
    options = check_options(format=None, compression=None, limit=0, columns=None, csv=plain)
    assert (options.format, options.compression, options.limit) == ("CSV", "NONE", 1)
    big = check_options(format="jsonl", compression="gzip", limit=10**9, columns=None, csv=plain)
    assert (big.format, big.compression, big.limit) == ("JSONL", "GZIP", 1_000_000)
    with pytest.raises(BadRequest, match="columns names a column twice"):
        check_options(format="CSV", compression=None, limit=None, columns=["a", "a"], csv=plain)
    with pytest.raises(BadRequest, match="delimiter and quoteChar must differ"):
        check_options(
            format="CSV",
            compression=None,
            limit=None,
            columns=None,
            csv=CsvOptions(delimiter='"'),
        )
    assert [unescape(v) for v in ("\\n", "\\r\\n", "\\t", ";", "\n")] == [
        "\n",
        "\r\n",
        "\t",
        ";",
        "\n",
    ]


def test_the_writer_writes_pages_and_abandons_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "p" / ".x.partial"
    writer = ExportWriter(path, fmt="CSV", compression="GZIP", csv_options=CsvOptions())
    writer.start(["a", "b"])
    writer.write([[1, "x,y"], [None, True]])
    writer.write([[{"k": [1]}, False]])
    size = writer.close()
    assert size == path.stat().st_size
    assert gzip.decompress(path.read_bytes()) == b'a,b\n1,"x,y"\n,true\n"{""k"":[1]}",false\n'
    dropped = ExportWriter(
        tmp_path / ".y.partial", fmt="JSONL", compression="NONE", csv_options=CsvOptions()
    )
    dropped.start(["a"])
    dropped.write([[1]])
    dropped.abandon()
    assert not (tmp_path / ".y.partial").exists()


# crashes: a worker that dies mid-export, and an export that keeps killing workers


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "sources").mkdir()
    _make_source(tmp_path / "sources" / "shop.db")
    return {
        "auth_enabled": True,
        "data_file_roots": {"*": [tmp_path / "sources"]},
        "exports_page_rows": PAGE_ROWS,
        "worker_max_attempts": 2,
    }


def test_an_export_cut_off_by_a_crash_runs_again_and_one_that_keeps_crashing_fails(
    settings: Settings,
) -> None:
    with AppClient(create_app(settings), raise_server_exceptions=False) as app:  # no worker
        pid, cid, headers = project(app, settings)
        doomed = submit(app, table_path(pid, cid, "wide"), {"limit": 5}, headers)
        rerun = submit(app, table_path(pid, cid, "orders"), {}, headers)
        database = app.app.state.parley.database
        dead = WorkQueue(database, worker_id="dead", policy=queue_policy(settings))
        folder = settings.data_dir / "exports" / pid

        async def die(export_id: str) -> None:
            """A worker claims the export, writes part of it, and dies: its lease runs out."""
            claim = await dead.claim([EXPORT])
            assert claim is not None and claim.items[0].payload == {"export_id": export_id}
            async with database.write() as db:
                await db.execute(
                    update(DataExport)
                    .where(DataExport.id == export_id)
                    .values(status="RUNNING", row_count=PAGE_ROWS)
                )
                await db.execute(
                    update(WorkUnitLease)
                    .where(WorkUnitLease.work_unit_key == claim.work_unit_key)
                    .values(expires_at=utcnow())
                )
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f".{export_id}.partial").write_text("id,note\n1,half a fi")

        for _ in range(2):  # past PARLEY_WORKER_MAX_ATTEMPTS: the next claim keeps it failed
            app.portal.call(die, doomed)
        app.portal.call(die, rerun)
        cut = ok(app.get(f"{API}/{pid}/exports/{rerun}", headers=headers))
        assert (cut["status"], cut["rowCount"], cut["downloadable"]) == ("RUNNING", 200, False)
        assert app.get(f"{API}/{pid}/exports/{rerun}/file", headers=headers).status_code == 404
    with AppClient(create_app(settings.model_copy(update=WORKER_ON))) as worker:
        done = wait_for(worker, pid, rerun, headers)
        assert (done["status"], done["rowCount"]) == ("SUCCEEDED", len(ORDERS))
        text = worker.get(done["files"][0]["url"], headers=headers).text
        assert len(list(csv.reader(io.StringIO(text, newline="")))) == len(ORDERS) + 1
        failed = wait_for(worker, pid, doomed, headers)
        assert (failed["status"], failed["error"]) == ("FAILED", "internal error")
        assert files_left(settings, pid) == [f"{rerun}.csv"]  # no partial file of either
