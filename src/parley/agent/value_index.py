"""The value index: which column holds a word the user typed ("customers in Bavaria" -> the
`region` column of `customers`), so generated SQL filters the right column with the exact
stored spelling.

Indexed: text columns with at most `MAX_DISTINCT` distinct values (the stored categorical
values, else the column's values read once through the guard). An index is built per catalog on
first use and kept in memory until the catalog is refreshed (its `refreshed_at` changes).
Matching is on whole words, case- and accent-insensitive, with a trailing plural `s` ignored;
longer values win over the shorter ones they contain.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parley.data.catalog import CATEGORICAL_LIMIT
from parley.data.connections import DataServices, open_connector
from parley.data.connectors.results import MARKER
from parley.data.execute import ProjectCatalog, run_on
from parley.data.sql_guard import TableName, quoted_column, quoted_table

MAX_DISTINCT = 2000  # a text column with more distinct values is not indexed
VALUE_BYTES = 256  # a longer value is cut by the connector, and not indexed
MAX_VALUE_WORDS = 6
MAX_MATCHES = 20
TEXT_TYPES = ("char", "text", "string", "clob", "enum", "name")
_WORD = re.compile(r"\w+")
_STOPWORDS = """a an and are as at be by for from has have i in is it of on or our the to was were
with my me we you your all any no not yes none null other unknown"""
_STOP = frozenset(_STOPWORDS.split())


@dataclass(frozen=True)
class ColumnRef:
    catalog: str
    schema: str
    table: str
    column: str


@dataclass(frozen=True)
class ValueMatch:
    ref: ColumnRef
    value: str

    def to_json(self) -> dict[str, str]:
        return {
            "catalogName": self.ref.catalog,
            "schemaName": self.ref.schema,
            "tableName": self.ref.table,
            "columnName": self.ref.column,
            "value": self.value,
        }


@dataclass(frozen=True)
class ColumnStats:
    """What decides whether a column is indexed, from the stored catalog."""

    ref: ColumnRef
    data_type: str
    distinct: float | None  # distinct count estimate (fraction x rows)
    categorical: list[Any] | None
    key: bool


def words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return [_singular(w) for w in _WORD.findall(plain)]


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


class ValueIndex:
    def __init__(self, entries: Iterable[tuple[ColumnRef, str]]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], ValueMatch]]] = {}
        for ref, value in entries:
            key = tuple(words(value))
            if not key or len(key) > MAX_VALUE_WORDS or all(w in _STOP or w.isdigit() for w in key):
                continue
            if len(key) == 1 and len(key[0]) < 3:
                continue
            self._by_first.setdefault(key[0], []).append((key, ValueMatch(ref, value)))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_first.values())

    def match(self, text: str) -> list[ValueMatch]:
        tokens = words(text)
        found: list[tuple[int, int, ValueMatch]] = []  # (start, length, match)
        for start, token in enumerate(tokens):
            for key, match in self._by_first.get(token, ()):
                if tuple(tokens[start : start + len(key)]) == key:
                    found.append((start, len(key), match))
        # a value inside a longer matched value ("York" inside "New York") is dropped
        spans = [(s, s + n) for s, n, _ in found]
        kept = [
            m
            for s, n, m in sorted(found, key=lambda f: (-f[1], f[0]))
            if not any(a <= s and s + n <= b and (b - a) > n for a, b in spans)
        ]
        return list(dict.fromkeys(kept))[:MAX_MATCHES]


def indexable(column: ColumnStats) -> bool:
    if column.key or not any(t in column.data_type.lower() for t in TEXT_TYPES):
        return False
    if column.categorical:
        return True
    return column.distinct is not None and column.distinct <= MAX_DISTINCT


class ValueIndexCache:
    """One index per catalog, rebuilt when the catalog's refresh time changes."""

    def __init__(self, services: DataServices) -> None:
        self._services = services
        self._indexes: dict[str, tuple[datetime | None, ValueIndex]] = {}
        self._lock = asyncio.Lock()

    async def index_for(
        self, catalog: ProjectCatalog, stamp: datetime | None, columns: list[ColumnStats]
    ) -> ValueIndex:
        cached = self._indexes.get(catalog.catalog.id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        async with self._lock:
            cached = self._indexes.get(catalog.catalog.id)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            index = ValueIndex(await self._values(catalog, columns))
            self._indexes[catalog.catalog.id] = (stamp, index)
            return index

    async def _values(
        self, catalog: ProjectCatalog, columns: list[ColumnStats]
    ) -> list[tuple[ColumnRef, str]]:
        entries: list[tuple[ColumnRef, str]] = []
        connector = None
        for column in columns:
            if not indexable(column):
                continue
            values = column.categorical
            if not values or len(values) >= CATEGORICAL_LIMIT:
                # stored categorical values are bounded; read the column's own values
                if connector is None:
                    connector = await open_connector(self._services, catalog.connection)
                values = await self._distinct(catalog, connector, column.ref)
            entries += [(column.ref, v) for v in values if isinstance(v, str)]
        return entries

    async def _distinct(self, catalog: ProjectCatalog, connector: Any, ref: ColumnRef) -> list[Any]:
        scope = catalog.scope
        col = quoted_column(ref.column, scope.dialect)
        table = quoted_table(TableName(ref.schema, ref.table), scope.dialect)
        sql = f"SELECT DISTINCT {col} FROM {table} WHERE {col} IS NOT NULL"
        _, result = await run_on(
            self._services, connector, scope, sql, limit=MAX_DISTINCT, max_cell_bytes=VALUE_BYTES
        )
        return [row[0] for row in result.rows if not str(row[0]).endswith(MARKER)]
