"""Peaka's /api/v1 as a `Family`: its modules make their routers with `family_router`."""

from __future__ import annotations

from parley.api.errors import COMMON_ERRORS, peaka_errors
from parley.api.family import Family

FAMILY = Family("/api/v1", peaka_errors(*COMMON_ERRORS))
family_router = FAMILY.router
