"""Building the Schema: types, operations, extensions and error handling in one place."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from schema.auth import protect
from schema.cost import measure
from schema.document_cache import CachedDocument, DocumentCache
from schema.errors import ErrorCodes, log_error
from schema.limits import GraphQLLimits, parse_limited
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
DEFAULT_CACHE_DOCUMENT_BYTES = 16 * 1024


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
    """ErrorCodes, the document limits and one parse-and-validation cache as one extension.

    Strawberry sets up every hook of every extension on every request: one extension costs a
    quarter of four. A document is parsed and checked against the limits (schema.limits) and
    the validation rules once; the cache, shared across requests, keeps the outcome by query
    text, bounded by bytes (schema.document_cache).
    """

    def __init__(self, limits: GraphQLLimits, cache: DocumentCache) -> None:
        super().__init__()
        self._limits = limits
        self._cache = cache
        self._entry: CachedDocument | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        assert query is not None  # Strawberry refuses a request without one before parsing
        entry = self._cache.get(query)
        if entry is None:
            entry = self._cache.put(query, parse_limited(query, self._limits.max_tokens))
        self._entry = entry
        context.graphql_document = entry.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        entry = self._entry
        assert entry is not None and entry.document is context.graphql_document
        if entry.errors is None or entry.rules != context.validation_rules:
            schema = context.schema._schema
            refused = measure(schema, entry.document, self._limits)
            entry.errors = (
                [refused]
                if refused is not None
                else validate_document(schema, entry.document, context.validation_rules)
            )
            entry.rules = context.validation_rules
        context.pre_execution_errors = entry.errors
        yield


def build_schema(
    limits: GraphQLLimits | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    cache_document_bytes: int = DEFAULT_CACHE_DOCUMENT_BYTES,
) -> strawberry.Schema:
    """The CouchQueue GraphQL schema.

    ``limits`` bounds what one document may ask for; the parse and validation cache holds at
    most ``cache_bytes`` (estimated) and no document longer than ``cache_document_bytes``.
    """
    hooks = partial(
        OperationHooks,
        limits or GraphQLLimits(),
        DocumentCache(max_bytes=cache_bytes, max_document_bytes=cache_document_bytes),
    )
    protect(Query, Mutation, Subscription)
    return CouchQueueSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=[hooks]
    )
