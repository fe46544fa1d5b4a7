"""Answers that need no model: the schema described from the catalog, and telling a SQL
statement from a question."""

from __future__ import annotations

import re

from parley.agent.schema_context import SchemaContext
from parley.data.table_view import TableView

_SQL_START = re.compile(
    r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*\(*\s*"
    r"(select|with|insert|update|delete|merge|drop|create|alter|truncate|pragma|attach|detach|"
    r"copy|grant|revoke|call|exec|execute|explain|values|set|begin|commit|vacuum|replace|"
    r"upsert|load|install|use)\b",
    re.I | re.S,
)
_DISCOVERY = re.compile(
    r"\b(tables?|schemas?|catalogs?|columns?|fields?|datasets?|data ?sources?|databases?|"
    r"what data|which data|what can i ask|describe|structure)\b",
    re.I,
)
MODEL_NEEDED = (
    "No language model is configured, so I cannot turn questions into SQL. Ask about the "
    'schema (for example "which tables are there?"), send a SQL query to run, or set '
    "PARLEY_AGENT_MODEL (or PARLEY_LLM_MODEL) to a model."
)


def looks_like_sql(message: str) -> bool:
    return _SQL_START.match(message) is not None


def asks_about_schema(message: str) -> bool:
    return _DISCOVERY.search(message) is not None


def _table_line(context: SchemaContext, view: TableView) -> str:
    line = f"- {context.name_of(view)}"
    if view.table.row_count is not None:
        line += f" ({view.table.row_count} rows)"
    if view.table.description:
        line += f": {view.table.description}"
    return line


def describe_schema(context: SchemaContext, message: str) -> str:
    """The tables a message names, column by column; else every table, catalog by catalog."""
    words = {w.casefold() for w in re.findall(r"\w+", message)}
    named = [v for v in context.all_tables if v.table.table_name.casefold() in words]
    if not context.all_tables:
        return "This project has no tables yet: connect a data source first."
    if named:
        parts = []
        for view in named:
            lines = [_table_line(context, view), "  columns:"]
            for column in view.columns:
                text = f"  - {column.name} ({column.data_type})"
                if column.description:
                    text += f": {column.description}"
                lines.append(text)
            parts.append("\n".join(lines))
        return "\n\n".join(parts)
    parts = []
    for catalog in context.catalog_list():
        views = [v for v in context.all_tables if v.catalog.id == catalog["catalogId"]]
        head = f"Catalog {catalog['catalogName']} ({catalog['dialect']}), {len(views)} tables:"
        parts.append("\n".join([head, *(_table_line(context, v) for v in views)]))
    return "\n\n".join(parts)
