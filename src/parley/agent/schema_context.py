"""What the agent is shown about the data: the tables that matter for the question, with their
columns, descriptions, known values and relations, and golden SQLs like it.

Small projects are shown whole (every table flagged useWithAI, up to `ALL_TABLES`). Larger ones
are narrowed to the tables nearest the question by semantic search over their metadata, plus
the tables holding values the question names (the value index), the tables used by the nearest
golden SQLs, and tables one relation away from those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select

from parley.agent.value_index import ColumnRef, ColumnStats, ValueIndexCache, ValueMatch
from parley.data.connections import DataServices
from parley.data.execute import ProjectCatalog, load_catalogs
from parley.data.metadata import search_golden_sqls, search_tables
from parley.data.projects import get_project
from parley.data.semantic_catalogs import semantic_views
from parley.data.sql_guard import CatalogScope, QueryRejected, TableName, catalog_names_used
from parley.data.table_view import TableView
from parley.store.data_models import DataCatalog, DataColumn, DataRelation, DataTable

ALL_TABLES = 12  # projects with at most this many tables are shown whole
SEARCHED_TABLES = 6
MAX_TABLES = 15
GOLDEN_SQLS = 3
SHOWN_VALUES = 15
SHOWN_SAMPLES = 3


@dataclass
class SchemaContext:
    catalogs: list[ProjectCatalog]
    tables: list[TableView]
    all_tables: list[TableView]
    golden: list[dict[str, str]] = field(default_factory=list)
    golden_ids: list[str] = field(default_factory=list)  # the golden SQLs' ids, in order
    values: list[ValueMatch] = field(default_factory=list)

    @property
    def qualify_catalog(self) -> bool:
        return len(self.catalogs) > 1

    def _scope(self, catalog_id: str) -> CatalogScope | None:
        for c in self.catalogs:
            if c.catalog.id == catalog_id:
                return c.scope
        return None

    def dialect_of(self, catalog_id: str) -> str:
        scope = self._scope(catalog_id)
        return scope.dialect if scope else "sql"

    def name_of(self, view: TableView) -> str:
        """How generated SQL should name the table."""
        parts = [view.table.schema_name, view.table.table_name]
        scope = self._scope(view.catalog.id)
        if self.qualify_catalog or scope is None:  # no scope: a semantic catalog's table
            parts.insert(0, view.catalog.name)
        elif scope is not None and view.table.schema_name == scope.default_schema:
            parts = parts[1:]
        return ".".join(parts)

    def table_names(self) -> list[str]:
        return [f"{v.catalog.name}.{v.table.schema_name}.{v.table.table_name}" for v in self.tables]

    def metadata(self) -> list[dict[str, Any]]:
        return [
            {
                "catalogName": v.catalog.name,
                "schemaName": v.table.schema_name,
                "tableName": v.table.table_name,
                "description": v.table.description,
                "columns": [
                    {"name": c.name, "dataType": c.data_type, "description": c.description}
                    for c in v.columns
                ],
            }
            for v in self.tables
        ]

    def catalog_list(self) -> list[dict[str, Any]]:
        by_catalog: dict[str, list[str]] = {}
        for v in self.all_tables:
            by_catalog.setdefault(v.catalog.id, []).append(
                f"{v.table.schema_name}.{v.table.table_name}"
            )
        known = {c.catalog.id for c in self.catalogs}
        semantic = {v.catalog.id: v.catalog for v in self.all_tables if v.catalog.id not in known}
        return [
            {
                "catalogId": c.catalog.id,
                "catalogName": c.catalog.name,
                "dialect": c.scope.dialect,
                "tables": by_catalog.get(c.catalog.id, []),
            }
            for c in self.catalogs
        ] + [
            {
                "catalogId": c.id,
                "catalogName": c.name,
                "dialect": "semantic",
                "tables": by_catalog.get(c.id, []),
            }
            for c in semantic.values()
        ]

    def render(self) -> str:
        """The schema as the model reads it."""
        blocks = []
        names = {v.key: self.name_of(v) for v in self.all_tables}
        for view in self.tables:
            dialect = self.dialect_of(view.catalog.id)
            head = f"TABLE {names[view.key]}"
            if self.qualify_catalog:
                head += f" (catalog {view.catalog.name}, {dialect} SQL)"
            if view.table.row_count is not None:
                head += f" -- {view.table.row_count} rows"
            lines = [head]
            if view.table.description:
                lines.append(f"  about: {view.table.description}")
            for column in view.columns:
                lines.append("  " + _column_line(column))
            for rel in view.relations:
                target = names.get(
                    (rel.target_catalog_id, rel.target_schema_name, rel.target_table_name),
                    f"{rel.target_schema_name}.{rel.target_table_name}",
                )
                lines.append(f"  {rel.column_name} references {target}.{rel.target_column_name}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def render_values(self) -> str:
        lines = []
        for match in self.values:
            ref = match.ref
            table = self._view_name(ref)
            lines.append(f"- {match.value!r} is a value of {table}.{ref.column}")
        return "\n".join(lines)

    def _view_name(self, ref: ColumnRef) -> str:
        for view in self.all_tables:
            if (view.catalog.name, view.table.schema_name, view.table.table_name) == (
                ref.catalog,
                ref.schema,
                ref.table,
            ):
                return self.name_of(view)
        return f"{ref.schema}.{ref.table}"


def _column_line(column: DataColumn) -> str:
    text = f"{column.name} {column.data_type}"
    flags = [
        label
        for label, on in (("primary key", column.is_primary), ("not null", column.is_not_null))
        if on
    ]
    if flags:
        text += " " + ", ".join(flags)
    if column.description:
        text += f" -- {column.description}"
    if column.categorical_values:
        shown = [repr(v) for v in column.categorical_values[:SHOWN_VALUES]]
        more = len(column.categorical_values) > SHOWN_VALUES
        text += f"; values: {', '.join(shown)}{', ...' if more else ''}"
    elif column.sample_values:
        text += f"; e.g. {', '.join(repr(v) for v in column.sample_values[:SHOWN_SAMPLES])}"
    return text


async def load_views(
    services: DataServices, project_id: str
) -> tuple[list[ProjectCatalog], list[TableView], dict[str, datetime | None]]:
    """The project's catalogs and useWithAI tables with their columns and relations, in a few
    statements (not one per table)."""
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
        catalogs = await load_catalogs(db=db, project_id=project_id)
        rows = list(
            await db.scalars(
                select(DataCatalog)
                .where(DataCatalog.project_id == project_id)
                .order_by(DataCatalog.created_at, DataCatalog.id)
            )
        )
        tables = list(
            await db.scalars(
                select(DataTable)
                .where(DataTable.project_id == project_id, DataTable.use_with_ai.is_(True))
                .order_by(DataTable.schema_name, DataTable.table_name)
            )
        )
        columns = await db.scalars(
            select(DataColumn)
            .join(DataTable, DataTable.id == DataColumn.table_id)
            .where(DataTable.project_id == project_id, DataTable.use_with_ai.is_(True))
            .order_by(DataColumn.table_id, DataColumn.position)
        )
        relations = list(
            await db.scalars(select(DataRelation).where(DataRelation.project_id == project_id))
        )
        semantic = await semantic_views(db=db, project_id=project_id)
    by_table: dict[int, list[DataColumn]] = {}
    for column in columns:
        by_table.setdefault(column.table_id, []).append(column)
    by_catalog = {c.id: c for c in rows}
    order = {c.id: i for i, c in enumerate(rows)}
    views = [
        TableView(
            by_catalog[t.catalog_id],
            t,
            by_table.get(t.id, []),
            [
                r
                for r in relations
                if (r.catalog_id, r.schema_name, r.table_name)
                == (t.catalog_id, t.schema_name, t.table_name)
            ],
        )
        for t in tables
        if t.catalog_id in by_catalog
    ]
    views.sort(key=lambda v: order[v.catalog.id])
    views += semantic
    return catalogs, views, {c.id: c.refreshed_at for c in rows}


async def build_context(
    services: DataServices,
    values: ValueIndexCache,
    *,
    project_id: str,
    question: str,
    vector: np.ndarray | None = None,  # the question, already embedded
) -> SchemaContext:
    catalogs, views, stamps = await load_views(services, project_id)
    matches: list[ValueMatch] = []
    for catalog in catalogs:
        stats = [
            ColumnStats(
                ref=ColumnRef(v.catalog.name, v.table.schema_name, v.table.table_name, c.name),
                data_type=c.data_type,
                distinct=(
                    c.distinct_fraction * v.table.row_count
                    if c.distinct_fraction is not None and v.table.row_count is not None
                    else None
                ),
                categorical=c.categorical_values,
                key=c.is_primary or c.is_unique,
            )
            for v in views
            if v.catalog.id == catalog.catalog.id
            for c in v.columns
        ]
        index = await values.index_for(catalog, stamps.get(catalog.catalog.id), stats)
        matches += index.match(question)
    found = []
    if views:
        found = await search_golden_sqls(
            services, project_id=project_id, query=question, top_k=GOLDEN_SQLS, vector=vector
        )
    golden = [{"question": row.prompt, "sql": row.sql} for row, _score in found]
    chosen = views
    if len(views) > ALL_TABLES:
        chosen = await _narrow(
            services, project_id, question, vector, views, catalogs, matches, golden
        )
        # semantic tables were made for questions: shown while there is room
        semantic = [v for v in views if v.catalog.catalog_type == "semantic" and v not in chosen]
        chosen = (chosen + semantic)[: max(MAX_TABLES, len(chosen))]
    return SchemaContext(
        catalogs=catalogs,
        tables=chosen,
        all_tables=views,
        golden=golden,
        golden_ids=[row.id for row, _score in found],
        values=matches,
    )


def _golden_tables(statements: list[str], dialects: list[str]) -> list[tuple[tuple[str, str], ...]]:
    """The (schema, table) names each golden SQL reads (parsing: CPU work, off the loop);
    an unparsable one just adds no tables."""
    found = []
    for sql in statements:
        try:
            found.append(catalog_names_used(sql, dialects)[1])
        except QueryRejected:
            continue
    return found


async def _narrow(
    services: DataServices,
    project_id: str,
    question: str,
    vector: np.ndarray | None,
    views: list[TableView],
    catalogs: list[ProjectCatalog],
    matches: list[ValueMatch],
    golden: list[dict[str, str]],
) -> list[TableView]:
    by_key = {v.key: v for v in views}
    by_name = {(v.catalog.name, v.table.schema_name, v.table.table_name): v for v in views}
    wanted: list[tuple[str, str, str]] = []
    for hit in await search_tables(
        services, project_id=project_id, query=question, top_k=SEARCHED_TABLES, vector=vector
    ):
        wanted.append((hit["catalogId"], hit["schemaName"], hit["tableName"]))
    for match in matches:
        view = by_name.get((match.ref.catalog, match.ref.schema, match.ref.table))
        if view is not None:
            wanted.append(view.key)
    dialects = list(dict.fromkeys(c.scope.dialect for c in catalogs))
    sqls = [g["sql"] for g in golden]
    for refs in await services.sql_work.run(
        _golden_tables, sqls, dialects, chars=sum(map(len, sqls))
    ):
        for schema, table in refs:
            for c in catalogs:
                found = c.scope.resolve(schema or None, table)
                if isinstance(found, TableName):
                    wanted.append((c.catalog.id, found.schema, found.table))
    for key in list(wanted):  # one relation away
        view = by_key.get(key)
        if view is None:
            continue
        for rel in view.relations:
            wanted.append((rel.target_catalog_id, rel.target_schema_name, rel.target_table_name))
        for other in views:
            for rel in other.relations:
                target = (rel.target_catalog_id, rel.target_schema_name, rel.target_table_name)
                if target == key:
                    wanted.append(other.key)
    picked = [by_key[k] for k in dict.fromkeys(wanted) if k in by_key]
    return picked[:MAX_TABLES]
