"""Resources: a peer's card and a table's description, for clients that attach context by
URI. Each is read under the same checks as the tool that returns it."""

from __future__ import annotations

import json

from mcp.server.mcpserver import Context

from parley.api.deps import Scope
from parley.mcp_server.data_tools import table_description
from parley.mcp_server.reach import caller_of, resource_errors
from parley.memory import peer_cards

CARD = "parley://workspaces/{workspace_id}/peers/{peer_id}/card"
TABLE = (
    "parley://projects/{project_id}/catalogs/{catalog_id}/schemas/{schema_name}/tables/{table_name}"
)


async def peer_card(workspace_id: str, peer_id: str, ctx: Context) -> str:
    """The facts a peer's card holds about itself, as a JSON list (null: no card yet)."""
    with resource_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.PEER, workspace_id=workspace_id, peer_id=peer_id)
        async with caller.state.database.read() as db:
            card = await peer_cards.get_card(db, workspace_id, peer_id, peer_id)
        return json.dumps(card, ensure_ascii=False)


async def table_schema(
    project_id: str, catalog_id: str, schema_name: str, table_name: str, ctx: Context
) -> str:
    """A table's columns, descriptions, sample values and relations, as JSON."""
    with resource_errors():
        found = await table_description(
            caller_of(ctx), project_id, catalog_id, schema_name, table_name
        )
        return json.dumps(found, ensure_ascii=False, default=str)


RESOURCES = ((CARD, peer_card, "peer-card"), (TABLE, table_schema, "table-schema"))
