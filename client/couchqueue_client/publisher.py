"""Publishers: ``Publisher`` (sync, httpx.Client) and ``AsyncPublisher`` (httpx.AsyncClient),
sharing how requests are built and answers read.

``set_interests`` says which events a queue takes (a queue gets tasks only once it has
interests); ``delete_interests`` stops that. ``publish`` raises CouchQueueError for an error
answer (or Unavailable when the server cannot be reached). ``publish_many`` sends PUT /tasks in
chunks and answers one item per event: its PublishResult, or the CouchQueueError that event
alone got. For an https:// server, ``ca_file`` names the CA certificate(s) to verify it with
(PEM; without it, httpx's default CAs); a certificate that does not verify raises
CertificateError.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from couchqueue_client.errors import CouchQueueError
from couchqueue_client.http import DEFAULT_TIMEOUT, client_options, send, send_async
from couchqueue_client.models import Event, PublishResult, Scope, default_name
from couchqueue_client.tls import verify_context

# Events per PUT /tasks request (the server accepts up to its max batch, 1000 by default).
CHUNK = 500

EventLike = Event | Mapping[str, Any]
# A queue's interests: "*" (every event) or {field: regex}, any field matching (OR).
Interests = str | Mapping[str, str]


class _Requests:
    """The request bodies and answer parsing both publishers share."""

    def __init__(self, publisher: str | None) -> None:
        self.publisher = publisher or default_name()

    def one(
        self,
        data: Mapping[str, Any],
        publisher: str | None,
        run_at: float | dt.datetime | None,
        scope: Scope,
        singularly_enqueue: bool,
        singularly_run: bool,
        unique_key: str | None,
    ) -> dict[str, Any]:
        event = Event(
            data, publisher, run_at, scope, singularly_enqueue, singularly_run, unique_key
        )
        return event.to_json(self.publisher)

    def chunks(self, events: Iterable[EventLike]) -> list[list[dict[str, Any]]]:
        bodies = [as_event(event).to_json(self.publisher) for event in events]
        return [bodies[i : i + CHUNK] for i in range(0, len(bodies), CHUNK)]

    @staticmethod
    def results(answer: Any, expected: int) -> list[PublishResult | CouchQueueError]:
        if not isinstance(answer, list) or len(answer) != expected:
            raise CouchQueueError("BAD_RESPONSE", f"expected {expected} results: {answer!r:.200}")
        return [
            CouchQueueError.from_body(item, None)
            if "error" in item
            else PublishResult.from_json(item)
            for item in answer
        ]


def as_event(event: EventLike) -> Event:
    """An Event, or a mapping of ``publish``'s keyword arguments (data, publisher, run_at, ...)."""
    return event if isinstance(event, Event) else Event(**event)


class Publisher:
    """Publishes events over HTTP, synchronously. Usable as a context manager (closes the
    connection pool)."""

    def __init__(
        self,
        url: str,
        *,
        publisher: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        token: str | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self._requests = _Requests(publisher)
        options = client_options(url, timeout, token, verify_context(ca_file))
        self._client = client or httpx.Client(**options)

    @property
    def publisher(self) -> str:
        return self._requests.publisher

    def publish(
        self,
        data: Mapping[str, Any],
        publisher: str | None = None,
        run_at: float | dt.datetime | None = None,
        scope: Scope = "any",
        singularly_enqueue: bool = False,
        singularly_run: bool = False,
        unique_key: str | None = None,
    ) -> PublishResult:
        body = self._requests.one(
            data, publisher, run_at, scope, singularly_enqueue, singularly_run, unique_key
        )
        return PublishResult.from_json(send(self._client, "PUT", "/task", json=body))

    def set_interests(self, queue: str, interests: Interests) -> Interests:
        """Replace the queue's interests (creating the queue); answers them as stored."""
        body = {"queue": queue, "interests": interests}
        answer: Interests = send(self._client, "PUT", "/interest", json=body)["interests"]
        return answer

    def delete_interests(self, queue: str) -> int:
        """Remove the queue's interests (its tasks stay); answers how many there were."""
        deleted: int = send(self._client, "DELETE", "/interest", params={"queue": queue})["deleted"]
        return deleted

    def publish_many(self, events: Iterable[EventLike]) -> list[PublishResult | CouchQueueError]:
        out: list[PublishResult | CouchQueueError] = []
        for chunk in self._requests.chunks(events):
            answer = send(self._client, "PUT", "/tasks", json=chunk)
            out.extend(self._requests.results(answer, len(chunk)))
        return out

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncPublisher:
    """Publishes events over HTTP from asyncio code. ``async with`` closes the pool."""

    def __init__(
        self,
        url: str,
        *,
        publisher: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        token: str | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._requests = _Requests(publisher)
        options = client_options(url, timeout, token, verify_context(ca_file))
        self._client = client or httpx.AsyncClient(**options)

    @property
    def publisher(self) -> str:
        return self._requests.publisher

    async def publish(
        self,
        data: Mapping[str, Any],
        publisher: str | None = None,
        run_at: float | dt.datetime | None = None,
        scope: Scope = "any",
        singularly_enqueue: bool = False,
        singularly_run: bool = False,
        unique_key: str | None = None,
    ) -> PublishResult:
        body = self._requests.one(
            data, publisher, run_at, scope, singularly_enqueue, singularly_run, unique_key
        )
        return PublishResult.from_json(await send_async(self._client, "PUT", "/task", json=body))

    async def set_interests(self, queue: str, interests: Interests) -> Interests:
        """Replace the queue's interests (creating the queue); answers them as stored."""
        body = {"queue": queue, "interests": interests}
        answer = await send_async(self._client, "PUT", "/interest", json=body)
        stored: Interests = answer["interests"]
        return stored

    async def delete_interests(self, queue: str) -> int:
        """Remove the queue's interests (its tasks stay); answers how many there were."""
        answer = await send_async(self._client, "DELETE", "/interest", params={"queue": queue})
        deleted: int = answer["deleted"]
        return deleted

    async def publish_many(
        self, events: Iterable[EventLike]
    ) -> list[PublishResult | CouchQueueError]:
        out: list[PublishResult | CouchQueueError] = []
        for chunk in self._requests.chunks(events):
            answer = await send_async(self._client, "PUT", "/tasks", json=chunk)
            out.extend(self._requests.results(answer, len(chunk)))
        return out

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncPublisher:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
