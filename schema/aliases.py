"""Arguments renamed so that each concept has one name (`queue`, `workerId`, `taskId`): the old
name stays as a deprecated alias, so no client breaks. See docs/graphql.md.

GraphQL only lets an optional argument be deprecated, so both names are optional and
``renamed`` checks that one of them was given; the resolver refuses a missing value, naming
the new argument.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias, TypeVar

import strawberry

from resolvers.errors import InvalidInput

V = TypeVar("V")

# The old spellings, each typed as it was, marked with its replacement.
QueueName: TypeAlias = Annotated[str | None, strawberry.argument(deprecation_reason="Use `queue`.")]
WorkerIdAsId: TypeAlias = Annotated[
    strawberry.ID | None, strawberry.argument(deprecation_reason="Use `workerId`.")
]
TaskIdAsId: TypeAlias = Annotated[
    strawberry.ID | None, strawberry.argument(deprecation_reason="Use `taskId`.")
]


def renamed(new: str, new_value: V | None, old: str, old_value: V | None) -> tuple[V | None, str]:
    """The value given under the new name or its deprecated alias, and the name it came by (the
    parameter an error then names). Both at once are refused, even when equal."""
    if old_value is None:
        return new_value, new
    if new_value is not None:
        raise InvalidInput(f"give {new} or its deprecated alias {old}, not both", param=old)
    return old_value, old
