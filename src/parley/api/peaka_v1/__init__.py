"""Peaka's Gateway API (/api/v1): projects, keys, connections, catalogs, metadata, queries,
and the data agent."""

from parley.api.peaka_v1 import (
    agent,
    caches,
    catalogs,
    connections,
    drivers,
    exports,
    internal_tables,
    metadata,
    organizations,
    projects,
    queries,
    query_folders,
    refresh_callback,
    semantic_catalogs,
    small_routes,
    ui_session,
)

# routes are matched in order, one by one: the hot path (queries/execute) goes first (after
# query_folders' few routes, none of which is a POST it could match)
MODULES = (
    query_folders,  # before queries: its GET queries/{query_id} would take "folders"
    queries,
    projects,
    small_routes,
    connections,
    catalogs,
    refresh_callback,  # before metadata: its /refresh/{catalog_id} would take "callback"
    metadata,
    agent,
    drivers,
    organizations,
    ui_session,
    internal_tables,
    exports,
    caches,
    semantic_catalogs,
)
