"""The connector registry. Built-in connectors register here exactly as outside ones would:
`register(MyConnector)` with a class implementing `parley.data.connectors.base.Connector`."""

from __future__ import annotations

from parley.data.connectors.base import BadCredential, Connector

_REGISTRY: dict[str, type[Connector]] = {}


def register(connector: type[Connector]) -> type[Connector]:
    """Add a connector class (usable as a decorator); its `type` is the key clients send."""
    _REGISTRY[connector.type.upper()] = connector
    return connector


def connector_class(connection_type: str) -> type[Connector]:
    found = _REGISTRY.get(str(connection_type).upper())
    if found is None:
        known = ", ".join(sorted(k for k, c in _REGISTRY.items() if c.user_creatable))
        raise BadCredential(f"unknown connection type {connection_type!r}; supported: {known}")
    return found


def connector_classes() -> list[type[Connector]]:
    """The connection types clients may create."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY) if _REGISTRY[k].user_creatable]


def _register_builtins() -> None:
    from parley.data.connectors.files import FileConnector
    from parley.data.connectors.internal import InternalConnector
    from parley.data.connectors.postgres import PostgresConnector
    from parley.data.connectors.sqlite import SqliteConnector

    for connector in (SqliteConnector, PostgresConnector, FileConnector, InternalConnector):
        register(connector)


_register_builtins()
