"""Browser sessions: what a signed-in dashboard holds instead of its token's secret.

A session is ``NAME.EXPIRES.SIGNATURE``: the token's name, when the session ends (Unix
seconds), and an HMAC-SHA256 of both keyed by a key derived from the token's stored secret
hash. Nothing is written when a session opens, and every node that reads the same store
verifies it. The key belongs to one token: revoking the token (or making a new one under its
name, which has another secret) ends every session opened with it, on every node within the
token cache's age.

Anyone who can read the store's token records can therefore make sessions (they can not make
bearer secrets): the store is as sensitive as the sessions it keys.
"""

from __future__ import annotations

import hashlib
import hmac

from resolvers.access import ApiToken, Caller, parse_roles
from resolvers.context import Context
from resolvers.errors import Unauthenticated
from resolvers.tokens import RECHECK_SECONDS, authenticate, note_use

# Longest session value accepted: a 100-character name, a timestamp and 64 hex digits fit.
MAX_SESSION_CHARS = 200
_KEY_LABEL = b"couchqueue dashboard session v1"


def _signature(token: ApiToken, name: str, expires: int) -> str:
    key = hmac.new(bytes.fromhex(token.secret_hash), _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()


async def open_session(
    ctx: Context, credentials: str, lifetime: float
) -> tuple[Caller, str, int] | None:
    """Check ``credentials`` (``Bearer SECRET``) as a request's would be, and sign a session
    for its token lasting ``lifetime`` seconds: the caller, the session and when it ends. None
    while auth is off (there is nothing to sign in to). Raises Unauthenticated for an unknown
    token."""
    caller = await authenticate(ctx, credentials)
    if caller is None or caller.name is None:
        return None
    token = await _token_named(ctx, caller.name)
    if token is None:  # revoked in between
        raise Unauthenticated("unknown or revoked token")
    expires = int(ctx.clock() + lifetime)
    session = f"{caller.name}.{expires}.{_signature(token, caller.name, expires)}"
    return caller, session, expires


async def session_caller(ctx: Context, session: str) -> Caller:
    """The caller a session stands for. Raises Unauthenticated if it is malformed, tampered
    with, expired, or its token was revoked."""
    if len(session) > MAX_SESSION_CHARS:
        raise Unauthenticated("malformed session: sign in again")
    name, _, rest = session.rpartition(".")
    name, _, expires_text = name.rpartition(".")
    digits = expires_text.isascii() and expires_text.isdigit()
    if not name or not digits or len(expires_text) > 12:
        raise Unauthenticated("malformed session: sign in again")
    expires = int(expires_text)
    token = await _token_named(ctx, name)
    if token is None or not hmac.compare_digest(
        _signature(token, name, expires).encode(), rest.encode()
    ):
        raise Unauthenticated("session not valid (its token was revoked, or it was altered)")
    if expires <= ctx.clock():
        raise Unauthenticated("session expired: sign in again")
    await note_use(ctx, token)
    return Caller(name=token.name, roles=parse_roles(token.roles))


async def _token_named(ctx: Context, name: str) -> ApiToken | None:
    for max_age in (None, RECHECK_SECONDS):
        tokens = await ctx.tokens.current(ctx.store, max_age=max_age)
        for token in tokens.values():
            if token.name == name:
                return token
    return None
