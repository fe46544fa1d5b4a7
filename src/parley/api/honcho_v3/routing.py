"""How a Honcho's /v3 module makes its router: at its full path, with the errors every
route of the family can answer, so that its routes are built once, as they are served
(`parley.api.route_table`; FastAPI builds a route again for each router that includes it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from parley.api.errors import COMMON_ERRORS, detail_errors

PREFIX = "/v3"


def family_router(prefix: str = "", **options: Any) -> APIRouter:
    """A module's router at `PREFIX` + `prefix`; `responses` add to the family's."""
    responses = {**detail_errors(*COMMON_ERRORS), **options.pop("responses", {})}
    return APIRouter(prefix=PREFIX + prefix, responses=responses, **options)
