"""`couchqueue token create | list | revoke`: bearer tokens, straight in the store named by
--store / COUCHQUEUE_STORE (as `serve` uses it), so the first token can be made before any
node runs. `create` prints the secret alone on one line of stdout, once.

Exit status: 0 done; 2 a bad request (unknown role, a name in use or malformed); 1 anything
else (no such token, the store unavailable)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from app.settings import Settings, env_name
from app.store import open_store
from resolvers import tokens
from resolvers.access import Role
from resolvers.context import Context
from resolvers.errors import Conflict, CouchQueueError, InvalidInput


def add_arguments(parser: argparse.ArgumentParser) -> None:
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--store",
        default=None,
        help=f"store URL [env {env_name('store')}; default {Settings().store}]",
    )
    commands = parser.add_subparsers(dest="token_command", required=True)
    create = commands.add_parser(
        "create", parents=[store], help="make a token and print its secret (once)"
    )
    create.add_argument("--name", required=True, help="the token's name (unique)")
    create.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=[role.value for role in Role],
        help="a role the token holds (repeat for several)",
    )
    commands.add_parser("list", parents=[store], help="names, roles, created, last used")
    revoke = commands.add_parser("revoke", parents=[store], help="delete a token")
    revoke.add_argument("name", help="the token's name")


def main(args: argparse.Namespace) -> int:
    settings = Settings.from_env(store=args.store)
    try:
        return asyncio.run(_run(args, settings.store))
    except (InvalidInput, Conflict) as exc:
        print(f"couchqueue token {args.token_command}: {exc.message}", file=sys.stderr)
        return 2
    except CouchQueueError as exc:
        print(f"couchqueue token {args.token_command}: {exc.message}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, url: str) -> int:
    store = await open_store(url)
    try:
        ctx = Context(store=store)
        if args.token_command == "create":
            _, secret = await tokens.create_token(ctx, args.name, args.roles)
            print(secret, flush=True)
        elif args.token_command == "list":
            rows = [("NAME", "ROLES", "CREATED", "LAST USED")]
            for token in await tokens.list_tokens(ctx):
                rows.append(
                    (
                        token.name,
                        ",".join(token.roles),
                        _when(token.created_at),
                        _when(token.last_used_at),
                    )
                )
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            for row in rows:
                cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
                print("  ".join([*cells, row[3]]).rstrip())
        else:
            await tokens.revoke_token(ctx, args.name)
            print(f"revoked {args.name}")
        return 0
    finally:
        await store.close()


def _when(at: float | None) -> str:
    if at is None:
        return "never"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


async def store_has_tokens(url: str) -> bool:
    store = await open_store(url)
    try:
        return bool(await store.list_tokens())
    finally:
        await store.close()
