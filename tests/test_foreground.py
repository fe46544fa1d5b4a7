"""Background embedding gives way to requests: the count of requests being answered
(`parley.foreground`, `ForegroundMiddleware`) and the bundled embedder's batches in parts, run
side by side while the server is idle and one at a time while it answers (the real model)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from parley.api.foreground import ForegroundMiddleware
from parley.foreground import Foreground
from parley.llm.embeddings import PART_TOKENS, LocalEmbedder, _parts


def test_busy_while_answering_and_a_moment_after() -> None:
    foreground = Foreground(linger_s=0.05)
    assert foreground.busy() is False
    foreground.enter()
    foreground.enter()
    foreground.leave()
    assert (foreground.active, foreground.busy()) == (1, True)
    foreground.leave()
    assert (foreground.active, foreground.busy()) == (0, True)  # lingers
    time.sleep(0.06)
    assert foreground.busy() is False


def serve(app: Any, foreground: Foreground) -> list[int]:
    """One request through the middleware; the count seen at each message the app sends."""
    seen: list[int] = []
    wrapped = ForegroundMiddleware(app, foreground=foreground)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        seen.append(foreground.active)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    asyncio.run(wrapped(scope, receive, send))
    return seen


def test_a_request_counts_until_its_response_starts() -> None:
    foreground = Foreground()
    during: list[int] = []

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        during.append(foreground.active)  # working on the answer
        await send({"type": "http.response.start", "status": 200, "headers": []})
        during.append(foreground.active)  # streaming it: no longer counted
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})

    # the count when each message reached the server: start, then the two bodies
    assert serve(streaming, foreground) == [0, 0, 0]
    assert during == [1, 0]
    assert foreground.active == 0


def test_a_request_that_fails_before_answering_stops_counting() -> None:
    foreground = Foreground()

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        assert foreground.active == 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        serve(failing, foreground)
    assert foreground.active == 0


def test_the_app_counts_its_requests(client: TestClient) -> None:
    assert ForegroundMiddleware in [m.cls for m in client.app.user_middleware]  # type: ignore[attr-defined]


def test_a_batch_is_cut_into_parts_by_texts_and_padded_tokens() -> None:
    lengths = [10, 10, 10, 10, 200, 300, 600]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    assert _parts(order, lengths, 3) == [[0, 1, 2], [3, 4], [5], [6]]
    assert PART_TOKENS == 512  # 200 x 2 = 400 fits, 300 x 3 and 600 x 2 do not
    assert _parts(order, lengths, 64) == [[0, 1, 2, 3], [4], [5], [6]]  # 200 x 5 does not


class CountingEmbedder(LocalEmbedder):
    """The bundled model, noting how many of a batch's parts run at once."""

    def __init__(self, foreground: Foreground, threads: int) -> None:
        super().__init__(threads=threads, foreground=foreground)
        self.running = 0
        self.most = 0
        self.parts = 0
        self._count = threading.Lock()

    def _run(self, encodings: list[Any]) -> Any:
        with self._count:
            self.running += 1
            self.parts += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.02)  # long enough for side-by-side parts to overlap
            return super()._run(encodings)
        finally:
            with self._count:
                self.running -= 1


@pytest.mark.parametrize(("threads", "answering_at_once"), [(2, 1), (4, 2)])
def test_parts_run_side_by_side_when_idle_and_fewer_when_answering(
    threads: int, answering_at_once: int
) -> None:
    """All threads while idle; half of them (one of two) while requests are answered."""
    texts = [f"the user wrote note number {i} about a trip to the sea" for i in range(120)]
    foreground = Foreground(linger_s=0)
    idle = CountingEmbedder(foreground, threads)
    alone = idle.embed_sync(texts)
    assert (idle.most, idle.parts) == (min(threads, 4), 4)  # 120 texts of 14 tokens: 36 a part
    busy = CountingEmbedder(foreground, threads)
    foreground.enter()
    try:
        answering = busy.embed_sync(texts)
    finally:
        foreground.leave()
    assert (busy.most, busy.parts) == (answering_at_once, 4)
    assert np.array_equal(alone, answering)  # the same parts, the same vectors
