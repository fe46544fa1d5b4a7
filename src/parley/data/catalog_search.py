"""Search across a project's catalogs, schemas and tables (its own, its semantic catalogs, and
those shared with it) by words in names and descriptions, and by meaning, ranked.

A thing matches when the search text (case-insensitive) is its name, starts it, is inside it,
or when every word of it is in the name; then when the text or all its words are in its
description; a table also matches through its columns' names and descriptions. The rank is in
that order (`SCORES`), then by name. Last come the tables that match no word but mean what the
text means (`related`: the embedding of the text against each table's, the one the data agent
picks tables with), closest first."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data import metadata
from parley.data.connections import DataServices
from parley.data.projects import get_project
from parley.errors import InvalidInput
from parley.store.data_models import (
    CatalogShare,
    DataCatalog,
    DataColumn,
    DataTable,
    ParametricTable,
    SemanticCatalog,
    SemanticTable,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
SCORES = {
    "name": 100,
    "name_prefix": 80,
    "name_contains": 60,
    "name_words": 40,
    "description": 20,
    "column": 10,
    "meaning": 5,
}
# A table is related to the text when its similarity is at least RELATED_FLOOR and within
# RELATED_MARGIN of the closest table's: the bundled model's similarities of unrelated short
# texts reach 0.3, so a fixed cut alone either misses or floods; "clients" finds `customers`
# (0.33, the next table 0.12), "weather forecast" nothing (all below 0)
RELATED_FLOOR = 0.2
RELATED_MARGIN = 0.05
TableKey = tuple[str, str, str]


@dataclass
class Candidate:
    catalog: str
    schema: str | None = None
    table: str | None = None
    descriptions: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # names and descriptions

    @property
    def name(self) -> str:
        return self.table or self.schema or self.catalog

    def key(self) -> tuple[str, str, str]:
        return (self.catalog, self.schema or "", self.table or "")

    def out(self) -> dict[str, Any]:
        found: dict[str, Any] = {"catalog": self.catalog}
        if self.schema is not None:
            found["schema"] = self.schema
        if self.table is not None:
            found["table"] = self.table
        return found


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _has(text: str, query: str, words: list[str]) -> bool:
    folded = text.casefold()
    return query in folded or (bool(words) and all(w in folded for w in words))


def related(similarity: Mapping[TableKey, float]) -> dict[TableKey, float]:
    """The tables (of `similarity`: key to cosine similarity with the search text) close enough
    to the text to be shown; see RELATED_FLOOR."""
    if not similarity:
        return {}
    cut = max(RELATED_FLOOR, max(similarity.values()) - RELATED_MARGIN)
    return {key: value for key, value in similarity.items() if value >= cut}


def score(candidate: Candidate, query: str, close: Mapping[TableKey, float] | None = None) -> int:
    """How well `candidate` matches `query` (lower-case), by words or (`close`: the related
    tables) by meaning; 0 when it does not."""
    name = candidate.name.casefold()
    words = _words(query)
    if name == query:
        return SCORES["name"]
    if name.startswith(query):
        return SCORES["name_prefix"]
    if query in name:
        return SCORES["name_contains"]
    if words and all(w in name for w in words):
        return SCORES["name_words"]
    if any(_has(d, query, words) for d in candidate.descriptions if d):
        return SCORES["description"]
    if any(_has(c, query, words) for c in candidate.columns if c):
        return SCORES["column"]
    if close and candidate.key() in close:
        return SCORES["meaning"]
    return 0


def rank(
    candidates: Iterable[Candidate], query: str, close: Mapping[TableKey, float] | None = None
) -> list[Candidate]:
    """Matches by score, then (by meaning) closest first, then by name."""
    close = close or {}
    scored = [(score(c, query, close), c) for c in candidates]
    kept = [(s, c) for s, c in scored if s > 0]
    kept.sort(
        key=lambda pair: (
            -pair[0],
            -close.get(pair[1].key(), 0.0) if pair[0] == SCORES["meaning"] else 0.0,
            *(part.casefold() for part in pair[1].key()),
        )
    )
    return [c for _, c in kept]


def search_text(query: str | None, limit: int | None, offset: int | None) -> str:
    """The request's text, once the request is known to be good (else InvalidInput)."""
    text = (query or "").strip()
    if not text:
        raise InvalidInput("query is required")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    if offset is not None and offset < 0:
        raise InvalidInput("offset must be 0 or more")
    return text


