"""parley serve | worker | mcp | migrate | keys"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from parley.config import ENV_PREFIX, Settings, SettingsError


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable of a setting's error (a renamed one is located by it)."""
    name = "_".join(str(part) for part in loc).upper()
    return name if name.startswith(ENV_PREFIX) else f"{ENV_PREFIX}{name}"


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(f"{_variable(e['loc'])}: {e['msg']}" for e in err.errors())
        raise SystemExit(f"parley: invalid settings: {problems}") from err


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from parley.app import create_app
    from parley.banner import banner
    from parley.llm.roles import check_providers

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = _settings().model_copy(update=overrides)
    try:
        settings.check_serve_safety()
        check_providers(settings)
    except SettingsError as err:
        raise SystemExit(f"parley: {err}") from err
    print(banner(settings, os.environ), flush=True)
    startup = []
    if args.demo:
        from parley.demo.startup import demo_startup

        startup.append(demo_startup)
    uvicorn.run(
        create_app(settings, startup=startup),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        proxy_headers=False,
    )


def _worker(_: argparse.Namespace) -> None:
    import asyncio
    import contextlib
    import logging

    from parley.llm.roles import check_providers
    from parley.worker.setup import run_standalone

    settings = _settings()
    try:
        check_providers(settings)
    except SettingsError as err:
        raise SystemExit(f"parley: {err}") from err
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(run_standalone(settings))


def _mcp(args: argparse.Namespace) -> None:
    import asyncio
    import contextlib
    import logging

    from parley.llm.roles import check_providers
    from parley.mcp_server.stdio import KeyRefused, serve_stdio

    if not args.stdio:
        raise SystemExit("parley mcp: give --stdio (over HTTP, `parley serve` answers MCP at /mcp)")
    settings = _settings()
    try:
        check_providers(settings)
    except SettingsError as err:
        raise SystemExit(f"parley: {err}") from err
    # stdout is the protocol's: every log line goes to stderr
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(serve_stdio(settings, args.key or os.environ.get("PARLEY_MCP_KEY")))
    except KeyRefused as err:
        raise SystemExit(f"parley mcp: {err}") from err


def _migrate(_: argparse.Namespace) -> None:
    from parley.store import migrate

    settings = _settings()
    migrate.upgrade(settings.resolved_database_url)
    print(
        f"database at revision {migrate.current_revision_blocking(settings.resolved_database_url)}"
    )


def _parse_expiry(value: str) -> datetime:
    """An ISO 8601 date, or a duration such as 30m, 12h, 7d."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC) + timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither an ISO date nor a duration like 12h or 7d"
        ) from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _keys_create(args: argparse.Namespace) -> None:
    from parley.auth.keys import Principal, create_key
    from parley.errors import ParleyError

    if not args.admin and not args.workspace:
        raise SystemExit("parley keys create: give --admin or --workspace W")
    if args.admin and (args.workspace or args.peer or args.session):
        raise SystemExit("parley keys create: --admin takes no --workspace, --peer or --session")
    principal = Principal(
        admin=args.admin, workspace=args.workspace, peer=args.peer, session=args.session
    )
    try:
        print(create_key(principal, secret=_settings().signing_key, expires_at=args.expires))
    except ParleyError as err:
        raise SystemExit(f"parley keys create: {err.detail}") from err


def _partner(args: argparse.Namespace) -> None:
    """Peaka partner keys (every project of their organization) live in the database, hashed:
    migrate, then write."""
    import asyncio

    from sqlalchemy import select

    from parley.auth import peaka_keys
    from parley.data import organizations
    from parley.errors import ParleyError
    from parley.store import migrate
    from parley.store.data_models import ApiKey
    from parley.store.engine import create_database

    url = _settings().resolved_database_url
    migrate.upgrade(url)

    async def run() -> str:
        database = create_database(url)
        try:
            async with database.write() as db:
                if args.action == "create":
                    row, token = await peaka_keys.create_api_key(
                        db=db, project_id=None, name=args.name, expires_at=args.expires
                    )
                    org_id = args.organization
                    if args.new_organization:
                        org_id = (
                            await organizations.create_organization(
                                db=db, name=args.new_organization
                            )
                        ).id
                    if org_id is None:
                        return f"{token}\t{row.id}"  # the default organization's
                    await organizations.bind_key(db=db, api_key_id=row.id, organization_id=org_id)
                    return f"{token}\t{row.id}\t{org_id}"
                if args.action == "revoke":
                    await peaka_keys.delete_api_key(db=db, project_id=None, key_id=args.id)
                    return f"revoked {args.id}"
                rows = await db.scalars(select(ApiKey).where(ApiKey.project_id.is_(None)))
                return "\n".join(f"{r.id}\t{r.name}\t{r.expires_at or '-'}" for r in rows)
        finally:
            await database.dispose()

    try:
        out = asyncio.run(run())
    except ParleyError as err:
        raise SystemExit(f"parley keys partner: {err.detail}") from err
    if out:
        print(out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server (migrates the database first)")
    serve.add_argument("--host", help="override PARLEY_HOST")
    serve.add_argument("--port", type=int, help="override PARLEY_PORT")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="generate a demo retail database under the data directory (if absent) and load "
        "it as project 'demo'",
    )
    serve.set_defaults(func=_serve)

    worker = commands.add_parser(
        "worker", help="run a reasoning worker without HTTP (any number may share a database)"
    )
    worker.set_defaults(func=_worker)

    mcp = commands.add_parser(
        "mcp", help="serve the MCP tools over stdio, for a client that launches a local process"
    )
    mcp.add_argument("--stdio", action="store_true", help="speak MCP on stdin and stdout")
    mcp.add_argument(
        "--key", help="the API key the tools act with (default: PARLEY_MCP_KEY; needed with auth)"
    )
    mcp.set_defaults(func=_mcp)

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.set_defaults(func=_migrate)

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="print a new signed API key")
    create.add_argument("--admin", action="store_true", help="a key that reaches everything")
    create.add_argument("--workspace", help="the workspace the key is scoped to")
    scope = create.add_mutually_exclusive_group()
    scope.add_argument("--peer", help="narrow the key to one peer of the workspace")
    scope.add_argument("--session", help="narrow the key to one session of the workspace")
    create.add_argument(
        "--expires", type=_parse_expiry, help="expiry: ISO date or duration (30m, 12h, 7d)"
    )
    create.set_defaults(func=_keys_create)

    partner = keys.add_parser(
        "partner", help="Peaka partner keys (/api/v1, every project)"
    ).add_subparsers(dest="action", required=True)
    partner_create = partner.add_parser("create", help="print a new partner key and its id")
    partner_create.add_argument("--name", default="partner", help="a label for the key")
    partner_create.add_argument(
        "--expires", type=_parse_expiry, help="expiry: ISO date or duration (30m, 12h, 7d)"
    )
    belongs = partner_create.add_mutually_exclusive_group()
    belongs.add_argument(
        "--organization",
        help="the id of the organization the key belongs to (default: the default one)",
    )
    belongs.add_argument(
        "--new-organization",
        metavar="NAME",
        help="make a new organization of this name for the key (its id is printed third)",
    )
    partner_create.set_defaults(func=_partner)
    partner.add_parser("list", help="list partner keys (ids and names)").set_defaults(func=_partner)
    revoke = partner.add_parser("revoke", help="delete a partner key by id")
    revoke.add_argument("id")
    revoke.set_defaults(func=_partner)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
