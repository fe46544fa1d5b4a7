"""What a project's data means: sample questions a user could ask about it, and table and
column descriptions written by the data agent's model (`PARLEY_AGENT_*`).

Without a model, sample questions are built from the catalog (templates over tables, their
categorical, numeric and date columns, and relations); descriptions need a model. No database
session is open during a model call, and a reply that does not fit its schema stores nothing."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from parley.data.catalog import TEXT_TYPES, get_catalog, get_table, list_columns
from parley.data.metadata import project_metadata, update_table_metadata
from parley.data.table_view import TableView
from parley.errors import ParleyError
from parley.llm.chat import ChatMessage, ChatModel, ModelError, UsageMeter
from parley.llm.structured import complete_structured
from parley.memory.usage import record_usage
from parley.store.data_models import DataColumn, DataRelation, DataTable
from parley.store.engine import Database

MAX_QUESTIONS = 20
PROMPT_TABLES = 30  # tables shown to the model for sample questions
NUMERIC_TYPES = re.compile(r"int|double|float|real|decimal|numeric|number|money", re.I)
DATE_TYPES = re.compile(r"date|time", re.I)
ID_NAME = re.compile(r"(^id$|_id$|^id_|uuid|key$)", re.I)


class ModelNotConfigured(ParleyError):
    status_code = 400
    error_code = "MODEL_NOT_CONFIGURED"


class ModelFailed(ParleyError):
    status_code = 502
    error_code = "MODEL_ERROR"


class SampleQuestions(BaseModel):
    questions: list[str] = Field(min_length=1, max_length=MAX_QUESTIONS)


class ColumnSemantics(BaseModel):
    columnName: str = Field(min_length=1)
    columnDescription: str = Field(min_length=1, max_length=2000)


class TableSemantics(BaseModel):
    tableDescription: str = Field(min_length=1, max_length=4000)
    columns: list[ColumnSemantics]


def _words(name: str) -> str:
    return re.sub(r"[_\W]+", " ", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)).strip().lower()


def _kind(column: DataColumn) -> str | None:
    if column.is_primary or ID_NAME.search(column.name):
        return None
    if column.categorical_values:
        return "category"
    if DATE_TYPES.search(column.data_type):
        return "date"
    if NUMERIC_TYPES.search(column.data_type) and not TEXT_TYPES.search(column.data_type):
        return "number"
    return None


def template_questions(tables: list[TableView], limit: int) -> list[str]:
    """Questions built from the catalog alone, a few per table, taken in turn across tables
    so that the first ones cover the project rather than one table."""
    per_table: list[list[str]] = []
    for view in tables:
        name = _words(view.table.table_name)
        kinds: dict[str, list[DataColumn]] = {"category": [], "date": [], "number": []}
        for column in view.columns:
            kind = _kind(column)
            if kind is not None:
                kinds[kind].append(column)
        found: list[str] = []
        categories, dates, numbers = kinds["category"], kinds["date"], kinds["number"]
        if categories:
            found.append(f"How many {name} are there per {_words(categories[0].name)}?")
        if numbers:
            measure = _words(numbers[0].name)
            if categories:
                found.append(
                    f"What is the total {measure} of {name} by {_words(categories[0].name)}?"
                )
            else:
                found.append(f"What is the average {measure} of {name}?")
        if dates:
            found.append(f"How many {name} were there each month, by {_words(dates[0].name)}?")
        values = (categories[0].categorical_values or []) if categories else []
        if len(values) > 1:
            found.append(f"How many {name} have {_words(categories[0].name)} {values[0]}?")
        for relation in view.relations[:1]:
            found.append(f"Which {_words(relation.target_table_name)} have the most {name}?")
        if numbers and len(numbers) > 1:
            found.append(f"What are the 10 {name} with the highest {_words(numbers[1].name)}?")
        if not found:
            found.append(f"How many {name} are there?")
        per_table.append(found)
    out: list[str] = []
    for i in range(max((len(f) for f in per_table), default=0)):
        for found in per_table:
            if i < len(found) and found[i] not in out:
                out.append(found[i])
    return out[:limit]


def _column_line(column: DataColumn, samples: int) -> str:
    flags = [column.data_type]
    if column.is_primary:
        flags.append("primary key")
    if column.is_not_null:
        flags.append("not null")
    line = f"- {column.name} ({', '.join(flags)})"
    if column.description:
        line += f": {column.description}"
    values = column.categorical_values or column.sample_values or []
    if values:
        label = "values" if column.categorical_values else "sample values"
        line += f"; {label}: " + ", ".join(str(v) for v in values[:samples])
    return line


def table_prompt(view: TableView, samples: int) -> str:
    table = view.table
    lines = [f"Table {view.catalog.name}.{table.schema_name}.{table.table_name}"]
    if table.row_count is not None:
        lines[0] += f" ({table.row_count} rows)"
    if table.description:
        lines.append(f"Description: {table.description}")
    lines.append("Columns:")
    lines.extend(_column_line(c, samples) for c in view.columns)
    for r in view.relations:
        lines.append(
            f"Relation: {r.column_name} -> {r.target_schema_name}.{r.target_table_name}."
            f"{r.target_column_name}"
        )
    return "\n".join(lines)


class Semantics:
    def __init__(self, database: Database, model: ChatModel | None) -> None:
        self._database = database
        self._model = model

    async def _tables(self, project_id: str) -> list[TableView]:
        async with self._database.read() as db:
            found = await project_metadata(
                db=db, project_id=project_id, catalog_id=None, schema=None
            )
        return [
            TableView(catalog, table, columns, relations)
            for catalog, entries in found
            for table, columns, relations in entries
            if table.use_with_ai
        ]

    async def sample_questions(
        self, *, project_id: str, limit: int, topic: str | None
    ) -> list[str]:
        tables = await self._tables(project_id)
        if not tables:
            return []
        if self._model is None:
            return template_questions(tables, limit)
        prompt = [
            "Write questions a business user could ask, in plain language, about the data "
            "below; each must be answerable with one SQL query over these tables. Vary them: "
            "counts, totals and averages by a category, trends over time, top items, "
            "comparisons. Do not mention SQL or table names verbatim.",
            f"Write {limit} questions.",
        ]
        if topic:
            prompt.append(f"The user is interested in: {topic}")
        prompt.append("\n\n".join(table_prompt(t, 5) for t in tables[:PROMPT_TABLES]))
        reply = await self._ask(project_id, "\n\n".join(prompt), SampleQuestions)
        return [q.strip() for q in reply.questions if q.strip()][:limit]

    async def describe_table(
        self,
        *,
        project_id: str,
        catalog_id: str,
        schema: str,
        table: str,
        instructions: str | None,
        samples: int,
    ) -> DataTable:
        if self._model is None:
            raise ModelNotConfigured(
                "generating descriptions needs a language model: set PARLEY_AGENT_MODEL (or "
                "PARLEY_LLM_MODEL, with PARLEY_LLM_BASE_URL for a local server) and restart"
            )
        async with self._database.read() as db:
            row = await get_table(
                db=db, project_id=project_id, catalog_id=catalog_id, schema=schema, table=table
            )
            catalog = await get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
            columns = await list_columns(db=db, table_id=row.id)
            relations = list(
                await db.scalars(
                    select(DataRelation).where(
                        DataRelation.catalog_id == catalog_id,
                        DataRelation.schema_name == schema,
                        DataRelation.table_name == table,
                    )
                )
            )
        view = TableView(catalog, row, columns, relations)
        prompt = [
            "Describe this table for an analyst who will write SQL over it: a short "
            "description of what one row is and what the table is for, and one short "
            "description per column (meaning, units, how values look). Describe every column "
            "listed, by its exact name.",
            table_prompt(view, samples),
        ]
        if row.sample_rows:
            prompt.append("Sample rows: " + "; ".join(str(r) for r in row.sample_rows[:samples]))
        if instructions:
            prompt.append(f"Instructions from the user: {instructions}")
        reply = await self._ask(project_id, "\n\n".join(prompt), TableSemantics)
        known = {c.name for c in columns}
        described = {c.columnName: c.columnDescription.strip() for c in reply.columns}
        async with self._database.write() as db:
            return await update_table_metadata(
                db=db,
                project_id=project_id,
                catalog_id=catalog_id,
                schema=schema,
                table=table,
                description=reply.tableDescription.strip(),
                columns={k: v for k, v in described.items() if k in known},
                use_with_ai=None,
            )

    async def _ask(self, project_id: str, prompt: str, schema: type[Any]) -> Any:
        assert self._model is not None
        meter = UsageMeter()
        try:
            return await complete_structured(
                self._model,
                [
                    ChatMessage("system", "You document databases for a data agent."),
                    ChatMessage("user", prompt),
                ],
                schema,
                meter=meter,
            )
        except ModelError as err:
            raise ModelFailed(f"the data agent's model failed: {err}") from err
        finally:
            if meter.calls:
                async with self._database.write() as db:
                    await record_usage(db, project_id, meter)
