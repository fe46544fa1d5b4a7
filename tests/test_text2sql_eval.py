"""The text-to-SQL harness (bench/text2sql_eval.py): its comparison rule, its question set over
the demo database, and the oracle model that answers each question with its gold SQL."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlglot
from pydantic import BaseModel
from sqlglot import exp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from text2sql.match import Result, compare, is_ordered, run_sql, score  # noqa: E402
from text2sql.oracle import script  # noqa: E402
from text2sql.questions import conversations, load_questions  # noqa: E402

from fake_openai import fake_openai  # noqa: E402
from parley.demo.generate import build_demo_database  # noqa: E402
from parley.demo.golden import GOLDEN_SQLS  # noqa: E402
from parley.llm.chat import ChatMessage, ChatModel, ModelError, UsageMeter  # noqa: E402
from parley.llm.openai_chat import OpenAIChat  # noqa: E402
from parley.llm.structured import complete_structured  # noqa: E402

QUESTIONS = load_questions()
CATEGORIES = {
    "single_table",
    "join",
    "aggregate",
    "date",
    "categorical",
    "top_n",
    "self_join",
    "followup",
}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "retail.db"
    build_demo_database(path)
    return path


def r(columns: str, *rows: tuple[object, ...]) -> Result:
    return Result(tuple(columns.split()), tuple(rows))


# --- the comparison rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred", "ordered", "expected"),
    [
        # equal results, whatever the column names
        (r("n", (5,)), r("count", (5,)), False, (True, "exact")),
        # rows in another order: fine unless the gold query is a top-N
        (r("s n", ("a", 1), ("b", 2)), r("s n", ("b", 2), ("a", 1)), False, (True, "exact")),
        (
            r("s n", ("a", 1), ("b", 2)),
            r("s n", ("b", 2), ("a", 1)),
            True,
            (False, "the rows differ or are in another order"),
        ),
        # columns in another order
        (r("s n", ("a", 1), ("b", 2)), r("n s", (1, "a"), (2, "b")), True, (True, "exact")),
        # numbers: int, float, numeric text, rounding to cents
        (r("n", (2,)), r("n", (2.0,)), False, (True, "exact")),
        (r("y n", ("2024", 3)), r("y n", (2024, 3.0)), False, (True, "exact")),
        (r("x", (324.98666,)), r("x", (324.99,)), False, (True, "exact")),
        (r("x", (0.124999,)), r("x", (0.13,)), False, (True, "within 0.01")),
        (
            r("x", (10.0,)),
            r("x", (10.02,)),
            False,
            (False, "no column holds the values of 'x'"),
        ),
        (
            r("x", (0.15,)),
            r("x", (15.0,)),
            False,
            (False, "no column holds the values of 'x'"),
        ),
        # text is exact; NULL is only NULL
        (
            r("s", ("Bavaria",)),
            r("s", ("bavaria",)),
            False,
            (False, "no column holds the values of 's'"),
        ),
        (r("s", (None,)), r("s", (None,)), False, (True, "exact")),
        (r("s", (None,)), r("s", (0,)), False, (False, "no column holds the values of 's'")),
        # extra columns are fine, a missing one is not
        (
            r("id total", (7, 10.5), (9, 3.25)),
            r("id name total", (9, "Ann", 3.25), (7, "Bo", 10.5)),
            False,
            (True, "exact"),
        ),
        (
            r("id total", (7, 10.5), (9, 3.25)),
            r("id", (7,), (9,)),
            False,
            (False, "1 columns, expected 2"),
        ),
        # the right values, paired up wrongly
        (
            r("s n", ("a", 1), ("b", 2)),
            r("s n", ("a", 2), ("b", 1)),
            False,
            (False, "the columns hold the right values but not in the same rows"),
        ),
        # two columns with the same values: the assignment that works is found
        (
            r("a b", (1, 2), (2, 1)),
            r("x y z", (2, 2, 1), (1, 1, 2)),
            False,
            (True, "exact"),
        ),
        # row counts, duplicates, empty results
        (r("n", (1,), (1,)), r("n", (1,)), False, (False, "1 rows, expected 2")),
        (
            r("n", (1,), (2,)),
            r("n", (1,), (1,)),
            False,
            (False, "no column holds the values of 'n'"),
        ),
        (r("n"), r("m"), False, (True, "both empty")),
        (r("n", (1,)), r("n"), False, (False, "0 rows, expected 1")),
        (r("n"), r("n", (1,)), False, (False, "1 rows, expected 0")),
    ],
)
def test_compare(gold: Result, pred: Result, ordered: bool, expected: tuple[bool, str]) -> None:
    verdict = compare(gold, pred, ordered=ordered)
    assert (verdict.match, verdict.reason) == expected


@pytest.mark.parametrize(
    ("sql", "ordered"),
    [
        ("SELECT name FROM products ORDER BY list_price DESC LIMIT 5", True),
        ("SELECT name FROM products ORDER BY list_price DESC", False),
        ("SELECT name FROM products LIMIT 5", False),
        ("SELECT * FROM (SELECT name FROM products ORDER BY name LIMIT 5)", False),
    ],
)
def test_order_counts_only_for_a_top_level_order_by_with_limit(sql: str, ordered: bool) -> None:
    assert is_ordered(sql) is ordered


def test_score_runs_the_agents_sql_through_the_guard(demo_db: Path) -> None:
    gold = "SELECT COUNT(*) FROM customers WHERE state = 'Bavaria'"
    assert score(demo_db, gold, 'SELECT count(*) AS n FROM retail.main."customers" '
                 "WHERE state = 'Bavaria'").match  # fmt: skip
    assert score(
        demo_db, gold, "SELECT COUNT(*) FROM customers WHERE state = 'bavaria'"
    ).reason == ("no column holds the values of 'COUNT(*)'")
    assert score(demo_db, gold, None).reason == "no SQL"
    refused = score(demo_db, gold, "DELETE FROM customers")
    assert refused.reason == (
        "the SQL failed: QueryRejected: only SELECT queries may run; this statement starts "
        "with DELETE"
    )
    assert score(demo_db, gold, "SELECT nope FROM customers").reason == (
        "the SQL failed: OperationalError: no such column: nope"
    )
    assert run_sql(demo_db, gold).rows == ((238,),)


# --- the question set -------------------------------------------------------------------


def test_the_question_set_covers_every_category() -> None:
    assert len(QUESTIONS) >= 60
    counts = Counter(q.category for q in QUESTIONS)
    assert set(counts) == CATEGORIES
    assert min(counts.values()) >= 4
    assert len({q.id for q in QUESTIONS}) == len(QUESTIONS)


def test_chains_are_asked_in_order_in_one_thread() -> None:
    chains = [c for c in conversations(QUESTIONS) if c[0].chain is not None]
    assert len(chains) >= 4
    for chain in chains:
        assert [q.turn for q in chain] == list(range(1, len(chain) + 1))
        assert len({q.chain for q in chain}) == 1
        assert {q.category for q in chain} == {"followup"}
    assert sum(len(c) for c in conversations(QUESTIONS)) == len(QUESTIONS)


def test_questions_are_unique_and_none_is_inside_another_text() -> None:
    """The oracle finds the question in the agent's prompt by its text."""
    texts = [q.question for q in QUESTIONS]
    golden = [prompt for prompt, _ in GOLDEN_SQLS]
    for text in texts:
        inside = [t for t in texts + golden if text in t and t != text]
        assert inside == [], text
    assert len(set(texts)) == len(texts)


