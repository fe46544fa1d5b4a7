"""Honcho's /v3 API (3.0.12): thin translations onto the same memory domain as /v2, so a
workspace written through one family reads the same through the other."""

from fastapi import APIRouter

from parley.api.errors import COMMON_ERRORS, detail_errors
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


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v3", responses=detail_errors(*COMMON_ERRORS))
    for module in (
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
    ):
        router.include_router(module.router)
    return router
