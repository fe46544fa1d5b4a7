"""The pure parts of internal-table imports: values checked against each Peaka type, the
import request read, and a CSV file checked row by row (`prepare`), without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.data.internal.csv_import import (
    ImportRefused,
    parse_request,
    prepare,
    sample_csv,
)
from parley.data.internal.names import ColumnSpec, Flavour, check_name, check_type
from parley.data.internal.values import normalize
from parley.errors import InvalidInput


@pytest.mark.parametrize(
    ("data_type", "text", "stored"),
    [
        ("VARCHAR", " keep spaces ", " keep spaces "),
        ("BIGINT", " +42 ", "42"),
        ("BIGINT", "-9223372036854775808", "-9223372036854775808"),
        ("DECIMAL", "1e2", "100.0000000000"),
        ("DECIMAL", "-.5", "-0.5000000000"),
        ("BOOLEAN", "Yes", "true"),
        ("BOOLEAN", "0", "false"),
        ("DATE", "2024-02-29", "2024-02-29"),
        ("TIME", "10:11", "10:11:00"),
        ("TIMESTAMP", "2024-01-02T03:04:05+02:00", "2024-01-02 01:04:05"),
        ("UUID", "0B7E2C4A7D7C4E0B9A551F2D3C4B5A69", "0b7e2c4a-7d7c-4e0b-9a55-1f2d3c4b5a69"),
        ("JSON", '{"a": [1, 2]}', '{"a": [1, 2]}'),
    ],
)
def test_values_are_written_as_duckdb_casts_them(data_type: str, text: str, stored: str) -> None:
    assert normalize(data_type, text) == stored


@pytest.mark.parametrize(
    ("data_type", "text", "message"),
    [
        ("BIGINT", "1.5", "is not a whole number"),
        ("BIGINT", "1_000", "is not a whole number"),
        ("BIGINT", "9223372036854775808", "out of the BIGINT range"),
        ("DECIMAL", "NaN", "is not a number"),
        ("DECIMAL", "1" * 29, "more than 28 digits"),
        ("BOOLEAN", "maybe", "is not a boolean"),
        ("DATE", "2023-02-29", "is not a date"),
        ("TIME", "25:00", "is not a time"),
        ("TIME", "10:00+01:00", "holds no time zone"),
        ("TIMESTAMP", "yesterday", "is not a timestamp"),
        ("UUID", "not-a-uuid", "is not a UUID"),
        ("JSON", "{nope", "is not JSON"),
    ],
)
def test_values_that_do_not_fit_say_why(data_type: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize(data_type, text)


def test_names_and_types() -> None:
    assert check_name("select", "table name") == "select"
    assert check_name("A" + "b" * 62, "table name") == "A" + "b" * 62
    for bad in ("", "a" * 64, "../x", "a/b", 'a"b', "a-b", "_x", "9a", "a\x00", "a\n"):
        with pytest.raises(InvalidInput, match="not a valid name"):
            check_name(bad, "table name")
    assert check_type(Flavour.TABLE, "json") == "JSON"
    with pytest.raises(InvalidInput, match="a Peaka BI Table"):
        check_type(Flavour.BITABLE, "JSON")


def test_the_request_part_is_read_strictly() -> None:
    parsed = parse_request({"mappings": [{"name": "a", "csvColumnIndex": 0}]})
    assert parsed.contains_header is True
    assert parsed.mappings[0].csv_index == 0
    for raw, message in [
        ([], "JSON object"),
        ({"mappings": [{"name": "a", "csvColumnIndex": True}]}, "whole number"),
        ({"mappings": [{"name": "a", "csvColumnName": 3}]}, "must be text"),
        ({"mappings": [{"name": "a", "csvColumnIndex": 0}], "containsHeader": "yes"}, "true or"),
        ({"mappings": [{"csvColumnIndex": 0}]}, "with a name"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            parse_request(raw)


SPECS = [
    ColumnSpec("id", "BIGINT", not_null=True, unique=True),
    ColumnSpec("note", "VARCHAR"),
    ColumnSpec("n", "BIGINT", default_value="7"),
]


def test_prepare_writes_each_value_marked(tmp_path: Path) -> None:
    source, dest = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text('\ufeffid,note,n\r\n1,"a ""quoted"", note",\r\n\r\n2,,3\r\n')
    request = parse_request(
        {"mappings": [{"name": n, "csvColumnName": n} for n in ("id", "note", "n")]}
    )
    columns, rows = prepare(source, dest, request, SPECS)
    assert rows == 2
    assert [c.name for c in columns] == ["id", "note", "n"]
    assert dest.read_text() == '"v1","va ""quoted"", note",""\n"v2","","v3"\n'


def test_prepare_lists_errors_by_line_and_column(tmp_path: Path) -> None:
    source, dest = tmp_path / "in.csv", tmp_path / "out.csv"
    # the record on lines 3-4 holds a new line; the next record starts on line 5
    source.write_text('id,note\n1,x\n2,"two\nlines"\nthree,y\n2,z\n4\n')
    request = parse_request({"mappings": [{"name": "id", "csvColumnName": "id"}]})
    with pytest.raises(ImportRefused) as raised:
        prepare(source, dest, request, SPECS)
    assert raised.value.errors == [
        "line 5, column id: 'three' is not a whole number (BIGINT)",
        "line 6, column id: '2' is on line 3 too, and the column is unique",
        "line 7: 1 fields, expected 2",
    ]


def test_prepare_stops_listing_after_twenty_errors(tmp_path: Path) -> None:
    source, dest = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("id\n" + "x\n" * 50)
    request = parse_request({"mappings": [{"name": "id", "csvColumnIndex": 0}]})
    with pytest.raises(ImportRefused) as raised:
        prepare(source, dest, request, SPECS)
    assert len(raised.value.errors) == 20
    assert raised.value.detail.endswith("; …")


def test_the_sample_has_a_header_and_three_rows() -> None:
    text = sample_csv([ColumnSpec("text", "VARCHAR"), ColumnSpec("num", "BIGINT")])
    assert text == "text,num\nsample text,1176\nanother text,9354\nmore text,7658\n"
    assert sample_csv([]) == "\n"
