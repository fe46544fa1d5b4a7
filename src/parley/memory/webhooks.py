"""Webhook endpoints of a workspace, and the address rules they must follow."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import Conflict, InvalidInput, NotFound
from parley.ids import new_public_id
from parley.memory.pages import Page, paginate
from parley.memory.workspaces import get_workspace
from parley.store.models import WebhookEndpoint

MAX_URL_LENGTH = 2048


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse URLs that are not http(s), or that reach private, loopback, link-local or other
    non-public addresses (every address the host resolves to), unless the operator allows it."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("webhook URL must be an absolute http:// or https:// URL")
    if allow_private:
        return
    for address in await _resolve(parts.hostname, parts.port):
        if not address.is_global:
            raise InvalidInput(
                f"webhook URL {url} resolves to the non-public address {address}; "
                "set PARLEY_WEBHOOK_ALLOW_PRIVATE=true to allow private targets"
            )


async def _resolve(
    host: str, port: int | None
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port or 443, type=socket.SOCK_STREAM
        )
    except OSError as err:
        raise InvalidInput(f"webhook host {host!r} cannot be resolved") from err
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


async def get_or_create_endpoint(
    *, db: AsyncSession, workspace_id: str, url: str, max_per_workspace: int
) -> WebhookEndpoint:
    await get_workspace(db=db, workspace_id=workspace_id)
    existing = await db.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.url == url
        )
    )
    if existing is not None:
        return existing
    count = await db.scalar(
        select(func.count()).where(WebhookEndpoint.workspace_id == workspace_id)
    )
    if (count or 0) >= max_per_workspace:
        raise Conflict(
            f"workspace {workspace_id} already has {count} webhook endpoints "
            f"(the limit is {max_per_workspace}); delete one first"
        )
    endpoint = WebhookEndpoint(id=new_public_id(), workspace_id=workspace_id, url=url)
    db.add(endpoint)
    await db.flush()
    return endpoint


async def list_endpoints(
    *, db: AsyncSession, workspace_id: str, page: int, size: int
) -> Page[WebhookEndpoint]:
    await get_workspace(db=db, workspace_id=workspace_id)
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.workspace_id == workspace_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return await paginate(db, stmt, page=page, size=size)


async def endpoint_urls(*, db: AsyncSession, workspace_id: str) -> list[str]:
    rows = await db.scalars(
        select(WebhookEndpoint.url).where(WebhookEndpoint.workspace_id == workspace_id)
    )
    return list(rows.all())


async def delete_endpoint(*, db: AsyncSession, workspace_id: str, endpoint_id: str) -> None:
    result = await db.execute(
        delete(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.id == endpoint_id
        )
    )
    if result.rowcount == 0:
        raise NotFound(f"Webhook endpoint {endpoint_id} not found in workspace {workspace_id}")
