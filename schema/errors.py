"""GraphQL errors as clients see them: a message and ``extensions.code``, once for every operation.

- An engine error (:class:`resolvers.errors.CouchQueueError`) keeps its message and carries its
  ``code`` and ``param``.
- A request the server cannot run (syntax, unknown field, wrong argument or variable type)
  keeps graphql-core's message, code GRAPHQL_PARSE_FAILED or GRAPHQL_VALIDATION_FAILED.
- A document past one of schema.limits' limits carries that limit's code (TOO_DEEP, ...).
- Anything else is a bug: logged with its traceback, answered as "internal error".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult, StreamExecutionResult

from resolvers.errors import CouchQueueError, StoreUnavailable

logger = logging.getLogger("couchqueue.graphql")

INTERNAL_ERROR = "INTERNAL_ERROR"
INTERNAL_MESSAGE = "internal error"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"

# Raised by Strawberry on purpose for its HTTP views to answer 400; not ours to rewrite.
_REQUEST_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


def error_code(error: GraphQLError) -> str:
    """The code a client sees for this error."""
    original = error.original_error
    if isinstance(original, CouchQueueError):
        return original.code
    if error.extensions and isinstance(error.extensions.get("code"), str):
        return str(error.extensions["code"])
    if isinstance(error, GraphQLSyntaxError):
        return PARSE_FAILED
    # Validation and variable coercion errors belong to the request, not to a field; a
    # GraphQLError raised during execution (argument coercion) is about the request too.
    if isinstance(original, GraphQLError) or (error.path is None and original is None):
        return VALIDATION_FAILED
    return INTERNAL_ERROR


def log_error(error: GraphQLError) -> None:
    """Log what an operator must see: bugs with their traceback, store outages."""
    original = error.original_error
    if isinstance(original, StoreUnavailable):
        logger.warning("store unavailable: %s", original.message)
    elif error_code(error) == INTERNAL_ERROR:
        where = ".".join(map(str, error.path)) if error.path else "operation"
        logger.error("GraphQL %s failed: %s", where, error.message, exc_info=original)


def client_error(error: GraphQLError) -> GraphQLError:
    """The error as the client sees it: message and extensions.code (and param)."""
    if error.extensions and "code" in error.extensions:
        return error
    code = error_code(error)
    original = error.original_error
    message = error.message
    extensions: dict[str, Any] = {"code": code}
    if isinstance(original, CouchQueueError):
        message = original.message
        extensions["param"] = original.param
    elif code == INTERNAL_ERROR:
        message = INTERNAL_MESSAGE
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions=extensions,
    )


def _rewrite(result: object) -> None:
    if isinstance(result, GraphQLExecutionResult | ExecutionResult) and result.errors:
        result.errors = [client_error(error) for error in result.errors]


class ErrorCodes(SchemaExtension):
    """Gives every error in a response its code and masks bugs (see the module docstring).

    schema.build's OperationHooks extends it; on its own, list it first among the schema's
    extensions, so that it wraps the others.
    """

    def __init__(self) -> None:
        super().__init__()
        self._streamed = False

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        try:
            yield
        except _REQUEST_ERRORS:
            raise
        except Exception as exc:
            # A failure outside field resolution (a validation rule, an extension): Strawberry
            # would answer str(exc). The error raised instead keeps exc for process_errors' log.
            if isinstance(exc, GraphQLError):
                raise client_error(exc) from None
            raise GraphQLError(
                INTERNAL_MESSAGE, original_error=exc, extensions={"code": INTERNAL_ERROR}
            ) from exc
        if self._streamed:
            return  # on_stream_result has rewritten each result already
        result = self.execution_context.result
        _rewrite(result)
        # Incremental delivery (@defer/@stream) is not enabled; rewrite its first part anyway.
        _rewrite(getattr(result, "initial_result", None))

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """Rewrite each result of a subscription (or an operation over a websocket)."""
        self._streamed = True
        _rewrite(result)
        yield
