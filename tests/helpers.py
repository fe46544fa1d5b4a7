"""Small helpers shared by test modules (fixtures stay in conftest.py)."""

from __future__ import annotations

from typing import Any


def ok(response: Any) -> Any:
    """The JSON body of a response that must be a 200 (the status and body in the message
    otherwise)."""
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()
