"""Peaka's Gateway API (/api/v1): projects, keys, connections, catalogs, metadata, queries."""

from fastapi import APIRouter

from parley.api.peaka_v1 import catalogs, connections, metadata, projects, queries


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    # routes are matched in order, one by one: the hot path (queries/execute) goes first
    for module in (queries, projects, connections, catalogs, metadata):
        router.include_router(module.router)
    return router
