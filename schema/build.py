"""Building the Schema: types, operations, extensions and error handling in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import strawberry
from graphql import ASTValidationRule, DocumentNode, GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from schema.auth import protect
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


class OperationHooks(ErrorCodes):
    """ErrorCodes, Strawberry's parse and validation caches and the depth rule as one
    extension. Strawberry sets up every hook of every extension on every request: one
    extension costs a quarter of four. The caches are those ParserCache and ValidationCache
    keep, shared across requests."""

    def __init__(
        self,
        parse: Callable[..., DocumentNode],
        validate: Callable[..., list[GraphQLError]],
        rules: tuple[type[ASTValidationRule], ...],
    ) -> None:
        super().__init__()
        self._parse = parse
        self._validate = validate
        self._rules = rules

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, *self._rules)
        yield from super().on_operation()

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.graphql_document = self._parse(context.query, **context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.pre_execution_errors = self._validate(
            context.schema._schema, context.graphql_document, context.validation_rules
        )
        yield


def build_schema(
    max_depth: int = DEFAULT_MAX_DEPTH, cache_size: int = DEFAULT_CACHE_SIZE
) -> strawberry.Schema:
    """The CouchQueue GraphQL schema.

    ``max_depth`` bounds how deeply an operation may nest; ``cache_size`` is how many distinct
    documents the parse and validation caches keep.
    """
    hooks = partial(
        OperationHooks,
        ParserCache(maxsize=cache_size).cached_parse_document,
        ValidationCache(maxsize=cache_size).cached_validate_document,
        (depth_limit_rule(max_depth),),
    )
    protect(Query, Mutation, Subscription)
    return CouchQueueSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=[hooks]
    )