async def similar_tables(
    services: DataServices, *, project_id: str, text: str
) -> dict[TableKey, float]:
    """Each of the project's data tables the agent may use (useWithAI), with the similarity of
    its description (names, columns) to `text`."""
    found = await metadata.search_tables(
        services, project_id=project_id, query=text, top_k=metadata.MAX_TOP_K
    )
    return {(t["catalogName"], t["schemaName"], t["tableName"]): t["score"] for t in found}


async def _candidates(
    db: AsyncSession, project_id: str
) -> tuple[list[Candidate], list[Candidate], list[Candidate]]:
    shared_data = select(CatalogShare.catalog_id).where(
        CatalogShare.target_project_id == project_id
    )
    shared_semantic = select(CatalogShare.semantic_catalog_id).where(
        CatalogShare.target_project_id == project_id
    )
    data = list(
        await db.scalars(
            select(DataCatalog).where(
                or_(DataCatalog.project_id == project_id, DataCatalog.id.in_(shared_data))
            )
        )
    )
    semantic = list(
        await db.scalars(
            select(SemanticCatalog).where(
                or_(
                    SemanticCatalog.project_id == project_id,
                    SemanticCatalog.id.in_(shared_semantic),
                )
            )
        )
    )
    everything: list[DataCatalog | SemanticCatalog] = [*data, *semantic]
    names = {c.id: c.name for c in everything}
    catalogs = [Candidate(c.name, descriptions=[c.display_name]) for c in everything]
    tables: dict[tuple[str, str, str], Candidate] = {}
    data_ids = [c.id for c in data]
    rows = await db.scalars(select(DataTable).where(DataTable.catalog_id.in_(data_ids)))
    by_id: dict[int, Candidate] = {}
    for t in rows:
        found = Candidate(names[t.catalog_id], t.schema_name, t.table_name, [t.description or ""])
        tables[found.key()] = by_id[t.id] = found
    columns = await db.execute(
        select(DataColumn.table_id, DataColumn.name, DataColumn.description).where(
            DataColumn.table_id.in_(list(by_id))
        )
    )
    for table_id, name, description in columns:
        by_id[table_id].columns.extend([name, description or ""])
    for s in await db.scalars(
        select(SemanticTable).where(SemanticTable.catalog_id.in_([c.id for c in semantic]))
    ):
        found = Candidate(names[s.catalog_id], s.schema_name, s.table_name, [s.description or ""])
        found.columns = [str(c[0]) for c in s.columns]
        tables[found.key()] = found
    for p in await db.scalars(
        select(ParametricTable).where(ParametricTable.catalog_id.in_(data_ids))
    ):
        source = tables.get((names[p.catalog_id], p.from_schema, p.from_table))
        found = Candidate(names[p.catalog_id], p.to_schema, p.to_table)
        found.columns = list(source.columns) if source else []
        tables[found.key()] = found
    schemas = {
        (t.catalog, t.schema): Candidate(t.catalog, t.schema)
        for t in tables.values()
        if t.schema is not None
    }
    return catalogs, list(schemas.values()), list(tables.values())


def _page(found: list[Candidate], limit: int, offset: int) -> list[dict[str, Any]]:
    return [c.out() for c in found[offset : offset + limit]]


async def search(
    *,
    db: AsyncSession,
    project_id: str,
    query: str | None,
    catalog: str | None,
    schema: str | None,
    limit: int | None,
    offset: int | None,
    similarity: Mapping[TableKey, float] | None = None,
) -> dict[str, Any]:
    """`similarity`: `similar_tables`' answer, for matches by meaning (None: words only)."""
    await get_project(db=db, project_id=project_id)
    text = search_text(query, limit, offset)
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = 0 if offset is None else offset
    catalogs, schemas, tables = await _candidates(db, project_id)

    def within(c: Candidate) -> bool:
        if catalog is not None and c.catalog.casefold() != catalog.casefold():
            return False
        return schema is None or c.schema is None or c.schema.casefold() == schema.casefold()

    folded = text.casefold()
    close = related(similarity or {})
    ranked = [
        rank([c for c in catalogs if within(c)] if schema is None else [], folded),
        rank([c for c in schemas if within(c)], folded),
        rank([c for c in tables if within(c)], folded, close),
    ]
    more = any(len(found) > offset + limit for found in ranked)
    return {
        "matchedCatalogs": _page(ranked[0], limit, offset),
        "matchedSchemas": _page(ranked[1], limit, offset),
        "matchedTables": _page(ranked[2], limit, offset),
        "meta": {
            "page": {
                "limit": limit,
                "offset": offset,
                "nextOffset": offset + limit if more else None,
            },
            "query": {"text": text},
        },
    }
