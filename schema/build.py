"""Building the Schema: types, operations, extensions and error handling in one place."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from schema.errors import ErrorCodes, log_error
from schema.limits import depth_limit_rule
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

DEFAULT_MAX_DEPTH = 10
DEFAULT_CACHE_SIZE = 1024


class CouchQueueSchema(strawberry.Schema):
    """The Strawberry schema, logging only what an operator must see.

    Strawberry logs every error, client mistakes included, with a traceback; here bugs are
    logged with theirs and engine errors, which the client is told about, are not.
    """

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            log_error(error)


def build_schema(
    max_depth: int = DEFAULT_MAX_DEPTH, cache_size: int = DEFAULT_CACHE_SIZE
) -> strawberry.Schema:
    """The CouchQueue GraphQL schema.

    ``max_depth`` bounds how deeply an operation may nest; ``cache_size`` is how many distinct
    documents the parse and validation caches keep.
    """
    depth_rule = depth_limit_rule(max_depth)
    extensions: list[Callable[[], SchemaExtension]] = [
        ErrorCodes,  # first, so that it wraps the others and sees their errors
        partial(ParserCache, maxsize=cache_size),
        partial(AddValidationRules, [depth_rule]),
        partial(ValidationCache, maxsize=cache_size),
    ]
    return CouchQueueSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )
