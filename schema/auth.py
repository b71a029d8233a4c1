"""Each root field checks its caller's roles as it runs: a field the caller's token may not use
fails with extensions.code FORBIDDEN, the rest of the operation runs. Which role each field
needs is resolvers/access.py's table, keyed by the field's coordinate (``Mutation.publishTask``).

Only root fields carry the check (protect): nested fields belong to what their root returned.
"""

from __future__ import annotations

import inspect
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.str_converters import to_camel_case

from resolvers.tokens import authorize
from schema.context import Info, engine


class Authorize(FieldExtension):
    """Refuses the field unless the caller may run ``operation``."""

    def __init__(self, operation: str) -> None:
        self.operation = operation

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        authorize(engine(info), self.operation)
        result = next_(source, info, **kwargs)
        # A subscription's resolver gives an async generator, not an awaitable.
        if inspect.isasyncgen(result):
            return result
        return await result


def protect(*root_types: type) -> None:
    """Give every field of these root types (Query, Mutation, Subscription) its Authorize, once
    (the types are module-level: a schema built again finds them protected)."""
    for root in root_types:
        definition: StrawberryObjectDefinition = root.__strawberry_definition__  # type: ignore[attr-defined]
        for spec in definition.fields:
            if any(isinstance(e, Authorize) for e in spec.extensions):
                continue
            name = spec.graphql_name or to_camel_case(spec.python_name)
            spec.extensions.append(Authorize(f"{definition.name}.{name}"))
