"""How a Strawberry resolver reaches the engine: the app puts it in the context under "cq"."""

from __future__ import annotations

from typing import Any, TypeAlias

import strawberry

from resolvers.context import Context

# The app builds the GraphQL context as {"request": ..., "response": ..., "cq": Context}.
Info: TypeAlias = strawberry.Info[dict[str, Any], None]


def engine(info: Info) -> Context:
    """The engine context of this request."""
    ctx = info.context["cq"]
    if not isinstance(ctx, Context):
        raise TypeError(f'GraphQL context["cq"] must be a resolvers Context, not {type(ctx)!r}')
    return ctx
