"""POST /api/v1/data/projects/{projectId}/search on both backends: catalogs, schemas and tables
(a project's own, its semantic catalogs') matched by words in names, descriptions and columns,
in a ranked order, with Peaka's paging."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import BACKENDS, AppClient, make_settings, migrated_database
from helpers import ok, project_with_catalog
from parley.app import create_app
from parley.config import Settings
from parley.data.catalog_search import Candidate, rank
from test_organizations import error

API = "/api/v1"


@pytest.fixture(scope="module", params=BACKENDS)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"catalog-search-{request.param}")
    (folder / "sources").mkdir()
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(
            url,
            folder / "data",
            auth_enabled=True,
            data_file_roots={"*": [folder / "sources"]},
        )


@pytest.fixture(scope="module")
def client(shared_settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(shared_settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def project(client: TestClient, shared_settings: Settings) -> tuple[str, dict[str, str]]:
    """A project with catalog `shop` (five tables, one described) and semantic catalog `sales`
    (one table, `public.us_products`)."""
    path = Path(next(iter(shared_settings.data_file_roots["*"]))) / "search.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, country TEXT);
        CREATE TABLE product_reviews (id INTEGER PRIMARY KEY, product_id INTEGER, body TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, product_id INTEGER);
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE stock (id INTEGER PRIMARY KEY, qty INTEGER);
        INSERT INTO products VALUES (1, 'apple', 'US');
        """
    )
    conn.close()
    made = project_with_catalog(client, path, key="k")
    pid, h = made.id, made.headers
    ok(
        client.put(
            f"{API}/metadata/{pid}/{made.catalog_id}/main/customers",
            json={"tableDescription": "Buyers of every product"},
            headers=h,
        )
    )
    query = ok(
        client.post(
            f"{API}/data/projects/{pid}/queries",
            json={"displayName": "us", "inputQuery": "SELECT * FROM products WHERE country = 'US'"},
            headers=h,
        )
    )
    sem = ok(
        client.post(
            f"{API}/data/projects/{pid}/semantic-catalogs", json={"name": "sales"}, headers=h
        )
    )
    ok(
        client.post(
            f"{API}/data/projects/{pid}/semantic-catalogs/{sem['id']}",
            json={
                "schemaName": "public",
                "tableName": "us_products",
                "queryId": query["id"],
                "description": "what ships from the US",
            },
            headers=h,
        )
    )
    return pid, h


def search(client: TestClient, project: tuple[str, dict[str, str]], **body: Any) -> Any:
    pid, h = project
    return client.post(f"{API}/data/projects/{pid}/search", json=body, headers=h)


def tables(found: Any) -> list[str]:
    return [f"{t['catalog']}.{t['schema']}.{t['table']}" for t in found["matchedTables"]]


def test_tables_are_ranked_by_where_the_words_are(
    client: TestClient, project: tuple[str, dict[str, str]]
) -> None:
    found = ok(search(client, project, query="Product"))
    # name prefix (by name), inside a name, in a description, in a column's name
    assert tables(found) == [
        "shop.main.product_reviews",
        "shop.main.products",
        "sales.public.us_products",
        "shop.main.customers",
        "shop.main.orders",
    ]
    assert found["matchedCatalogs"] == []
    assert found["matchedSchemas"] == []
    assert found["meta"] == {
        "page": {"limit": 100, "offset": 0, "nextOffset": None},
        "query": {"text": "Product"},
    }
    # every word, in any order
    assert tables(ok(search(client, project, query="reviews product"))) == [
        "shop.main.product_reviews"
    ]
    assert ok(search(client, project, query="s")) | {"matchedTables": []} == {
        "matchedCatalogs": [{"catalog": "sales"}, {"catalog": "shop"}],
        "matchedSchemas": [],
        "matchedTables": [],
        "meta": {
            "page": {"limit": 100, "offset": 0, "nextOffset": None},
            "query": {"text": "s"},
        },
    }
    assert ok(search(client, project, query="MAI"))["matchedSchemas"] == [
        {"catalog": "shop", "schema": "main"}
    ]


