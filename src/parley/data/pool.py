"""Open connectors, one per connection, built on first use and rebuilt when the connection's
credential changes; all closed when the server stops."""

from __future__ import annotations

import asyncio
from typing import Any

from parley.data.connectors import connector_class
from parley.data.connectors.base import Connector, ConnectorEnv


class ConnectorPool:
    def __init__(self, env: ConnectorEnv) -> None:
        self.env = env
        self._open: dict[str, tuple[str, Connector]] = {}
        self._lock = asyncio.Lock()

    def build(self, connection_type: str, credential: dict[str, Any], project_id: str) -> Connector:
        """A connector for one project: it may read that project's uploads, no other's."""
        return connector_class(connection_type).open(credential, self.env.for_project(project_id))

    def current(self, connection_id: str, version: str) -> Connector | None:
        """The open connector of this version of the connection, if there is one (no
        credential needed: the common case of every query after the first)."""
        found = self._open.get(connection_id)
        return found[1] if found is not None and found[0] == version else None

    async def get(
        self,
        *,
        connection_id: str,
        project_id: str,
        version: str,
        connection_type: str,
        credential: dict[str, Any],
    ) -> Connector:
        async with self._lock:
            found = self._open.get(connection_id)
            if found is not None and found[0] == version:
                return found[1]
            connector = self.build(connection_type, credential, project_id)
            self._open[connection_id] = (version, connector)
        if found is not None:
            await found[1].close()
        return connector

    async def forget(self, connection_id: str) -> None:
        async with self._lock:
            found = self._open.pop(connection_id, None)
        if found is not None:
            await found[1].close()

    async def close(self) -> None:
        async with self._lock:
            items = list(self._open.values())
            self._open.clear()
        for _, connector in items:
            await connector.close()
