"""The OAuth2 callback of a connection flow (`POST /api/v1/connections/{projectId}/oauth2`).

The client passes the query string its redirection received. `state` names the connector type
the flow is for, and optionally the connection's name (`<type>` or `<type>:<name>`); the grant
(`code` and the other parameters, `state` excepted) is stored sealed with the credentials key,
like a connection's credential, for that connector type to exchange. No built-in connector
uses OAuth2 yet: this stores the grant and answers; an `error` from the provider is a 400."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs

from parley.data.connections import DataServices
from parley.data.projects import get_project
from parley.errors import BadRequest, InvalidInput
from parley.store.org_models import OAuth2Grant

CONNECTOR_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
MAX_PARAMETERS = 50


def parse_callback(query: str) -> tuple[str, str, dict[str, str]]:
    """(connector type, connection name, grant) from the redirection's query string."""
    text = query.strip()
    if "?" in text:  # a whole redirection URL: its query
        text = text.split("?", 1)[1]
    text = text.split("#", 1)[0]
    try:
        fields = parse_qs(
            text, strict_parsing=True, keep_blank_values=True, max_num_fields=MAX_PARAMETERS
        )
    except ValueError as err:
        raise InvalidInput(f"queryParameters is not a query string: {err}") from err
    params: dict[str, str] = {}
    for key, values in fields.items():
        if len(values) != 1:
            raise InvalidInput(f"queryParameters names {key!r} more than once")
        params[key] = values[0]
    if "error" in params:
        described = params.get("error_description")
        raise BadRequest(
            f"the OAuth2 provider refused the authorization: {params['error']}"
            + (f" ({described})" if described else "")
        )
    state = params.pop("state", "")
    if not params.get("code"):
        raise InvalidInput("queryParameters has no 'code': pass the redirection's whole query")
    if not state:
        raise InvalidInput("queryParameters has no 'state' naming the connector type")
    kind, _, name = state.partition(":")
    if not CONNECTOR_TYPE.match(kind):
        raise InvalidInput(f"state {state!r} does not start with a connector type")
    name = name or f"{kind}-oauth2"
    if len(name) > 200:
        raise InvalidInput("the connection name in state is longer than 200 characters")
    return kind, name, params


async def store_grant(services: DataServices, *, project_id: str, query: str) -> OAuth2Grant:
    kind, name, grant = parse_callback(query)
    async with services.database.write() as db:
        await get_project(db=db, project_id=project_id)
        row = OAuth2Grant(
            id=str(uuid.uuid4()),
            project_id=project_id,
            connector_type=kind,
            name=name,
            grant=services.box.seal(grant),
        )
        db.add(row)
        await db.flush()
        return row