def test_search_under_a_catalog_or_schema_and_pages(
    client: TestClient, project: tuple[str, dict[str, str]]
) -> None:
    assert tables(ok(search(client, project, query="product", catalog="shop"))) == [
        "shop.main.product_reviews",
        "shop.main.products",
        "shop.main.customers",
        "shop.main.orders",
    ]
    assert tables(ok(search(client, project, query="product", schema="public"))) == [
        "sales.public.us_products"
    ]
    first = ok(search(client, project, query="product", limit=2))
    assert tables(first) == ["shop.main.product_reviews", "shop.main.products"]
    assert first["meta"]["page"] == {"limit": 2, "offset": 0, "nextOffset": 2}
    last = ok(search(client, project, query="product", limit=2, offset=4))
    assert tables(last) == ["shop.main.orders"]
    assert last["meta"]["page"] == {"limit": 2, "offset": 4, "nextOffset": None}
    assert tables(ok(search(client, project, query="nothing like it"))) == []
    # a semantic table's description is searched like a table's
    assert tables(ok(search(client, project, query="ships from"))) == ["sales.public.us_products"]


def test_bad_searches_are_422(client: TestClient, project: tuple[str, dict[str, str]]) -> None:
    error(search(client, project), 422, "VALIDATION_ERROR", "query is required")
    error(search(client, project, query="  "), 422, "VALIDATION_ERROR", "query is required")
    error(
        search(client, project, query="x", limit=0),
        422,
        "VALIDATION_ERROR",
        "limit must be between 1 and 1000",
    )
    error(search(client, project, query="x", offset=-1), 422, "VALIDATION_ERROR")
    error(search(client, project, query=["x"]), 422, "VALIDATION_ERROR")
    error(
        client.post(f"{API}/data/projects/nope/search", json={"query": "x"}, headers=project[1]),
        403,
        "FORBIDDEN",
    )


def test_rank_orders_by_score_then_name() -> None:
    found = rank(
        [
            Candidate("c", "s", "b_apple"),
            Candidate("c", "s", "apple"),
            Candidate("c", "s", "apples"),
            Candidate("c", "s", "z", descriptions=["an Apple a day"]),
            Candidate("c", "s", "a", columns=["apple_id", ""]),
            Candidate("c", "s", "pear"),
        ],
        "apple",
    )
    assert [c.table for c in found] == ["apple", "apples", "b_apple", "z", "a"]


def test_tables_that_mean_what_the_text_means_come_after_word_matches(
    client: TestClient, project: tuple[str, dict[str, str]]
) -> None:
    # no word of these is in any name, description or column: found by meaning alone
    assert tables(ok(search(client, project, query="clients"))) == ["shop.main.customers"]
    assert tables(ok(search(client, project, query="inventory"))) == ["shop.main.stock"]
    assert tables(ok(search(client, project, query="feedback"))) == ["shop.main.product_reviews"]
    assert tables(ok(search(client, project, query="weather forecast"))) == []
    # a word match ranks first, the meaning after it ("buyers" is in customers' description)
    assert tables(ok(search(client, project, query="buyers"))) == ["shop.main.customers"]
    # the schema filter applies to matches by meaning too
    assert tables(ok(search(client, project, query="clients", schema="public"))) == []


def test_related_keeps_the_tables_near_the_closest() -> None:
    from parley.data.catalog_search import related

    near = {("c", "s", "a"): 0.41, ("c", "s", "b"): 0.37, ("c", "s", "c"): 0.33}
    assert related(near) == {("c", "s", "a"): 0.41, ("c", "s", "b"): 0.37}
    assert related({("c", "s", "a"): 0.19, ("c", "s", "b"): 0.18}) == {}
    assert related({}) == {}
    # by meaning last, closest first, whatever the names
    found = rank(
        [Candidate("c", "s", "a"), Candidate("c", "s", "b"), Candidate("c", "s", "apple")],
        "apple",
        {("c", "s", "a"): 0.3, ("c", "s", "b"): 0.4},
    )
    assert [c.table for c in found] == ["apple", "b", "a"]
