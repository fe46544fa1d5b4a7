"""Identifiers: user-chosen resource names and server-generated public ids."""

from __future__ import annotations

import os
import re

NAME_PATTERN = r"^[a-zA-Z0-9_-]+$"
NAME_RE = re.compile(NAME_PATTERN)
MAX_NAME_LENGTH = 512
MAX_CREATE_NAME_LENGTH = 100  # the create bodies of the 2.5.1 spec are stricter than paths

_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PUBLIC_ID_LENGTH = 21
# 64 symbols divide 256 evenly, so mapping each random byte onto the alphabet is unbiased.
_BYTE_TO_SYMBOL = bytes.maketrans(bytes(range(256)), (_ALPHABET * 4).encode())


def new_public_id() -> str:
    """A 21-character nanoid-style id (126 random bits, URL-safe)."""
    return os.urandom(PUBLIC_ID_LENGTH).translate(_BYTE_TO_SYMBOL).decode()


def is_valid_name(value: str) -> bool:
    return 0 < len(value) <= MAX_NAME_LENGTH and NAME_RE.match(value) is not None
