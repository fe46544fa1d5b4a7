"""Webhook endpoints of a workspace, and the address rules they must follow."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import Conflict, InvalidInput, NotFound
from parley.ids import new_public_id
from parley.memory.pages import Page, paginate
from parley.memory.webhook_delivery import endpoint_deliveries
from parley.memory.workspaces import get_workspace
from parley.store.dml import execute_dml
from parley.store.models import WebhookEndpoint
from parley.store.queue import drop_open_units

MAX_URL_LENGTH = 2048
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


async def check_target(url: str, *, allow_private_hosts: bool) -> None:
    """Refuse URLs that are not http(s), or that reach private, loopback, link-local or other
    non-public addresses (every address the host resolves to), unless the operator allows it.

    The URL is parsed with httpx, the client that delivers, so the host checked here is the
    host that delivery connects to (no parser differential), and a URL httpx cannot use is
    refused now rather than failing at every delivery."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    host, port = _host_and_port(url)
    if allow_private_hosts:
        return
    for address in await _resolve(host, port):
        if not _is_public(address):
            raise InvalidInput(
                f"webhook URL {url} resolves to the non-public address {address}; "
                "set PARLEY_WEBHOOK_ALLOW_PRIVATE_HOSTS=true to allow private targets"
            )


def _host_and_port(url: str) -> tuple[str, int]:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as err:
        raise InvalidInput(f"webhook URL is not a valid URL: {err}") from err
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise InvalidInput("webhook URL must be an absolute http:// or https:// URL")
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port <= 65535:
        raise InvalidInput(f"webhook URL has an invalid port {port}")
    return parsed.raw_host.decode("ascii"), port


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global, and so is any IPv4 address embedded in an IPv6 one (mapped, NAT64, 6to4,
    Teredo), which some networks route to that IPv4 address."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address.teredo:
            embedded.append(address.teredo[1])
        if address in NAT64_PREFIX:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(ip is None or ip.is_global for ip in embedded)
    return True


async def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.split("%")[0])]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise InvalidInput(f"webhook host {host!r} cannot be resolved") from err
    if not infos:
        raise InvalidInput(f"webhook host {host!r} cannot be resolved")
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def find_endpoint(*, db: AsyncSession, workspace_id: str, url: str) -> WebhookEndpoint | None:
    """The workspace's endpoint for `url`, if it has one."""
    return await db.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.url == url
        )
    )


async def get_or_create_endpoint(
    *, db: AsyncSession, workspace_id: str, url: str, max_per_workspace: int
) -> WebhookEndpoint:
    await get_workspace(db=db, workspace_id=workspace_id)
    existing = await find_endpoint(db=db, workspace_id=workspace_id, url=url)
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
    """An unknown workspace has none (as in Honcho)."""
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.workspace_id == workspace_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return await paginate(db, stmt, page=page, size=size)


async def delete_endpoint(*, db: AsyncSession, workspace_id: str, endpoint_id: str) -> None:
    """Delete the endpoint and the deliveries to it not made yet."""
    result = await execute_dml(
        db,
        delete(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.id == endpoint_id
        ),
    )
    if result.rowcount == 0:
        raise NotFound(f"Webhook endpoint {endpoint_id} not found in workspace {workspace_id}")
    await drop_open_units(db, workspace_id, endpoint_deliveries(workspace_id, endpoint_id))
