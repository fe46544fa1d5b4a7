"""v3's get-or-create answers 201 when it created the resource and 200 when it existed."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from fastapi import Response

from parley.errors import NotFound


def created_responses(model: Any) -> dict[int | str, dict[str, Any]]:
    return {201: {"model": model, "description": "Created: the resource did not exist."}}


async def existed(lookup: Awaitable[Any]) -> bool:
    try:
        await lookup
    except NotFound:
        return False
    return True


def answer_created(response: Response, *, existed: bool) -> None:
    response.status_code = 200 if existed else 201