def test_golden_sqls_are_not_evaluation_questions(demo_db: Path) -> None:
    gold = {" ".join(q.sql.split()) for q in QUESTIONS}
    questions = {q.question.casefold() for q in QUESTIONS}
    for prompt, sql in GOLDEN_SQLS:
        assert prompt.casefold() not in questions
        assert " ".join(sql.split()) not in gold
        assert run_sql(demo_db, sql).rows, prompt


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.id for q in QUESTIONS])
def test_every_gold_sql_runs_and_returns_rows(demo_db: Path, question: object) -> None:
    result = run_sql(demo_db, question.sql)  # type: ignore[attr-defined]
    assert len(result.rows) >= 1
    assert all(any(v is not None for v in row) for row in result.rows)


def _cut_is_a_tie(demo_db: Path, sql: str) -> bool:
    """Whether the rows at a top-N's cut tie on its ORDER BY keys (then the order of the
    answer, and which rows make it, would be arbitrary)."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    limit = int(tree.args["limit"].expression.this)
    names = [e.alias_or_name for e in tree.expressions]
    keys = []
    for ordered in tree.args["order"].expressions:
        key = ordered.this
        name = key.alias_or_name if isinstance(key, exp.Column) else key.sql("sqlite")
        keys.append(names.index(name))
    tree.set("limit", exp.Limit(expression=exp.Literal.number(limit + 1)))
    rows = run_sql(demo_db, tree.sql("sqlite")).rows
    ranked = [tuple(row[k] for k in keys) for row in rows]
    return any(ranked[i] == ranked[i + 1] for i in range(len(ranked) - 1))


def test_top_n_answers_have_no_ties(demo_db: Path) -> None:
    ordered = [q for q in QUESTIONS if is_ordered(q.sql)]
    assert len(ordered) >= 6
    assert [q.id for q in ordered if _cut_is_a_tie(demo_db, q.sql)] == []


# --- the oracle ---------------------------------------------------------------------------


class SqlReply(BaseModel):
    intent: str
    sql: str
    explanation: str
    tables: list[str]


def test_the_oracle_answers_with_the_gold_sql_of_the_latest_question() -> None:
    """Through Parley's own OpenAI client and structured output, over real HTTP."""
    chain = next(c for c in conversations(QUESTIONS) if c[0].chain is not None)
    lone = next(q for q in QUESTIONS if q.chain is None)
    with fake_openai() as served:
        script(served, QUESTIONS)
        provider = OpenAIChat(
            base_url=served.base_url, api_key=None, model="oracle", timeout_s=10, max_retries=0
        )
        model = ChatModel(provider, role="agent", concurrency=1)

        async def ask(history: list[str]) -> SqlReply:
            messages = [ChatMessage("system", "Write SQLite SQL for the last question.")]
            messages += [ChatMessage("user", text) for text in history]
            return await complete_structured(model, messages, SqlReply, meter=UsageMeter())

        async def run() -> list[SqlReply]:
            try:
                replies = [await ask([lone.question])]
                history: list[str] = []
                for question in chain:
                    history.append(question.question)
                    replies.append(await ask(history))
                return replies
            finally:
                await provider.close()

        replies = asyncio.run(run())
    assert [reply.sql for reply in replies] == [lone.sql] + [q.sql for q in chain]
    assert replies[0] == SqlReply(intent="oracle", sql=lone.sql, explanation="oracle", tables=[])
    schema = served.requests[0]["body"]["response_format"]["json_schema"]["schema"]
    assert schema == SqlReply.model_json_schema()


