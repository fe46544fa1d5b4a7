"""The oracle model: a scripted OpenAI-compatible server (tests/fake_openai.py) that answers
every evaluation question with its gold SQL. Run through the agent, it must score 100%: what
it checks is the plumbing (threads, follow-ups, SQL extraction, execution), not a model.

Which question is being asked: the fake server has one rule per question, matched by the
question's text in the prompt, later questions first. A follow-up's prompt may hold the earlier
turns of its chain too; the latest turn is the one being asked. (Every question's text is unique
and none is inside another; tests/test_text2sql_eval.py checks that.)

What it answers, by the shape of the request:
* structured output (an OpenAI `response_format` JSON schema, an Anthropic tool, or the schema
  written into the prompt by parley.llm.structured): a JSON object filled from the schema;
  string fields whose name holds "sql" or "query" get the gold SQL, enums take TEXT_TO_SQL when
  they offer it (else their first value), other strings "oracle", lists stay empty, numbers 0,
  booleans false;
* anything else: the gold SQL in a ```sql fence.
A prompt that holds no evaluation question gets a 400 from the fake server, so a step the
oracle does not know fails loudly. Adapting it to the agent's prompts means changing `fill`
(field names) or `answer` (which steps get what), nothing else.

Usage: python bench/text2sql/oracle.py QUESTIONS.jsonl   (prints its base URL, then serves)
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]  # the fake model server, the questions

from text2sql.questions import Question, load_questions  # noqa: E402

from fake_openai import FakeOpenAI, fake_openai, prompt_text  # noqa: E402

SCHEMA_MARK = "matches this JSON schema:\n"


def _schema(body: dict[str, Any], prompt: str) -> dict[str, Any] | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return dict(response_format["json_schema"]["schema"])
    if body.get("tools"):
        return dict(body["tools"][0].get("input_schema") or {})
    if SCHEMA_MARK in prompt:
        text = prompt.rsplit(SCHEMA_MARK, 1)[1].strip().splitlines()[0]
        try:
            return dict(json.loads(text))
        except (ValueError, TypeError):
            return None
    return None


def fill(schema: dict[str, Any], sql: str, root: dict[str, Any], name: str = "") -> Any:
    """A value that fits `schema`, with the gold SQL in SQL-like string fields."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return fill(target, sql, root, name)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return fill(options[0], sql, root, name)
    if "enum" in schema:
        return "TEXT_TO_SQL" if "TEXT_TO_SQL" in schema["enum"] else schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: fill(v, sql, root, k) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [fill(schema.get("items", {}), sql, root, name)] * schema.get("minItems", 0)
    if kind == "string":
        return sql if any(w in name.lower() for w in ("sql", "query")) else "oracle"
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None


def answer(question: Question, body: dict[str, Any]) -> str:
    """The oracle's reply to one chat request about `question`."""
    prompt = prompt_text(body)
    schema = _schema(body, prompt)
    if schema is not None:
        return json.dumps(fill(schema, question.sql, schema))
    return f"```sql\n{question.sql}\n```"


def script(served: FakeOpenAI, questions: Sequence[Question]) -> None:
    for question in reversed(questions):  # later turns first
        served.script(question.question, functools.partial(answer, question))


def main(argv: Sequence[str]) -> None:
    with fake_openai(dims=384) as served:
        script(served, load_questions(Path(argv[0])))
        print(served.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
