"""Honcho's /v2 as a `Family`: its modules make their routers with `family_router`."""

from __future__ import annotations

from parley.api.errors import COMMON_ERRORS, detail_errors
from parley.api.family import Family

FAMILY = Family("/v2", detail_errors(*COMMON_ERRORS))
family_router = FAMILY.router
