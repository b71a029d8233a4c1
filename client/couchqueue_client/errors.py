"""Errors the client raises: the server's own ({"error": {code, message, param}} with a 4xx or
5xx status) and the client's for a server it cannot reach or cannot understand."""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

import httpx

from couchqueue_client.models import Task
from couchqueue_client.tls import CA_HINT, verification_failure

RETRYABLE_CODES = frozenset({"UNAVAILABLE", "STORE_UNAVAILABLE", "INTERNAL_ERROR"})


class CouchQueueError(Exception):
    """An error answered by the server, or ``UNAVAILABLE`` / ``BAD_RESPONSE`` from the client.

    ``code`` is the server's stable error code (``WORKER_NOT_FOUND``, ``INVALID_PARAMETER``,
    ...), ``param`` the parameter it names (or None), ``status`` the HTTP status (None when no
    answer came)."""

    def __init__(
        self, code: str, message: str, param: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(f"{code}: {message}" + (f" (param {param})" if param else ""))
        self.code = code
        self.message = message
        self.param = param
        self.status = status

    @property
    def retryable(self) -> bool:
        """True when trying again later may succeed: no answer, or a 5xx (store unavailable)."""
        return self.code in RETRYABLE_CODES or (self.status is not None and self.status >= 500)

    @classmethod
    def from_body(cls, body: Any, status: int | None) -> CouchQueueError:
        """From the server's ``{"error": {code, message, param}}`` (or something else)."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls("BAD_RESPONSE", f"unexpected error body: {str(body)[:200]}", None, status)
        return cls(
            str(error.get("code") or "ERROR"),
            str(error.get("message") or ""),
            error.get("param") if isinstance(error.get("param"), str) else None,
            status,
        )


class Unavailable(CouchQueueError):
    """The server could not be reached, or the connection broke before an answer came."""

    def __init__(self, message: str) -> None:
        super().__init__("UNAVAILABLE", message, None, None)


class WaitTimeout(CouchQueueError, TimeoutError):
    """Some tasks waited for (``publish(wait=)``, ``wait_for``) had not finished when the time
    was up: ``pending`` holds them as last seen (their ids in the message), ``finished`` the
    others. Also a TimeoutError."""

    def __init__(self, pending: list[Task], finished: list[Task]) -> None:
        names = ", ".join(f"{task.task_id} ({task.queue}, {task.state})" for task in pending)
        total = len(pending) + len(finished)
        super().__init__("WAIT_TIMEOUT", f"{len(pending)} of {total} tasks not finished: {names}")
        self.pending = pending
        self.finished = finished


class CertificateError(CouchQueueError):
    """The server's TLS certificate did not verify: not retried, since trying again will not
    change it (a wrong or missing CA file, or a certificate for another name)."""

    def __init__(self, where: str, failure: ssl.SSLCertVerificationError) -> None:
        reason = failure.verify_message or failure.reason or str(failure)
        super().__init__(
            "CERTIFICATE_ERROR",
            f"{where}: the server's certificate did not verify ({reason}); " + CA_HINT,
        )


def decode(response: httpx.Response) -> Any:
    """The JSON of a successful answer; a CouchQueueError for an error answer."""
    try:
        body = response.json()
    except ValueError:
        text = response.text[:200]
        message = f"HTTP {response.status_code}, not JSON: {text!r}"
        raise CouchQueueError("BAD_RESPONSE", message, None, response.status_code) from None
    if response.is_error:
        raise CouchQueueError.from_body(body, response.status_code)
    return body


def transport_error(exc: httpx.TransportError, method: str, url: str) -> CouchQueueError:
    failure = verification_failure(exc)
    if failure is not None:
        with contextlib.suppress(RuntimeError):  # the whole URL: which server's certificate
            url = str(exc.request.url)
        return CertificateError(f"{method} {url}", failure)
    return Unavailable(f"{method} {url}: {type(exc).__name__}: {exc}")
