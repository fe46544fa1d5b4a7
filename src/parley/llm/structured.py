"""Structured output: a reply validated against a pydantic model, repaired or asked again.

Weak local models wrap JSON in prose or code fences, think aloud in `<think>` blocks, leave
trailing commas or stop mid-object. The reply is cleaned, parsed, repaired with `json_repair`
when plain parsing fails, and validated; a reply that still does not fit is sent back to the
model with the validation error, up to `attempts` times. Then `ModelError`: the caller's task
fails visibly and is retried by the queue; nothing is dropped silently.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, TypeVar

import json_repair
from pydantic import BaseModel, ValidationError

from parley.llm.chat import ChatMessage, ChatModel, ModelError, UsageMeter

T = TypeVar("T", bound=BaseModel)

MAX_TOKENS_CAP = 16_384
_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


def parse_reply(text: str) -> Any:
    """The JSON value in a model's reply, repaired if needed; raises ValueError if none."""
    text = _THINK.sub("", text).strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("the reply holds no JSON object")
    text = text[start:]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    value = json_repair.loads(text)
    if value in ("", None) or not isinstance(value, dict | list):
        raise ValueError("the reply's JSON could not be repaired")
    return value


@cache
def _schema_text(schema: type[BaseModel]) -> str:
    """The model's JSON schema, compact. Pydantic builds it anew on every call (about 2 ms
    of CPU for the deriver's schema), and a reply model does not change while we run."""
    return json.dumps(schema.model_json_schema(), separators=(",", ":"))


def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema: a fresh copy each time, so a provider may change its own."""
    value: dict[str, Any] = json.loads(_schema_text(schema))
    return value


def schema_instruction(schema: type[BaseModel]) -> str:
    return (
        "Reply with only a JSON object (no prose, no code fences) that matches this JSON "
        f"schema:\n{_schema_text(schema)}"
    )


async def complete_structured(
    model: ChatModel,
    messages: list[ChatMessage],
    schema: type[T],
    *,
    meter: UsageMeter,
    max_tokens: int = 2048,
    attempts: int = 3,
) -> T:
    conversation = [*messages, ChatMessage("user", schema_instruction(schema))]
    json_schema = json_schema_of(schema)
    problem = ""
    for _ in range(attempts):
        reply = await model.complete(
            conversation,
            meter=meter,
            max_tokens=max_tokens,
            temperature=0.0,
            json_schema=json_schema,
        )
        if reply.truncated:  # "repairing" a cut-off reply would keep half an answer
            problem = f"the reply was cut off at {max_tokens} tokens"
            max_tokens = min(2 * max_tokens, MAX_TOKENS_CAP)
            continue
        try:
            return schema.model_validate(parse_reply(reply.text))
        except (ValueError, ValidationError) as err:
            problem = _short(err)
        conversation = [
            *conversation,
            ChatMessage("assistant", reply.text[:4000]),
            ChatMessage(
                "user",
                f"That reply was not valid ({problem}). Reply again with only the JSON object.",
            ),
        ]
    raise ModelError(f"{model.name} gave no valid {schema.__name__} in {attempts} tries: {problem}")


def _short(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        return f"{where}: {first['msg']}"
    return str(err)[:300]
