"""Bearer tokens: creating and revoking them, knowing who a request comes from, and the rule
that a worker belongs to the token that registered it.

A token's secret is shown once, when it is made; the store keeps only its SHA-256 (a secret of
32 random bytes needs no slow hash: nothing short of the secret itself finds it). Every node
keeps its own copy of the token set for at most ``TokenCache.max_age`` seconds, so a token
created or revoked on one node is honoured by every other within that time. Auth is on as soon
as the store holds one token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from typing import Any

from resolvers.access import NOBODY, ApiToken, Caller, Role, allowed, parse_roles
from resolvers.context import Context
from resolvers.errors import (
    Forbidden,
    InvalidInput,
    TokenExists,
    TokenNotFound,
    Unauthenticated,
)
from resolvers.models import Worker
from resolvers.validation import required

SECRET_BYTES = 32
SECRET_PREFIX = "cq_"
# An unknown token makes the node read the token set again if its copy is older than this: a
# token made on another node a moment ago works at once, and bad tokens cannot make a node
# read the store more often than this.
RECHECK_SECONDS = 0.05
# last_used_at is kept to this many seconds: a token in use costs one write a minute per node.
LAST_USED_RESOLUTION = 60.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def auth_enabled(ctx: Context) -> bool:
    """Whether the store holds any token (then every request needs one)."""
    return bool(await ctx.tokens.current(ctx.store))


def bearer(credentials: Any) -> str | None:
    """The secret of an ``Authorization: Bearer SECRET`` value; None if it is not one."""
    if not isinstance(credentials, str):
        return None
    scheme, _, secret = credentials.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


async def authenticate(ctx: Context, credentials: Any) -> Caller | None:
    """The caller an Authorization value (``Bearer SECRET``) names: None while auth is off (no
    token in the store), else the token's Caller. Raises Unauthenticated when auth is on and
    ``credentials`` is missing or names no stored token. The secret is never logged nor put in
    an error."""
    tokens = await ctx.tokens.current(ctx.store)
    if not tokens:
        return None
    secret = bearer(credentials)
    if secret is None:
        raise Unauthenticated("this server needs a token: Authorization: Bearer SECRET")
    digest = secret_hash(secret)
    token = tokens.get(digest)
    if token is None:
        token = (await ctx.tokens.current(ctx.store, max_age=RECHECK_SECONDS)).get(digest)
    # The dictionary look-up finds the candidate; the comparison that decides is constant-time.
    if token is None or not hmac.compare_digest(token.secret_hash, digest):
        raise Unauthenticated("unknown or revoked token")
    await note_use(ctx, token)
    return Caller(name=token.name, roles=parse_roles(token.roles))


async def note_use(ctx: Context, token: ApiToken) -> None:
    """Keep the token's last use, to the minute."""
    now = ctx.clock()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        await ctx.store.token_used(token.name, now)


def as_caller(ctx: Context, caller: Caller | None) -> Context:
    """The engine context for one request of ``caller`` (the shared one while auth is off)."""
    return ctx if caller is None else dataclasses.replace(ctx, caller=caller)


def authorize(ctx: Context, operation: str) -> None:
    """Raise Forbidden (Unauthenticated for a connection that showed no token) unless the
    caller may run the operation (see access.OPERATION_ROLES)."""
    caller = ctx.caller
    if caller is None or allowed(caller, operation):
        return
    if caller is NOBODY:
        raise Unauthenticated("this server needs a token: Authorization: Bearer SECRET")
    raise Forbidden(f"token {caller.name!r} may not use {operation}")


def check_owner(ctx: Context, worker: Worker, param: str = "workerId") -> None:
    """A worker belongs to the token that registered it: any other non-admin token acting as
    it is refused."""
    caller = ctx.caller
    if caller is None or caller.is_admin or worker.owner == caller.name:
        return
    raise Forbidden(f"worker {worker.worker_id!r} belongs to another token", param=param)


async def check_owner_of(ctx: Context, worker_id: str, param: str = "workerId") -> None:
    """check_owner for a worker known by id (nothing to check if there is no such worker: the
    operation itself then says so)."""
    if ctx.caller is None or ctx.caller.is_admin:
        return
    worker = await ctx.store.get_worker(worker_id)
    if worker is not None:
        check_owner(ctx, worker, param)


# -- the tokens themselves ----------------------------------------------------------------------


def _roles(roles: Any) -> list[str]:
    required(roles, "roles")
    if isinstance(roles, str):
        roles = [roles]
    known = [role.value for role in Role]
    if not isinstance(roles, list) or not roles:
        raise InvalidInput(f"roles must be a non-empty list of: {', '.join(known)}", param="roles")
    chosen: list[str] = []
    for role in roles:
        if role not in known:
            raise InvalidInput(
                f"unknown role {role!r}: roles are {', '.join(known)}", param="roles"
            )
        if role not in chosen:
            chosen.append(role)
    return chosen


def _name(name: Any) -> str:
    required(name, "name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            "a token name is 1 to 100 letters, digits and . _ @ - (starting with a letter or "
            "digit)",
            param="name",
        )
    return name


async def create_token(ctx: Context, name: Any, roles: Any) -> tuple[ApiToken, str]:
    """A new token: its record and its secret, which is not kept and cannot be shown again."""
    token_name, chosen = _name(name), _roles(roles)
    secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    token = ApiToken(
        name=token_name, secret_hash=secret_hash(secret), roles=chosen, created_at=ctx.clock()
    )
    if not await ctx.store.add_token(token):
        raise TokenExists(f"a token named {token_name!r} exists already", param="name")
    ctx.tokens.forget()
    return token, secret


async def revoke_token(ctx: Context, name: Any) -> None:
    """Delete the token: on every node within the token cache's age, it opens nothing more."""
    token_name = _name(name)
    if not await ctx.store.delete_token(token_name):
        raise TokenNotFound(f"no token named {token_name!r}", param="name")
    ctx.tokens.forget()


async def list_tokens(ctx: Context) -> list[ApiToken]:
    """Every token, by name (hashes included: transports show only names, roles and times)."""
    return await ctx.store.list_tokens()
