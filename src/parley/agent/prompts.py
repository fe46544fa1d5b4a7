"""The data agent's prompts and the shapes of the model's structured replies.

Each prompt ends with a labelled line (`QUESTION:`, `FIX THE SQL FOR:`, `EXPLAIN THE RESULT
FOR:`) so a scripted test model, and a person reading logs, can tell the steps apart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.agent.schema_context import SchemaContext
from parley.llm.chat import ChatMessage

RESULT_ROWS_SHOWN = 30
CELL_CHARS = 80
TABLE_CHARS = 6000  # the most of a result one prompt shows, however wide its rows
HISTORY_TURNS = 6
# What models most often get wrong per dialect: dates and text matching.
DIALECT_TIPS = {
    "sqlite": "SQLite: dates are usually TEXT 'YYYY-MM-DD'; use strftime('%Y', d), "
    "strftime('%Y-%m', d) and date(d, '-1 month'); there is no EXTRACT or DATE_TRUNC; "
    "use LIKE for substrings, and CAST(x AS REAL) before dividing integers.",
    "postgres": "PostgreSQL: use date_trunc('month', d), EXTRACT(YEAR FROM d), interval "
    "arithmetic and ILIKE; cast integers to numeric before dividing.",
    "duckdb": "DuckDB: use date_trunc('month', d), year(d), strftime(d, '%Y-%m') and ILIKE.",
}


class Plan(BaseModel):
    """The first reply: what the user wants, and the SQL (or the words) that answer it."""

    model_config = ConfigDict(extra="ignore")

    intent: Literal["TEXT_TO_SQL", "DB_SCHEMA_DISCOVERY", "USER_INTENT_NOT_CLEAR"]
    reasoning: str = Field(description="one or two sentences: how the question maps to the data")
    sql: str | None = Field(default=None, description="the query, for TEXT_TO_SQL")
    answer: str | None = Field(
        default=None,
        description="for DB_SCHEMA_DISCOVERY the reply; for USER_INTENT_NOT_CLEAR a clarifying "
        "question",
    )
    follow_up_questions: list[str] = Field(
        default_factory=list, description="up to 3 short questions the user might ask next"
    )


class SqlFix(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reasoning: str = Field(description="what was wrong")
    sql: str


@dataclass(frozen=True)
class PastTurn:
    question: str
    sql: str | None
    answer: str


def _history(turns: list[PastTurn]) -> str:
    lines = []
    for turn in turns[-HISTORY_TURNS:]:
        lines.append(f"User: {turn.question}")
        if turn.sql:
            lines.append(f"SQL: {turn.sql}")
        lines.append(f"Agent: {turn.answer[:500]}")
    return "\n".join(lines)


def plan_prompt(
    *,
    question: str,
    context: SchemaContext,
    history: list[PastTurn],
    memory: list[str],
    today: date,
) -> list[ChatMessage]:
    dialects = sorted({context.dialect_of(v.catalog.id) for v in context.tables}) or ["sql"]
    system = [
        "You are a data analyst. You answer questions about a project's data by writing SQL.",
        "Choose the intent:",
        "- TEXT_TO_SQL: the data can answer it. Write exactly one read-only query (SELECT or "
        f"WITH ... SELECT) in the {' / '.join(dialects)} dialect.",
        "- DB_SCHEMA_DISCOVERY: the user asks what data, tables or columns exist. Put the reply "
        "in `answer`.",
        "- USER_INTENT_NOT_CLEAR: you cannot tell what they want, or the data cannot answer "
        "it. Put one clarifying question in `answer`; do not guess.",
        "Rules for SQL: use only the tables and columns listed below, named exactly as listed; "
        "filter categorical columns with the exact stored values; give result columns clear "
        "names; order top-N results; add LIMIT only when the question asks for a number of "
        "rows; a follow-up question refines the previous query of the conversation.",
        f"Today's date is {today.isoformat()}.",
        *(DIALECT_TIPS[d] for d in dialects if d in DIALECT_TIPS),
        "",
        "SCHEMA:",
        context.render() or "(no tables)",
    ]
    values = context.render_values()
    if values:
        system += ["", "KNOWN VALUES named in the question:", values]
    if context.golden:
        system += ["", "EXAMPLES of questions and the SQL that answers them:"]
        for example in context.golden:
            system += [f"Q: {example['question']}", f"SQL: {example['sql']}"]
    if memory:
        system += [
            "",
            "WHAT YOU KNOW ABOUT THIS USER from earlier conversations (use it to resolve words "
            "like 'my region' or 'the usual metric'):",
            *(f"- {fact}" for fact in memory),
        ]
    if history:
        system += ["", "CONVERSATION SO FAR:", _history(history)]
    return [
        ChatMessage("system", "\n".join(system)),
        ChatMessage("user", f"QUESTION: {question}"),
    ]


def fix_prompt(
    *, question: str, context: SchemaContext, history: list[PastTurn], sql: str, error: str
) -> list[ChatMessage]:
    system = [
        "You are a data analyst fixing a SQL query that failed. Write one read-only query "
        "(SELECT or WITH ... SELECT) using only these tables and columns.",
        "",
        "SCHEMA:",
        context.render() or "(no tables)",
    ]
    values = context.render_values()
    if values:
        system += ["", "KNOWN VALUES named in the question:", values]
    if history:
        system += ["", "CONVERSATION SO FAR:", _history(history)]
    return [
        ChatMessage("system", "\n".join(system)),
        ChatMessage(
            "user",
            f"The query\n{sql}\nfailed with this error:\n{error}\n\nFIX THE SQL FOR: {question}",
        ),
    ]


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def result_table(
    columns: list[str],
    rows: list[list[Any]],
    limit: int = RESULT_ROWS_SHOWN,
    max_chars: int = TABLE_CHARS,
) -> str:
    """A markdown table of the first rows, about `max_chars` long at most: a wide result
    shows the first columns that fit half of it (by the header and first row), and rows stop
    where the budget does."""
    if not columns:
        return "(no columns)"
    most = max(1, max_chars // 4)  # a column takes 4 characters at least
    header = [_cell(c) for c in columns[:most]]
    first = [_cell(v) for v in rows[0][:most]] if rows else []
    widths = [max(len(h), len(first[i]) if i < len(first) else 0) + 3 for i, h in enumerate(header)]
    width, shown = 2, 0
    while shown < len(widths) and (shown == 0 or width + widths[shown] <= max_chars // 2):
        width += widths[shown]
        shown += 1
    lines = ["| " + " | ".join(header[:shown]) + " |", "|" + "---|" * shown]
    used = sum(len(line) + 1 for line in lines)
    count = 0
    for row in rows[:limit]:
        line = "| " + " | ".join(_cell(v) for v in row[:shown]) + " |"
        if used + len(line) + 1 > max_chars:
            break
        lines.append(line)
        used += len(line) + 1
        count += 1
    if count < min(len(rows), limit):
        lines.append(f"({min(len(rows), limit) - count} more rows not shown)")
    if shown < len(columns):
        lines.append(f"({len(columns) - shown} more columns not shown)")
    return "\n".join(lines)


def analyze_prompt(
    *,
    question: str,
    sql: str,
    columns: list[str],
    rows: list[list[Any]],
    row_count: int,
    truncated: bool,
    memory: list[str],
) -> list[ChatMessage]:
    size = f"{row_count}{'+' if truncated else ''} rows"
    shown = "" if row_count <= RESULT_ROWS_SHOWN else f" (first {RESULT_ROWS_SHOWN} shown)"
    system = (
        "You explain query results to a business user in one to three sentences. Use only the "
        "numbers in the result; never invent values. If the result is empty, say that nothing "
        "matched. Do not repeat the SQL."
    )
    if memory:
        system += "\nAbout this user: " + "; ".join(memory[:5])
    body = (
        f"SQL:\n{sql}\n\nRESULT ({size}{shown}):\n{result_table(columns, rows)}\n\n"
        f"EXPLAIN THE RESULT FOR: {question}"
    )
    return [ChatMessage("system", system), ChatMessage("user", body)]
