"""Peaka's Gateway API (/api/v1): projects, keys, connections, catalogs, metadata, queries."""

from fastapi import APIRouter

from parley.api.peaka_v1 import catalogs, connections, metadata, projects, queries


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    for module in (projects, connections, catalogs, queries, metadata):
        router.include_router(module.router)
    return router
