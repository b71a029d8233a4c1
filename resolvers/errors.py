"""CouchQueue's errors: one root, each subclass with a stable code.

Transports translate these: REST through one table of HTTP statuses (app/rest.py), GraphQL into
``extensions.code``. Storage backends translate their drivers' errors into these at their boundary.
"""

from __future__ import annotations


class CouchQueueError(Exception):
    """Root of every error CouchQueue reports to a client."""

    code = "COUCHQUEUE_ERROR"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidInput(CouchQueueError):
    """A parameter has the wrong type or an unacceptable value."""

    code = "INVALID_PARAMETER"


class MissingParameter(InvalidInput):
    code = "MISSING_PARAMETER"


class MalformedJson(InvalidInput):
    code = "MALFORMED_JSON"


class InvalidRegex(InvalidInput):
    code = "INVALID_REGEX"


class LimitExceeded(InvalidInput):
    """A value is well-formed but larger than a configured limit allows."""

    code = "LIMIT_EXCEEDED"


class PayloadTooLarge(CouchQueueError):
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(CouchQueueError):
    """A request body of a content type that is not accepted (JSON or a form are)."""

    code = "UNSUPPORTED_MEDIA_TYPE"


class NotFound(CouchQueueError):
    code = "NOT_FOUND"


class WorkerNotFound(NotFound):
    code = "WORKER_NOT_FOUND"


class TaskNotFound(NotFound):
    code = "TASK_NOT_FOUND"


class QueueNotFound(NotFound):
    code = "QUEUE_NOT_FOUND"


class ScheduleNotFound(NotFound):
    code = "SCHEDULE_NOT_FOUND"


class Conflict(CouchQueueError):
    code = "CONFLICT"


class NotTaskHolder(Conflict):
    """A worker reported a task it does not hold (never claimed it, or it has moved on)."""

    code = "NOT_TASK_HOLDER"


class TokenNotFound(NotFound):
    code = "TOKEN_NOT_FOUND"


class TokenExists(Conflict):
    """A token of that name exists already (names are unique; revoke it first)."""

    code = "TOKEN_EXISTS"


class Unauthenticated(CouchQueueError):
    """Auth is on and the request carries no token, or one the store does not hold."""

    code = "UNAUTHENTICATED"


class Forbidden(CouchQueueError):
    """The caller's token does not allow this operation, or the worker is another token's."""

    code = "FORBIDDEN"


class TooManyAttempts(CouchQueueError):
    """Too many requests with a bad token from one address: try again later."""

    code = "TOO_MANY_REQUESTS"


class TooManyWaiters(CouchQueueError):
    """As many long-poll claims (or waits for task outcomes) as the node allows are waiting
    already: try again shortly."""

    code = "TOO_MANY_WAITERS"


class StoreUnavailable(CouchQueueError):
    """The store could not be reached or answered with an error; retrying later may succeed."""

    code = "STORE_UNAVAILABLE"


class StoreNotReady(StoreUnavailable):
    """The store answers but must not take writes: its file was removed or replaced, it is
    corrupt, or it is full. ``reason`` says which in one word, ``location`` names the store
    (a file path, or a URL without credentials)."""

    code = "STORE_UNAVAILABLE"

    def __init__(self, message: str, *, reason: str, location: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.location = location
