"""An API family (Honcho's /v2 and /v3, Peaka's /api/v1): its modules' routers are made at
the full path with the errors every route of the family can answer, so the routes they build
are the ones served (`parley.api.route_table`; FastAPI builds a route again for each router
that includes it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute


@dataclass(frozen=True)
class Family:
    prefix: str
    responses: dict[int | str, dict[str, Any]]

    def router(self, prefix: str = "", **options: Any) -> APIRouter:
        """A module's router at the family's prefix + `prefix`; `responses` add to the
        family's."""
        responses = {**self.responses, **options.pop("responses", {})}
        return APIRouter(prefix=self.prefix + prefix, responses=responses, **options)


def routes_of(routers: Iterable[APIRouter]) -> tuple[APIRoute, ...]:
    """Every route of the routers, in order: routers with nothing included, whose routes are
    already at their full path (a family's modules', made with `Family.router`)."""
    found: list[APIRoute] = []
    for router in routers:
        for route in router.routes:
            assert isinstance(route, APIRoute), route
            found.append(route)
    return tuple(found)
