"""Bearer tokens over GraphQL (admin only): the `tokens` query, `createToken`, `revokeToken`.
Secrets are shown once, by createToken; nothing else ever returns one."""

from __future__ import annotations

import resolvers.tokens
from resolvers.access import ApiToken
from schema.context import Info, engine
from schema.declare import field, mutation, object_type


@object_type
class Token:
    """A bearer token: its name, roles and when it was made and last used (to the minute).
    Never its secret."""

    name: str
    roles: list[str]
    created_at: float
    last_used_at: float | None

    @classmethod
    def from_model(cls, token: ApiToken) -> Token:
        return cls(
            name=token.name,
            roles=list(token.roles),
            created_at=token.created_at,
            last_used_at=token.last_used_at,
        )


@object_type
class CreatedToken:
    """A new token and its secret: the only time the secret is shown. Send it as
    `Authorization: Bearer SECRET`."""

    token: Token
    secret: str


@object_type
class TokenQuery:
    @field
    async def tokens(self, info: Info) -> list[Token]:
        """Every token, by name."""
        return [Token.from_model(t) for t in await resolvers.tokens.list_tokens(engine(info))]


@object_type
class TokenMutation:
    @mutation
    async def create_token(self, info: Info, name: str, roles: list[str]) -> CreatedToken:
        """Make a token with these roles (publisher, worker, viewer, admin); its secret is in
        the answer, once. The first token turns auth on, on every node."""
        token, secret = await resolvers.tokens.create_token(engine(info), name, roles)
        return CreatedToken(token=Token.from_model(token), secret=secret)

    @mutation
    async def revoke_token(self, info: Info, name: str) -> bool:
        """Delete the token: within half a second no node accepts it."""
        await resolvers.tokens.revoke_token(engine(info), name)
        return True
