"""Honcho's /v2 API (2.5.1): thin translations onto the memory domain."""

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
