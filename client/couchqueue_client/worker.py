"""Worker: registers on queues, takes tasks (pushed over a websocket, or polled over HTTP), runs
the handler on each, reports how it ended, heartbeats, reconnects, and stops gracefully.

    worker = Worker("http://127.0.0.1:8080", ["mail"], send_mail, concurrency=4)
    worker.run_forever()          # or: await worker.run(); worker.stop() from elsewhere

Lifecycle: PUT /worker -> deliver (push or poll) -> on stop(): take no new task, let running
handlers finish within ``grace_period``, report them, unsubscribe (the tasks it
pushed but no handler started go back at once, no attempt counted), DELETE /worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import time
from collections.abc import Sequence
from typing import Literal

import httpx

from couchqueue_client.api import Claims, WorkerApi
from couchqueue_client.backoff import Backoff
from couchqueue_client.errors import CouchQueueError
from couchqueue_client.handler import Handler, HandlerRunner
from couchqueue_client.http import DEFAULT_TIMEOUT, client_options
from couchqueue_client.models import Task, default_name
from couchqueue_client.progress import ProgressSender
from couchqueue_client.push import TaskSubscription
from couchqueue_client.reporter import Reporter
from couchqueue_client.tls import verify_context
from couchqueue_client.wire import IDLE_REUSE, Connection, supports

logger = logging.getLogger("couchqueue_client")

Mode = Literal["push", "poll"]
WORKER_NOT_FOUND = "WORKER_NOT_FOUND"
# However short the grace period, reports of finished tasks get at least this long to be sent.
MIN_REPORT_FLUSH = 5.0
# A connection that lived this long was a success: the next failure starts the backoff over.
STABLE_CONNECTION = 5.0


class Worker:
    def __init__(
        self,
        url: str,
        queues: Sequence[str] | str,
        handler: Handler,
        *,
        concurrency: int = 1,
        mode: Mode = "push",
        name: str | None = None,
        heartbeat_interval: float = 15.0,
        poll_interval: float = 1.0,
        wait_seconds: float = 10.0,
        grace_period: float = 30.0,
        max_backoff: float = 30.0,
        timeout: float = DEFAULT_TIMEOUT,
        token: str | None = None,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        names = queues.split(",") if isinstance(queues, str) else list(queues)
        self.queues = [q.strip() for q in names if q.strip()]
        if not self.queues:
            raise ValueError("a worker needs at least one queue")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if mode not in ("push", "poll"):
            raise ValueError("mode must be 'push' or 'poll'")
        self.url = url.rstrip("/")
        if not self.url.lower().startswith(("http://", "https://")):  # else: retried forever
            raise ValueError(f"the server URL must start with http:// or https://: {url!r}")
        self.concurrency = concurrency
        self.mode: Mode = mode
        self.name = name or default_name()
        self.heartbeat_interval = heartbeat_interval
        self.poll_interval = poll_interval
        if wait_seconds < 0:
            raise ValueError("wait_seconds must be 0 or more")
        self.wait_seconds = wait_seconds
        self.grace_period = grace_period
        self.max_backoff = max_backoff
        self._timeout = timeout
        self._token = token
        self._ca_file = ca_file
        self._verify = verify_context(ca_file)  # a CA file that cannot be used: ValueError now
        self._runner = HandlerRunner(handler, concurrency, publisher=self.name)
        self._worker_id: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ran = False
        self._stop_deadline: float | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        # Ids of the tasks whose handlers are running: the leases heartbeats keep alive.
        self._running: set[str] = set()
        # asyncio primitives bind to the loop that first waits on them, so they can be made here.
        self._stopping = asyncio.Event()
        self._forced = asyncio.Event()
        self._new_id = asyncio.Event()
        self._register_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(concurrency)

    @property
    def worker_id(self) -> str | None:
        """The id the server gave this worker (a new one after registering again)."""
        return self._worker_id

    # -- running and stopping -----------------------------------------------------------------

    async def run(self) -> None:
        """Work until stop() (or a configuration error the server refuses, raised)."""
        if self._ran:
            raise RuntimeError("a Worker runs once; make a new one to run again")
        self._ran = True
        self._loop = asyncio.get_running_loop()
        options = client_options(self.url, self._timeout, self._token, self._verify)
        # Room for every poll loop (when they cannot have connections of their own), the
        # heartbeats and the reports, so that none waits for or churns a connection; idle
        # ones are dropped before the server's 5 s idle timeout would close them under a request.
        room = self.concurrency + 4
        limits = httpx.Limits(
            max_connections=room, max_keepalive_connections=room, keepalive_expiry=IDLE_REUSE
        )
        try:
            async with httpx.AsyncClient(**options, limits=limits) as client:
                self._api = WorkerApi(client)
                self._reporter = Reporter(self._api, self.max_backoff)
                self._progress = ProgressSender(self._api, self._loop)
                try:
                    await self._work()
                finally:
                    await self._progress.close()
        finally:
            self._runner.close()
            self._loop = None

    def run_forever(self) -> None:
        """Run in a new event loop until SIGTERM or SIGINT (a second one skips the grace)."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            installed = []
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                except (NotImplementedError, RuntimeError, ValueError):  # Windows, not main thread
                    logger.warning("cannot handle %s here; call stop() to stop", sig.name)
                else:
                    installed.append(sig)
            try:
                await self.run()
            finally:
                for sig in installed:
                    loop.remove_signal_handler(sig)

        asyncio.run(main())

    def stop(self, force: bool = False) -> None:
        """Stop taking tasks and wind down (running handlers get ``grace_period``; with
        ``force``, none). Safe from any thread and from handlers."""
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._begin_stop(force)
        else:
            loop.call_soon_threadsafe(self._begin_stop, force)

    def _on_signal(self, sig: signal.Signals) -> None:
        force = self._stopping.is_set()
        logger.info("%s: %s", sig.name, "stopping now" if force else "stopping gracefully")
        self._begin_stop(force)

    def _begin_stop(self, force: bool) -> None:
        if not self._stopping.is_set():
            self._stop_deadline = time.monotonic() + self.grace_period
            self._stopping.set()
        if force:
            self._stop_deadline = time.monotonic()
            self._forced.set()

    async def _work(self) -> None:
        reporter = asyncio.create_task(self._reporter.run())
        heartbeats: asyncio.Task[None] | None = None
        try:
            if not await self._register():
                return
            heartbeats = asyncio.create_task(self._heartbeats())
            if self.mode == "push":
                await self._push()
            else:
                await self._poll()
            await self._drain()
        finally:
            background = [t for t in (heartbeats, reporter) if t is not None]
            for job in [*self._jobs, *background]:
                job.cancel()
            await asyncio.gather(*self._jobs, *background, return_exceptions=True)
            await self._goodbye()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, unless stopped first; True if stopped."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    # -- registration and liveness ------------------------------------------------------------

    async def _register(self) -> bool:
        """PUT /worker until it works (False if stopped first); refusals other than an
        unreachable server are raised: the worker's configuration is wrong."""
        backoff = Backoff(cap=self.max_backoff)
        while not self._stopping.is_set():
            try:
                self._worker_id = await self._api.register(self.queues, self.name)
            except CouchQueueError as exc:
                if not exc.retryable:
                    raise
                delay = backoff.next()
                logger.warning("cannot register (%s); again in %.1fs", exc, delay)
                await self._sleep(delay)
                continue
            logger.info("worker %s registered on %s (%s)", self._worker_id, self.queues, self.mode)
            self._new_id.set()
            return True
        return False

    async def _register_again(self, stale_id: str | None) -> None:
        """The server forgot the worker (reaped after silence, or deleted): register anew,
        once, however many loops noticed."""
        async with self._register_lock:
            if self._worker_id != stale_id:
                return
            logger.warning("worker %s is gone on the server; registering again", stale_id)
            await self._register()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            worker_id = self._worker_id
            if worker_id is None:
                continue
            try:
                await self._api.heartbeat(worker_id, sorted(self._running))
            except CouchQueueError as exc:
                if exc.code == WORKER_NOT_FOUND and not self._stopping.is_set():
                    await self._register_again(worker_id)
                else:
                    logger.warning("heartbeat failed: %s", exc)

    async def _goodbye(self) -> None:
        worker_id, self._worker_id = self._worker_id, None
        if worker_id is None:
            return
        try:
            await self._api.delete(worker_id)
        except CouchQueueError as exc:
            if exc.code != WORKER_NOT_FOUND:
                logger.warning("could not deregister worker %s: %s", worker_id, exc)
        else:
            logger.info("worker %s deregistered", worker_id)

    # -- running tasks --------------------------------------------------------------------------

    def _start(self, task: Task, worker_id: str) -> None:
        """Run the handler on a task (a slot was taken for it); the slot is freed once the
        report is queued."""
        progress = self._progress.open(worker_id, task.task_id)
        object.__setattr__(task, "_progress", progress)  # the handler's task.report_progress
        job = asyncio.create_task(self._execute(task, worker_id), name=f"task {task.task_id}")
        job.add_done_callback(lambda _: progress.close())
        self._jobs.add(job)
        self._running.add(task.task_id)
        job.add_done_callback(self._jobs.discard)
        job.add_done_callback(lambda _: self._running.discard(task.task_id))

    async def _execute(self, task: Task, worker_id: str) -> None:
        try:
            report = await self._runner.run(task)
            self._reporter.put(worker_id, report)
        finally:
            self._slots.release()

    async def _drain(self) -> None:
        """Let running handlers finish until the grace deadline, then send their reports."""
        deadline = self._stop_deadline or time.monotonic()
        jobs = set(self._jobs)
        if jobs:
            logger.info("waiting up to %.0fs for %d running tasks", self.grace_period, len(jobs))
            waiting = asyncio.ensure_future(asyncio.wait(jobs))
            forced = asyncio.ensure_future(self._forced.wait())
            await asyncio.wait(
                {waiting, forced},
                timeout=max(0.0, deadline - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiting.cancel()
            forced.cancel()
            late = [job for job in jobs if not job.done()]
            if late:
                logger.warning("abandoning %d tasks still running; they go back", len(late))
                for job in late:
                    job.cancel()
                await asyncio.wait(late, timeout=1.0)
        flush = max(MIN_REPORT_FLUSH, deadline - time.monotonic())
        if not await self._reporter.flush(flush):
            logger.warning("%d reports could not be sent", self._reporter.pending)

    # -- push -----------------------------------------------------------------------------------

    async def _push(self) -> None:
        """Subscribe, start each pushed task, and resubscribe when the connection is lost."""
        backoff = Backoff(cap=self.max_backoff)
        while not self._stopping.is_set():
            worker_id = self._worker_id
            if worker_id is None:  # registering again was interrupted by stop()
                return
            connected_at: float | None = None
            try:
                async with TaskSubscription(
                    self.url,
                    worker_id,
                    self.concurrency,
                    token=self._token,
                    open_timeout=self._timeout,
                    ca_file=self._ca_file,
                ) as subscription:
                    connected_at = time.monotonic()
                    logger.info("subscribed for pushed tasks (prefetch %d)", self.concurrency)
                    self._new_id.clear()
                    await self._receive_until_stopped(subscription, worker_id)
                    if self._stopping.is_set():
                        # Keep the subscription open while running tasks finish and are reported:
                        # closing it would hand them back.
                        await self._drain()
                        return
            except CouchQueueError as exc:
                if connected_at is not None and time.monotonic() - connected_at > STABLE_CONNECTION:
                    backoff.reset()
                if exc.code == WORKER_NOT_FOUND:
                    await self._register_again(worker_id)
                    continue
                if not exc.retryable:
                    raise
                delay = backoff.next()
                logger.warning("push connection lost (%s); reconnecting in %.1fs", exc, delay)
                await self._sleep(delay)

    async def _receive_until_stopped(self, subscription: TaskSubscription, worker_id: str) -> None:
        """Take pushed tasks until stop() or a new worker id; raise when the connection ends."""

        async def receive() -> None:
            while True:
                task = await subscription.next()
                await self._slots.acquire()
                self._start(task, worker_id)

        receiver = asyncio.create_task(receive())
        stopped = asyncio.create_task(self._stopping.wait())
        renewed = asyncio.create_task(self._new_id.wait())
        try:
            await asyncio.wait({receiver, stopped, renewed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (receiver, stopped, renewed):
                waiter.cancel()
            await asyncio.gather(receiver, stopped, renewed, return_exceptions=True)
        error = None if receiver.cancelled() else receiver.exception()
        if error is not None:
            raise error

    # -- poll -----------------------------------------------------------------------------------

    async def _poll(self) -> None:
        """``concurrency`` loops of GET /task until stop()."""
        loops = [asyncio.create_task(self._poll_loop()) for _ in range(self.concurrency)]
        stopped = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({*loops, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (*loops, stopped):
                waiter.cancel()
            await asyncio.gather(*loops, stopped, return_exceptions=True)
        for loop in loops:
            error = None if loop.cancelled() else loop.exception()
            if error is not None:
                raise error

    async def _poll_loop(self) -> None:
        """Long polls (GET /task?waitSeconds=) over a keep-alive connection of this loop's
        own, one claim per free slot."""
        connection = None
        if supports(self.url):
            headers = client_options(self.url, self._timeout, self._token)["headers"]
            connection = Connection(self.url, headers, self._timeout)
        claims = Claims(self._api, connection)
        try:
            await self._poll_with(claims)
        finally:
            await claims.close()

    async def _poll_with(self, claims: Claims) -> None:
        backoff = Backoff(cap=self.max_backoff)
        wait = self.wait_seconds
        while True:
            await self._slots.acquire()
            started = False
            task = None
            asked = time.monotonic()
            try:
                worker_id = self._worker_id
                if worker_id is None:
                    return
                try:
                    task = await claims.claim(worker_id, wait)
                except CouchQueueError as exc:
                    if exc.code == WORKER_NOT_FOUND:
                        await self._register_again(worker_id)
                        continue
                    if exc.param == "waitSeconds" and not exc.retryable and wait > 0:
                        # The server allows shorter waits (--max-wait-seconds).
                        wait = wait / 2 if wait >= 1 else 0.0
                        logger.warning("the server refused the wait (%s); waiting %gs", exc, wait)
                        continue
                    if not exc.retryable:
                        raise
                    delay = backoff.next()
                    logger.warning("claiming failed (%s); again in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
                    continue
                backoff.reset()
                if task is not None:
                    self._start(task, worker_id)
                    started = True
            finally:
                if not started:
                    self._slots.release()
            if task is None and (wait == 0 or time.monotonic() - asked < wait / 2):
                # Answered at once with nothing: a server that does not wait (or no wait asked).
                await asyncio.sleep(self.poll_interval * random.uniform(0.8, 1.2))
