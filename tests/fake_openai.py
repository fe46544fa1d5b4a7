"""A local model server for tests: real HTTP, scripted behaviour.

- `/v1/embeddings` returns deterministic bag-of-words vectors (each word hashed into one of
  `dims` slots), so texts sharing words are near each other and the real client code runs;
  as floats, or as base64 when the request asks `encoding_format: base64` (as OpenAI does).
- `/v1/chat/completions` (OpenAI) and `/v1/messages` (Anthropic), with and without streaming,
  answer from `rules`: the first rule whose `match` is in the request's text (all messages,
  joined) and still has `times` left. A rule can instead answer with an HTTP error (429, 500,
  400), sleep first (timeouts), or break a stream after some pieces. A request no rule matches
  gets a 400 naming the prompt, so a missing script fails loudly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]


def bag_of_words(text: str, dims: int) -> list[float]:
    vector = [0.0] * dims
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dims] += 1.0
    return vector


def encoded(vector: list[float], body: dict[str, Any]) -> list[float] | str:
    """As OpenAI answers `encoding_format`: floats, or base64 of float32 little-endian."""
    if body.get("encoding_format") == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


@dataclass
class Rule:
    match: str
    reply: Reply = ""
    status: int = 200
    times: int | None = None  # None: every time
    delay_s: float = 0.0
    break_stream_after: int | None = None  # pieces sent before the connection drops
    error: str = ""  # the error message of a non-200 answer
    # an OpenAI reply that asks for tools: [{"name": ..., "arguments": {...} or a JSON string}]
    tool_calls: list[dict[str, Any]] | Callable[[dict[str, Any]], list[dict[str, Any]]] | None = (
        None
    )
    with_tools: bool | None = None  # match only requests that offer tools (True) or not (False)


@dataclass
class FakeOpenAI:
    dims: int = 64
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    rules: list[Rule] = field(default_factory=list)
    truncate_below: int = 0  # replies to requests with max_tokens below this stop at "length"
    # replaces the /v1/embeddings answer: the request body -> (status, response body)
    embeddings_reply: Callable[[dict[str, Any]], tuple[int, Any]] | None = None

    def script(self, match: str, reply: Reply = "", **options: Any) -> Rule:
        rule = Rule(match, reply, **options)
        self.rules.append(rule)
        return rule

    def reset(self) -> None:
        """No script and no requests: as new, for the next test on a shared server."""
        self.rules.clear()
        self.requests.clear()
        self.truncate_below = 0
        self.embeddings_reply = None

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"] != "/v1/embeddings"]

    def prompts(self) -> list[str]:
        return [prompt_text(body) for body in self.chat_requests()]

    def _pick(self, text: str, body: dict[str, Any] | None = None) -> Rule | None:
        offers_tools = bool((body or {}).get("tools"))
        for rule in self.rules:
            if rule.with_tools is not None and rule.with_tools != offers_tools:
                continue
            if rule.match in text and (rule.times is None or rule.times > 0):
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None


def prompt_text(body: dict[str, Any]) -> str:
    parts = []
    if isinstance(body.get("system"), str):
        parts.append(body["system"])
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(c.get("text", "") for c in content if isinstance(c, dict))
        parts.append(str(content))
    return "\n".join(parts)


@contextmanager
def fake_openai(dims: int = 64) -> Iterator[FakeOpenAI]:
    state = FakeOpenAI(dims=dims)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            with lock:
                state.requests.append({"path": self.path, "body": body})
            if self.path == "/v1/embeddings":
                self._embeddings(body)
            elif self.path in ("/v1/chat/completions", "/v1/messages"):
                with lock:
                    rule = state._pick(prompt_text(body), body)
                self._chat(body, rule)
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def _embeddings(self, body: dict[str, Any]) -> None:
            if state.embeddings_reply is not None:
                self._json(*state.embeddings_reply(body))
                return
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            self._json(
                200,
                {
                    "object": "list",
                    "model": body["model"],
                    "data": [
                        {
                            "object": "embedding",
                            "index": i,
                            "embedding": encoded(bag_of_words(t, state.dims), body),
                        }
                        for i, t in enumerate(inputs)
                    ],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                },
            )

        def _chat(self, body: dict[str, Any], rule: Rule | None) -> None:
            if rule is None:
                message = "no scripted reply for: " + prompt_text(body)[-300:]
                self._json(400, {"error": {"message": message, "type": "invalid_request_error"}})
                return
            if rule.delay_s:
                time.sleep(rule.delay_s)
            if rule.status != 200:
                error = {"message": rule.error or f"scripted {rule.status}", "type": "server_error"}
                self._json(rule.status, {"type": "error", "error": error})
                return
            text = rule.reply(body) if callable(rule.reply) else rule.reply
            anthropic = self.path == "/v1/messages"
            if body.get("stream"):
                events = _anthropic_stream(body, text) if anthropic else _openai_stream(body, text)
                self._sse(events, rule.break_stream_after)
            elif rule.tool_calls is not None:
                calls = rule.tool_calls(body) if callable(rule.tool_calls) else rule.tool_calls
                reply = _anthropic_tool_reply if anthropic else _openai_tool_reply
                self._json(200, reply(body, text, calls))
            elif anthropic:
                self._json(200, _anthropic_reply(body, text))
            else:
                cut = body.get("max_tokens", 1 << 30) < state.truncate_below
                self._json(200, _openai_reply(body, text, "length" if cut else "stop"))

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _sse(self, events: list[str], break_after: int | None) -> None:
            """Chunked, like real servers; a break drops the connection without the final
            zero-length chunk, so the client sees a truncated body."""
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for index, event in enumerate(events):
                if break_after is not None and index >= break_after:
                    self.wfile.flush()
                    self.close_connection = True
                    return
                data = event.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    # shutdown() waits for serve_forever's next poll: its default 0.5 s was half a second of
    # every test's teardown that used this server
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _openai_reply(body: dict[str, Any], text: str, finish: str = "stop") -> dict[str, Any]:
    prompt = _tokens(prompt_text(body))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": _tokens(text),
            "total_tokens": prompt + _tokens(text),
        },
    }


def _openai_tool_reply(
    body: dict[str, Any], text: str, calls: list[dict[str, Any]]
) -> dict[str, Any]:
    reply = _openai_reply(body, text, "tool_calls")
    reply["choices"][0]["message"] = {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": f"call_{index}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": call["arguments"]
                    if isinstance(call["arguments"], str)
                    else json.dumps(call["arguments"]),
                },
            }
            for index, call in enumerate(calls)
        ],
    }
    return reply


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _openai_stream(body: dict[str, Any], text: str) -> list[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> str:
        payload = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in _pieces(text)]
    events.append(chunk({}, finish="stop"))
    prompt = _tokens(prompt_text(body))
    usage = {"prompt_tokens": prompt, "completion_tokens": _tokens(text), "total_tokens": 0}
    events.append(chunk({}, usage=usage))
    events.append("data: [DONE]\n\n")
    return events


def _anthropic_reply(body: dict[str, Any], text: str) -> dict[str, Any]:
    if (body.get("tool_choice") or {}).get("type") == "tool":  # structured output
        content = [
            {
                "type": "tool_use",
                "id": "toolu_fake",
                "name": body["tools"][0]["name"],
                "input": json.loads(text),
            }
        ]
    else:
        content = [{"type": "text", "text": text}]
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": _tokens(prompt_text(body)), "output_tokens": _tokens(text)},
    }


def _anthropic_tool_reply(
    body: dict[str, Any], text: str, calls: list[dict[str, Any]]
) -> dict[str, Any]:
    reply = _anthropic_reply(body, text)
    reply["content"] = ([{"type": "text", "text": text}] if text else []) + [
        {
            "type": "tool_use",
            "id": f"toolu_{index}",
            "name": call["name"],
            "input": json.loads(call["arguments"])
            if isinstance(call["arguments"], str)
            else call["arguments"],
        }
        for index, call in enumerate(calls)
    ]
    reply["stop_reason"] = "tool_use"
    return reply


def _anthropic_stream(body: dict[str, Any], text: str) -> list[str]:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps(data | {'type': name})}\n\n"

    start = _anthropic_reply(body, "") | {"content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": _tokens(prompt_text(body)), "output_tokens": 1}
    events = [
        event("message_start", {"message": start}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    events += [
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
        for piece in _pieces(text)
    ]
    events += [
        event("content_block_stop", {"index": 0}),
        event(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": _tokens(text)},
            },
        ),
        event("message_stop", {}),
    ]
    return events


def schema_instance(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A small value that a JSON schema accepts: required (else all) properties filled, one
    item per array, the first of an enum or a union. For servers that ask for structured output
    (`response_format: json_schema`, as Honcho's deriver does through `parse`)."""
    defs = schema.get("$defs", {}) | (defs or {})
    if "$ref" in schema:
        return schema_instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    for union in ("anyOf", "oneOf", "allOf"):
        if union in schema:
            options = [o for o in schema[union] if o.get("type") != "null"] or schema[union]
            return schema_instance(options[0], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        names = schema.get("required", list(properties))
        return {name: schema_instance(properties[name], defs) for name in names}
    if kind == "array":
        return [schema_instance(schema.get("items", {"type": "string"}), defs)]
    return {
        "string": "An instant fact.",
        "integer": 1,
        "number": 1.0,
        "boolean": False,
        "null": None,
    }[kind]


def bench_reply(body: dict[str, Any]) -> str:
    """An instant model for the benchmarks: one fact per numbered message of an extraction
    (its text, restated), a one-line peer card, a short answer otherwise; a value of the schema
    where structured output is asked for, and `{}` for a bare JSON mode."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return json.dumps(schema_instance(response_format["json_schema"]["schema"]))
    if response_format.get("type") == "json_object":
        return "{}"
    text = prompt_text(body)
    if "peer card" in text:
        return json.dumps({"card": ["Lives near the river"]})
    if "New messages:" not in text:
        return "An instant answer."
    new = text.split("New messages:", 1)[1]
    facts = [
        {"content": f"The user said {line.split(': ', 1)[-1]}", "messages": [int(number)]}
        for number, line in re.findall(r"^\[(\d+)\] (.*)$", new, flags=re.M)
    ]
    return json.dumps({"explicit": facts, "deductive": []})


if __name__ == "__main__":
    # A separate process, so that a benchmark's client does not share its GIL with the model.
    import sys

    with fake_openai(dims=int(sys.argv[1]) if len(sys.argv) > 1 else 384) as served:
        served.script("", bench_reply)
        print(served.base_url, flush=True)
        threading.Event().wait()
