"""Honcho's /v2 API (2.5.1): thin translations onto the memory domain."""

from fastapi.routing import APIRoute

from parley.api.honcho_v2 import (
    dialectic,
    keys,
    messages,
    observations,
    peers,
    reasoning,
    search,
    sessions,
    status,
    webhooks,
    workspaces,
)

# the modules, in the order their routes are matched
MODULES = (
    workspaces,
    peers,
    sessions,
    messages,
    search,
    keys,
    webhooks,
    status,
    observations,
    reasoning,
    dialectic,
)


def routes() -> list[APIRoute]:
    """Every route of the family, at its full path (each module's router has it: `routing`)."""
    found: list[APIRoute] = []
    for module in MODULES:
        for route in module.router.routes:
            assert isinstance(route, APIRoute), route
            found.append(route)
    return found
