"""Small helpers shared by test modules (fixtures stay in conftest.py)."""

from __future__ import annotations

from typing import Any

from conftest import TEST_SECRET
from parley.auth.keys import ADMIN, create_key

# An admin JWT: on /api/v1 it is the partner key that creates and lists projects.
PARTNER = {"Authorization": f"Bearer {create_key(ADMIN, secret=TEST_SECRET)}"}


def ok(response: Any) -> Any:
    """The JSON body of a response that must be a 200 (the status and body in the message
    otherwise)."""
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()
