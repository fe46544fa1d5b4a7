"""Names and text written into SQL by hand (DuckDB, SQLite and Trino statements Parley builds
itself, where no bind parameter can stand): a double-quoted identifier and a single-quoted
string literal, each with its quote character doubled."""

from __future__ import annotations


def quoted_name(name: str) -> str:
    """`name` as an identifier: `"a""b"` for `a"b`."""
    return '"' + name.replace('"', '""') + '"'


def string_literal(text: str) -> str:
    """`text` as a string literal: `'it''s'` for `it's`."""
    return "'" + text.replace("'", "''") + "'"
