"""Source types as Trino types, and cells as Trino writes them on the wire (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from parley.trino.types import TrinoType, refine, trino_type, writer


@pytest.mark.parametrize(
    ("source", "dialect", "name"),
    [
        ("integer", "sqlite", "bigint"),  # SQLite's integers are 64-bit
        ("varchar(20)", "sqlite", "varchar"),
        ("real", "sqlite", "double"),
        ("blob", "sqlite", "varbinary"),
        ("datetime", "sqlite", "varchar"),  # SQLite keeps dates as text
        ("bigint", "sqlite", "bigint"),  # the names results are typed with, from their values
        ("unknown", "sqlite", "unknown"),
        ("integer", "postgres", "integer"),
        ("numeric(10,2)", "postgres", "decimal(10,2)"),
        ("character varying", "postgres", "varchar"),
        ("timestamp with time zone", "postgres", "timestamp with time zone"),
        ("jsonb", "postgres", "json"),
        ("bytea", "postgres", "varbinary"),
        ("double precision", "postgres", "double"),
        ("decimal(10,2)", "duckdb", "decimal(10,2)"),
        ("hugeint", "duckdb", "decimal(38,0)"),
        ("timestamp", "duckdb", "timestamp"),
        ("integer[]", "duckdb", "varchar"),
        ("struct(a integer)", "duckdb", "varchar"),
    ],
)
def test_source_types_map_to_trino_types(source: str, dialect: str, name: str) -> None:
    assert trino_type(source, dialect).name == name


def test_parameters_the_source_did_not_give_come_from_the_values() -> None:
    assert refine(TrinoType("decimal"), ["1234.5", "-0.125", None]).name == "decimal(7,3)"
    assert refine(TrinoType("decimal"), [None]).name == "decimal(1,0)"
    assert refine(TrinoType("timestamp"), ["2024-02-29T13:45:01.250000"]).name == "timestamp(3)"
    assert refine(TrinoType("timestamp"), ["2024-02-29T13:45:01.000001"]).name == "timestamp(6)"
    zoned = refine(TrinoType("timestamp with time zone"), ["2024-01-01T00:00:00+00:00"])
    assert zoned.name == "timestamp(3) with time zone"
    assert refine(TrinoType("decimal", (10, 2)), ["1.5"]).name == "decimal(10,2)"


@pytest.mark.parametrize(
    ("kind", "value", "wire"),
    [
        (TrinoType("timestamp", (3,)), "2024-02-29T13:45:01.25", "2024-02-29 13:45:01.250"),
        (TrinoType("timestamp", (3,)), "2024-02-29T13:45:01", "2024-02-29 13:45:01.000"),
        (TrinoType("timestamp", (6,)), "2024-02-29T13:45:01.000001", "2024-02-29 13:45:01.000001"),
        (TrinoType("timestamp with time zone", (3,)), "2024-02-29T11:45:01.5+00:00",
         "2024-02-29 11:45:01.500 +00:00"),
        (TrinoType("timestamp with time zone", (3,)), "2024-02-29T11:45:01Z",
         "2024-02-29 11:45:01.000 +00:00"),
        (TrinoType("timestamp with time zone", (3,)), "2024-02-29T11:45:01+05:30",
         "2024-02-29 11:45:01.000 +05:30"),
        (TrinoType("time", (3,)), "13:45:01.5", "13:45:01.500"),
        (TrinoType("decimal", (10, 2)), "12.25", "12.25"),
        (TrinoType("decimal", (10, 0)), 12, "12"),
        (trino_type("varchar"), [1, "ü"], '[1,"ü"]'),
        (trino_type("varchar"), True, "true"),
        (trino_type("json"), {"a": 1}, '{"a":1}'),
        (trino_type("json"), '{"a": 1}', '{"a": 1}'),
        (trino_type("bigint"), "9007199254740993", "9007199254740993"),
        (trino_type("varchar"), None, None),
    ],
)  # fmt: skip
def test_cells_are_written_as_trino_writes_them(kind: TrinoType, value: Any, wire: Any) -> None:
    assert writer(kind)(value) == wire


def test_type_signatures() -> None:
    assert trino_type("varchar").signature() == {
        "rawType": "varchar",
        "arguments": [{"kind": "LONG", "value": 2147483647}],
    }
    assert TrinoType("decimal", (10, 2)).signature() == {
        "rawType": "decimal",
        "arguments": [{"kind": "LONG", "value": 10}, {"kind": "LONG", "value": 2}],
    }
