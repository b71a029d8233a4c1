"""Publishers: ``Publisher`` (sync, httpx.Client) and ``AsyncPublisher`` (httpx.AsyncClient),
sharing how requests are built and answers read.

``set_interests`` says which events a queue takes (a queue gets tasks only once it has
interests); ``delete_interests`` stops that. ``publish`` raises CouchQueueError for an error
answer (or Unavailable when the server cannot be reached). ``publish_many`` sends PUT /tasks in
chunks and answers one item per event: its PublishResult, or the CouchQueueError that event
alone got. ``publish(..., wait=seconds)`` waits for the event's outcome: it answers the
finished task of every copy (one per interested queue: state, result, fail_reason), or raises
WaitTimeout naming the copies not finished in time; ``wait_for`` does the same for tasks
published earlier. Waiting takes a token that may read tasks (viewer). For an https://
server, ``ca_file`` names the CA certificate(s) to verify it with
(PEM; without it, httpx's default CAs); a certificate that does not verify raises
CertificateError.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, overload

import httpx

from couchqueue_client.errors import CouchQueueError
from couchqueue_client.http import DEFAULT_TIMEOUT, client_options, send, send_async
from couchqueue_client.models import Event, PublishResult, Scope, Task, default_name
from couchqueue_client.tls import verify_context
from couchqueue_client.waiting import Waited, outcome, pause, result_request, task_ids
from couchqueue_client.wire import Connection, SyncConnection, supports

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
        # Single publishes over one keep-alive connection of its own (plain http, the pool not
        # given); a publish while another thread holds it goes through the pool.
        self._lean = (
            SyncConnection(url, options["headers"], timeout)
            if client is None and supports(url)
            else None
        )
        self._lean_lock = threading.Lock()

    @property
    def publisher(self) -> str:
        return self._requests.publisher

    @overload
    def publish(
        self,
        data: Mapping[str, Any],
        publisher: str | None = None,
        run_at: float | dt.datetime | None = None,
        scope: Scope = "any",
        singularly_enqueue: bool = False,
        singularly_run: bool = False,
        unique_key: str | None = None,
        *,
        wait: None = None,
    ) -> PublishResult: ...

    @overload
    def publish(
        self,
        data: Mapping[str, Any],
        publisher: str | None = None,
        run_at: float | dt.datetime | None = None,
        scope: Scope = "any",
        singularly_enqueue: bool = False,
        singularly_run: bool = False,
        unique_key: str | None = None,
        *,
        wait: float,
    ) -> list[Task]: ...

    def publish(
        self,
        data: Mapping[str, Any],
        publisher: str | None = None,
        run_at: float | dt.datetime | None = None,
        scope: Scope = "any",
        singularly_enqueue: bool = False,
        singularly_run: bool = False,
        unique_key: str | None = None,
        *,
        wait: float | None = None,
    ) -> PublishResult | list[Task]:
        """Publish an event; with ``wait`` (seconds), wait for it and answer the finished
        task of every copy (WaitTimeout if some are not finished by then)."""
        body = self._requests.one(
            data, publisher, run_at, scope, singularly_enqueue, singularly_run, unique_key
        )
        if self._lean is not None and self._lean_lock.acquire(blocking=False):
            try:
                result = PublishResult.from_json(self._lean.send_json("PUT", "/task", body))
            finally:
                self._lean_lock.release()
        else:
            result = PublishResult.from_json(send(self._client, "PUT", "/task", json=body))
        return result if wait is None else self.wait_for(result, wait)

    def wait_for(self, tasks: Waited, seconds: float) -> list[Task]:
        """The tasks (a publish's copies, or task ids) once each is finished, in order; after
        ``seconds``, WaitTimeout naming those that are not."""
        ids = task_ids(tasks)
        deadline = time.monotonic() + seconds
        last: dict[str, Task] = {}
        for task_id in ids:
            while True:
                asked = time.monotonic()
                request = result_request(task_id, deadline - asked, self._client.timeout)
                task = Task.from_json(send(self._client, "GET", "/task/result", **request))
                last[task_id] = task
                if task.finished or time.monotonic() >= deadline:
                    break
                time.sleep(pause(asked))
        return outcome(ids, last)

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
        if self._lean is not None:
            with self._lean_lock:
                self._lean.close()

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
        # As Publisher: single publishes over a connection of its own, else through the pool.
        self._lean = (
            Connection(url, options["headers"], timeout)
            if client is None and supports(url)
            else None
        )
        self._lean_busy = False

    @property
    def publisher(self) -> str:
        return self._requests.publisher

    @overload
    async def publish(
        self,
        data: Mapping[str, Any],
        publisher: str | None = None,
        run_at: float | dt.datetime | None = None,
        scope: Scope = "any",
        singularly_enqueue: bool = False,
        singularly_run: bool = False,
        unique_key: str | None = None,
        *,
        wait: None = None,
    ) -> PublishResult: ...

    @overload
    async def publish(
        self,
        data: Mapping[str, Any],
        publisher: str | None = None,
        run_at: float | dt.datetime | None = None,
        scope: Scope = "any",
        singularly_enqueue: bool = False,
        singularly_run: bool = False,
        unique_key: str | None = None,
        *,
        wait: float,
    ) -> list[Task]: ...

    async def publish(
        self,
        data: Mapping[str, Any],
        publisher: str | None = None,
        run_at: float | dt.datetime | None = None,
        scope: Scope = "any",
        singularly_enqueue: bool = False,
        singularly_run: bool = False,
        unique_key: str | None = None,
        *,
        wait: float | None = None,
    ) -> PublishResult | list[Task]:
        """Publish an event; with ``wait`` (seconds), wait for it and answer the finished
        task of every copy (WaitTimeout if some are not finished by then)."""
        body = self._requests.one(
            data, publisher, run_at, scope, singularly_enqueue, singularly_run, unique_key
        )
        if self._lean is not None and not self._lean_busy:
            self._lean_busy = True
            try:
                result = PublishResult.from_json(await self._lean.send_json("PUT", "/task", body))
            finally:
                self._lean_busy = False
        else:
            answer = await send_async(self._client, "PUT", "/task", json=body)
            result = PublishResult.from_json(answer)
        return result if wait is None else await self.wait_for(result, wait)

    async def wait_for(self, tasks: Waited, seconds: float) -> list[Task]:
        """The tasks (a publish's copies, or task ids) once each is finished, in order; after
        ``seconds``, WaitTimeout naming those that are not. The copies are waited for at
        once, each by its own long poll."""
        ids = task_ids(tasks)
        deadline = time.monotonic() + seconds
        waits = [asyncio.ensure_future(self._wait_one(task_id, deadline)) for task_id in ids]
        try:
            found = await asyncio.gather(*waits)
        except BaseException:
            # One failed (or the caller gave up): the other long polls end now, not later.
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
            raise
        return outcome(ids, dict(zip(ids, found, strict=True)))

    async def _wait_one(self, task_id: str, deadline: float) -> Task:
        while True:
            asked = time.monotonic()
            request = result_request(task_id, deadline - asked, self._client.timeout)
            answer = await send_async(self._client, "GET", "/task/result", **request)
            task = Task.from_json(answer)
            if task.finished or time.monotonic() >= deadline:
                return task
            await asyncio.sleep(pause(asked))

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
        if self._lean is not None:
            await self._lean.close()

    async def __aenter__(self) -> AsyncPublisher:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
