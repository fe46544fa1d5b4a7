"""The agent's state for one turn, with the keys Peaka's agent documents (`to_result`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from parley.agent import lc_messages


class Intent(StrEnum):
    TEXT_TO_SQL = "TEXT_TO_SQL"
    DB_SCHEMA_DISCOVERY = "DB_SCHEMA_DISCOVERY"
    USER_INTENT_NOT_CLEAR = "USER_INTENT_NOT_CLEAR"
    WAITING_FOR_INPUT = "WAITING_FOR_INPUT"


@dataclass
class QueryOutcome:
    """A result as the agent returns it: columns, the first rows, and whether more exist."""

    columns: list[dict[str, str]]
    rows: list[list[Any]]
    row_count: int
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": self.rows,
            "rowCount": self.row_count,
            "truncated": self.truncated,
        }


@dataclass
class Attempt:
    """One generated statement and what became of it (for the turn's record)."""

    sql: str
    error: str | None = None


@dataclass
class AgentState:
    project_id: str
    thread_id: str
    question: str
    no_execute: bool = False
    user_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier lc messages
    intent: Intent | None = None
    reasoning: str | None = None
    table_names: list[str] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    catalogs: list[dict[str, Any]] = field(default_factory=list)
    gold_sqls: list[dict[str, str]] = field(default_factory=list)
    value_matches: list[dict[str, str]] = field(default_factory=list)
    user_memory: list[str] = field(default_factory=list)
    sql: str | None = None
    query_error: str | None = None
    invalid_query: bool = False
    result: QueryOutcome | None = None
    attempts: list[Attempt] = field(default_factory=list)
    answer: str = ""
    sample_questions: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)  # per step, repairs included

    def turn_messages(self) -> list[dict[str, Any]]:
        turn = [lc_messages.human(self.question)]
        if self.answer:
            turn.append(lc_messages.ai(self.answer))
        return turn

    def messages(self) -> list[dict[str, Any]]:
        """The thread's messages so far, this turn's last."""
        return [*self.history, *self.turn_messages()]

    def to_result(self, *, with_history: bool = True) -> dict[str, Any]:
        """Peaka's agent state; a stored turn keeps only its own messages."""
        return {
            "projectId": self.project_id,
            "messages": self.messages() if with_history else self.turn_messages(),
            "noExecute": self.no_execute,
            "userIntentReasoning": self.intent.value if self.intent else None,
            "tableNames": self.table_names,
            "metadata": self.metadata,
            "currentGeneratedQuery": self.sql,
            "currentQueryError": self.query_error,
            "invalidQuery": self.invalid_query,
            "currentQueryResult": self.result.to_json() if self.result else None,
            "goldSQLs": self.gold_sqls,
            "currentQueryReasoning": self.reasoning,
            "catalogs": self.catalogs,
            "sampleQuestions": self.sample_questions,
            # Parley's additions: what the agent knew and tried
            "userId": self.user_id,
            "userMemory": self.user_memory,
            "valueMatches": self.value_matches,
            "attempts": [{"sql": a.sql, "error": a.error} for a in self.attempts],
            "timingsMs": self.timings_ms,
        }
