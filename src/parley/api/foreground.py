"""Counts the requests being answered into `parley.foreground.FOREGROUND` (see there)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from parley.foreground import FOREGROUND, Foreground


class ForegroundMiddleware:
    def __init__(self, app: ASGIApp, *, foreground: Foreground = FOREGROUND) -> None:
        self.app = app
        self.foreground = foreground

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        foreground = self.foreground
        counted = True
        foreground.enter()

        async def watching_send(message: Message) -> None:
            nonlocal counted
            if counted and message["type"] == "http.response.start":
                counted = False
                foreground.leave()
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            if counted:
                foreground.leave()