def test_the_oracle_answers_plain_prompts_with_fenced_sql() -> None:
    question = QUESTIONS[0]
    with fake_openai() as served:
        script(served, QUESTIONS)
        provider = OpenAIChat(
            base_url=served.base_url, api_key=None, model="oracle", timeout_s=10, max_retries=0
        )
        model = ChatModel(provider, role="agent", concurrency=1)

        async def run() -> tuple[str, str]:
            try:
                answer = await model.complete(
                    [ChatMessage("user", f"Question: {question.question}")],
                    meter=UsageMeter(),
                    max_tokens=500,
                    temperature=0.0,
                )
                try:
                    await model.complete(
                        [ChatMessage("user", "Summarise the weather.")],
                        meter=UsageMeter(),
                        max_tokens=500,
                        temperature=0.0,
                    )
                except ModelError as err:
                    return answer.text, str(err)
                return answer.text, ""
            finally:
                await provider.close()

        text, refusal = asyncio.run(run())
    assert text == f"```sql\n{question.sql}\n```"
    assert "no scripted reply for" in refusal


# --- the harness against the real agent ----------------------------------------------------


def test_the_oracle_scores_every_question_through_the_real_agent(tmp_path: Path) -> None:
    """The whole path: `parley serve --demo` in a subprocess, the agent's prompts, its SQL guard
    and execution, a follow-up chain in one thread, and the harness's scoring. With the oracle
    as the model every answer must match; a plumbing fault anywhere makes this fail."""
    import json
    import os
    import subprocess

    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "text2sql_eval.py"),
            "--oracle",
            "--only",
            "c1,q001,q042,q050",
            "--out",
            str(report),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(report.read_text())
    asked = [q["id"] for q in result["questions"]]
    chain = [q.id for q in QUESTIONS if q.chain == "c1"]
    assert sorted(asked) == sorted([*chain, "q001", "q042", "q050"]) and len(chain) == 3
    assert [q for q in asked if q in chain] == chain  # a chain is asked in order
    assert result["overall"]["correct"] == result["overall"]["n"] == len(asked)
    threads = {q["thread_id"] for q in result["questions"] if q["chain"] == "c1"}
    assert len(threads) == 1
