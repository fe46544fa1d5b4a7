"""The SQL guard as a function: what it writes out for statements it accepts."""

from __future__ import annotations

import pytest

from parley.data.sql_guard import CatalogScope, QueryRejected, TableName, guard, transpile

SQLITE = CatalogScope(
    names=frozenset({"shop"}),
    dialect="sqlite",
    default_schema="main",
    tables=(TableName("main", "users"), TableName("main", "Orders")),
)
POSTGRES = CatalogScope(
    names=frozenset({"pg"}),
    dialect="postgres",
    default_schema="public",
    tables=(TableName("public", "users"), TableName("sales", "users")),
)


@pytest.mark.parametrize(
    ("sql", "cap", "out", "row_cap"),
    [
        ("SELECT * FROM users", 100, 'SELECT * FROM "main"."users" LIMIT 100', 100),
        ("SELECT * FROM users LIMIT 5", 100, 'SELECT * FROM "main"."users" LIMIT 5', 5),
        ("SELECT * FROM users LIMIT 500", 100, 'SELECT * FROM "main"."users" LIMIT 100', 100),
        ("SELECT * FROM users LIMIT 5 OFFSET 10", 100, 'SELECT * FROM "main"."users" LIMIT 5 OFFSET 10', 5),
        ("SELECT * FROM orders", 10, 'SELECT * FROM "main"."Orders" LIMIT 10', 10),
        ("SELECT * FROM shop.main.users -- note", 10, 'SELECT * FROM "main"."users" LIMIT 10', 10),
        ("/* hi */ SELECT 1", 10, "SELECT 1 LIMIT 10", 10),
        ("SELECT id FROM users UNION SELECT id FROM orders", 10, 'SELECT id FROM "main"."users" UNION SELECT id FROM "main"."Orders" LIMIT 10', 10),
        ("SELECT * FROM users LIMIT (SELECT 5)", 10, 'SELECT * FROM (SELECT * FROM "main"."users" LIMIT (SELECT 5)) AS parley_capped LIMIT 10', 10),
    ],
)  # fmt: skip
def test_accepted_statements_are_written_out_capped(
    sql: str, cap: int, out: str, row_cap: int
) -> None:
    guarded = guard(sql, scope=SQLITE, row_cap=cap)
    assert (guarded.sql, guarded.row_cap) == (out, row_cap)


def test_bindings_become_quoted_literals() -> None:
    guarded = guard(
        "SELECT * FROM users WHERE name = ? AND id > ?",
        scope=SQLITE,
        row_cap=5,
        bindings=["O'Brien", "3"],
    )
    assert (
        guarded.sql
        == "SELECT * FROM \"main\".\"users\" WHERE name = 'O''Brien' AND id > '3' LIMIT 5"
    )


def test_default_schema_decides_between_same_named_tables() -> None:
    assert (
        guard("SELECT * FROM users", scope=POSTGRES, row_cap=1).sql
        == 'SELECT * FROM "public"."users" LIMIT 1'
    )
    assert (
        guard("SELECT * FROM sales.users", scope=POSTGRES, row_cap=1).sql
        == 'SELECT * FROM "sales"."users" LIMIT 1'
    )
    assert guard("SELECT * FROM pg.sales.users", scope=POSTGRES, row_cap=1).tables == (
        TableName("sales", "users"),
    )
    with pytest.raises(QueryRejected) as caught:
        guard("SELECT * FROM other.users", scope=POSTGRES, row_cap=1)
    assert caught.value.detail == "table other.users is not in this project's catalog"


def test_limits_of_the_input() -> None:
    for sql, message in [
        ("", "the statement is empty"),
        ("SELECT 1" + " " * 100_000, "the statement is longer than 100000 characters"),
        ("SELECT '\x00'", "the statement contains a NUL character"),
        ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "the statement is nested too deeply"),
    ]:
        with pytest.raises(QueryRejected) as caught:
            guard(sql, scope=SQLITE, row_cap=1)
        assert caught.value.detail == message


def test_transpile() -> None:
    assert (
        transpile("SELECT * FROM c.s.t WHERE id = 1", read="trino", write="mysql")
        == "SELECT * FROM c.s.t WHERE id = 1"
    )
    assert (
        transpile("SELECT IF(a > 1, 'x', 'y') FROM t", read="trino", write="postgres")
        == "SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END FROM t"
    )
