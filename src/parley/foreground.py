"""Whether requests are being served: background work gives way to them.

On a small machine the embedding indexer's and the worker's batches of the bundled model can
take every core, and a search, a chat or a context read served meanwhile took 3-5 times its
idle time (bench/search.py --drain). `ForegroundMiddleware` (parley.api.foreground) counts the
requests between their arrival and the start of their response; `LocalEmbedder` asks `busy()`
before each part of a batch and runs on half its threads (one of two cores) while requests
are being answered, on all of them when none is (nor was in the last `LINGER_S`).

A request stops counting when its response starts: a long stream (a chat's SSE, an MCP
client's open GET, a Trino long poll) does its work before that or waits on something else,
and must not hold background work back for as long as it stays open.
"""

from __future__ import annotations

import time

LINGER_S = 0.2  # the gap between one client's requests back to back is well under this


class Foreground:
    def __init__(self, linger_s: float = LINGER_S) -> None:
        self.linger_s = linger_s
        self._active = 0
        self._last = float("-inf")

    def enter(self) -> None:
        self._active += 1

    def leave(self) -> None:
        self._active -= 1
        self._last = time.monotonic()

    @property
    def active(self) -> int:
        return self._active

    def busy(self) -> bool:
        """Requests are being answered, or were a moment ago (read from any thread)."""
        return self._active > 0 or time.monotonic() - self._last < self.linger_s


FOREGROUND = Foreground()  # the process's: one embedder and one app serve it
