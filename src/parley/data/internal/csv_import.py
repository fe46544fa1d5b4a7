"""CSV import into an internal table, in two passes over files on disk (never the whole file
in memory): `prepare` reads the uploaded file row by row, checks every value against its
column (errors name the line and the column) and writes the values as DuckDB will read them;
`insert` then adds them all in one transaction, or none."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from parley.data.internal.names import ColumnSpec
from parley.data.internal.values import normalize
from parley.data.sql_text import quoted_name, string_literal
from parley.errors import InvalidInput

MAX_ERRORS = 20  # errors listed in one answer
MAX_FIELD_CHARS = 10 * 1024 * 1024
# every value is written with this prefix, so that an empty value and a missing one differ
PRESENT = "v"


class ImportRefused(InvalidInput):
    """The file does not fit the table; `errors` names each line and column found."""

    def __init__(self, errors: list[str], more: bool = False) -> None:
        self.errors = errors
        head = "the CSV file does not fit the table, nothing was imported: "
        super().__init__(head + "; ".join(errors) + ("; …" if more else ""))


@dataclass(frozen=True)
class Mapping:
    column: str
    csv_name: str | None = None
    csv_index: int | None = None


@dataclass(frozen=True)
class ImportRequest:
    mappings: tuple[Mapping, ...]
    contains_header: bool


def parse_request(raw: Any) -> ImportRequest:
    """The `request` part of an import (already JSON-decoded)."""
    if not isinstance(raw, dict):
        raise InvalidInput("request must be a JSON object with mappings and containsHeader")
    header = raw.get("containsHeader", True)
    if not isinstance(header, bool):
        raise InvalidInput("request.containsHeader must be true or false")
    items = raw.get("mappings")
    if not isinstance(items, list) or not items:
        raise InvalidInput(
            "request.mappings must be a list of {name, csvColumnName|csvColumnIndex}"
        )
    mappings = []
    for i, item in enumerate(items):
        where = f"request.mappings[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidInput(f"{where} must be an object with a name")
        name, index = item.get("csvColumnName"), item.get("csvColumnIndex")
        if (name is None) == (index is None):
            raise InvalidInput(f"{where} must give one of csvColumnName and csvColumnIndex")
        if name is not None and not isinstance(name, str):
            raise InvalidInput(f"{where}.csvColumnName must be text")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise InvalidInput(f"{where}.csvColumnIndex must be a whole number")
        if index is not None and index < 0:
            raise InvalidInput(f"{where}.csvColumnIndex must be 0 or more")
        if name is not None and not header:
            raise InvalidInput(f"{where}: without a header row, map by csvColumnIndex")
        mappings.append(Mapping(item["name"], name, index))
    return ImportRequest(tuple(mappings), header)


def _targets(request: ImportRequest, specs: Sequence[ColumnSpec]) -> list[ColumnSpec]:
    by_name = {s.name.lower(): s for s in specs}
    targets = []
    for mapping in request.mappings:
        spec = by_name.get(mapping.column.lower())
        if spec is None:
            raise InvalidInput(f"the table has no column {mapping.column}")
        if spec in targets:
            raise InvalidInput(f"column {spec.name} is mapped twice")
        targets.append(spec)
    for spec in specs:
        if spec not in targets and spec.not_null and spec.default_value is None:
            raise InvalidInput(f"column {spec.name} is NOT NULL and has no default: map it")
    return targets


def _positions(request: ImportRequest, header: list[str] | None, width: int) -> list[int]:
    positions = []
    for mapping in request.mappings:
        if mapping.csv_name is not None:
            assert header is not None  # parse_request refuses names without a header
            if mapping.csv_name not in header:
                raise InvalidInput(f"the CSV header has no column {mapping.csv_name!r}")
            positions.append(header.index(mapping.csv_name))
        else:
            assert mapping.csv_index is not None
            if mapping.csv_index >= width:
                raise InvalidInput(
                    f"csvColumnIndex {mapping.csv_index} is past the file's {width} columns"
                )
            positions.append(mapping.csv_index)
    return positions


def prepare(
    source: Path, dest: Path, request: ImportRequest, specs: Sequence[ColumnSpec]
) -> tuple[list[ColumnSpec], int]:
    """Check `source` row by row and write its mapped values to `dest`; the columns written
    (in order) and the number of rows. Empty values are NULL (a column's default where it
    has one)."""
    targets = _targets(request, specs)
    errors: list[str] = []
    more = False
    rows = 0
    csv.field_size_limit(MAX_FIELD_CHARS)
    seen: dict[str, dict[str, int]] = {s.name: {} for s in targets if s.unique}
    try:
        with (
            source.open(encoding="utf-8-sig", newline="") as raw,
            dest.open("w", encoding="utf-8", newline="") as out,
        ):
            reader = csv.reader(raw, strict=True)
            writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            header: list[str] | None = None
            width: int | None = None
            positions: list[int] = []
            line = 1
            for record in _records(reader, errors):
                start, fields = record
                line = start
                if not fields or fields == [""]:
                    continue  # a blank line
                if width is None:
                    width = len(fields)
                    if request.contains_header:
                        header = [f.strip() for f in fields]
                        positions = _positions(request, header, width)
                        continue
                    positions = _positions(request, None, width)
                if len(fields) != width:
                    errors.append(f"line {line}: {len(fields)} fields, expected {width}")
                else:
                    values = _values(fields, positions, targets, line, errors, seen)
                    if values is not None:
                        writer.writerow(values)
                        rows += 1
                if len(errors) >= MAX_ERRORS:
                    more = True
                    break
    except UnicodeDecodeError as err:
        errors.append(f"after line {line}: the file is not UTF-8 text ({err.reason})")
    if errors:
        raise ImportRefused(errors, more)
    return targets, rows


def _records(reader: Any, errors: list[str]) -> Any:
    """(first line, fields) of each record; a malformed one ends the file with its error."""
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            errors.append(f"line {reader.line_num}: malformed CSV ({err})")
            return
        yield start, fields
        start = reader.line_num + 1


def _values(
    fields: list[str],
    positions: list[int],
    targets: list[ColumnSpec],
    line: int,
    errors: list[str],
    seen: dict[str, dict[str, int]],
) -> list[str] | None:
    values = []
    failed = False
    for position, spec in zip(positions, targets, strict=True):
        text = fields[position]
        if text == "":
            if spec.not_null and spec.default_value is None:
                errors.append(f"line {line}, column {spec.name}: a value is required")
                failed = True
            values.append("")
            continue
        try:
            value = normalize(spec.data_type, text)
        except ValueError as err:
            errors.append(f"line {line}, column {spec.name}: {err}")
            failed = True
            continue
        if spec.name in seen:
            first = seen[spec.name].setdefault(value, line)
            if first != line:
                errors.append(
                    f"line {line}, column {spec.name}: {text!r} is on line {first} too, and "
                    "the column is unique"
                )
                failed = True
        values.append(PRESENT + value)
    return None if failed else values


def insert(
    con: duckdb.DuckDBPyConnection, target: str, prepared: Path, columns: Sequence[ColumnSpec]
) -> None:
    """Add the prepared rows to `target` (schema.table, quoted); the caller holds the
    transaction."""
    names = {f"c{i}": "VARCHAR" for i in range(len(columns))}
    described = ", ".join(f"{string_literal(k)}: {string_literal(v)}" for k, v in names.items())
    values = []
    for i, spec in enumerate(columns):
        text = f"CASE WHEN c{i} IS NULL OR c{i} = '' THEN NULL ELSE substr(c{i}, 2) END"
        value = f"CAST({text} AS {spec.duck_type})"
        if spec.default_value is not None:
            default = normalize(spec.data_type, spec.default_value)
            value = f"COALESCE({value}, CAST({string_literal(default)} AS {spec.duck_type}))"
        values.append(value)
    into = ", ".join(quoted_name(s.name) for s in columns)
    con.execute(
        f"INSERT INTO {target} ({into}) SELECT {', '.join(values)} FROM read_csv("
        f"{string_literal(str(prepared))}, header = false, all_varchar = true, "
        f"columns = {{{described}}}, delim = ',', quote = '\"', escape = '\"', "
        "strict_mode = true, auto_detect = false)"
    )


def sample_csv(specs: Sequence[ColumnSpec], rows: int = 3) -> str:
    """A header and `rows` rows of example values of each column's type."""
    from parley.data.internal.values import SAMPLES

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([s.name for s in specs])
    for i in range(rows if specs else 0):
        writer.writerow([SAMPLES[s.data_type][i % 3] for s in specs])
    return out.getvalue()
