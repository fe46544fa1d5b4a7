"""Honcho's /v3 API (3.0.12): thin translations onto the same memory domain as /v2, so a
workspace written through one family reads the same through the other."""

from parley.api.honcho_v3 import (
    chat,
    conclusions,
    keys,
    messages,
    peers,
    representation,
    search,
    session_context,
    sessions,
    status,
    webhooks,
    workspaces,
)

# the modules, in the order their routes are matched
MODULES = (
    workspaces,
    peers,
    chat,
    representation,
    sessions,
    session_context,
    messages,
    conclusions,
    search,
    status,
    keys,
    webhooks,
)
