"""Honcho's /v2 API (2.5.1): thin translations onto the memory domain."""

from fastapi import APIRouter

from parley.api.errors import COMMON_ERRORS, detail_errors
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


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v2", responses=detail_errors(*COMMON_ERRORS))
    for module in (
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
    ):
        router.include_router(module.router)
    return router
