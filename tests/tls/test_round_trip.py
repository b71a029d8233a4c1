"""The client over TLS against a real node served with a certificate the test made, auth on:
a publisher, a poll worker and a push worker (wss://) with ``ca_file=`` and tokens; `couchqueue
worker` with COUCHQUEUE_CA_FILE and COUCHQUEUE_TOKEN, whose debug log never shows the token;
and without the CA file, a clear certificate error that is not retried."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from couchqueue_client import (
    AsyncPublisher,
    CertificateError,
    Publisher,
    Task,
    TaskSubscription,
    Worker,
)
from couchqueue_client.worker import Mode
from tests.client.helpers import eventually, running
from tests.client.processes import cli_worker, worker_process
from tests.tls.node import Secured


def tls_worker(secured: Secured, queue: str, mode: Mode, done: list[Task]) -> Worker:
    return Worker(
        secured.url,
        [queue],
        done.append,
        mode=mode,
        token=secured.worker,
        ca_file=secured.ca,
        heartbeat_interval=0.2,
        poll_interval=0.05,
        max_backoff=0.3,
    )


async def completed(secured: Secured, task_ids: list[str]) -> bool:
    async with secured.client(secured.admin) as admin:
        for task_id in task_ids:
            reply = await admin.get("/status", params={"task": task_id})
            assert reply.status_code == 200, reply.text
            if reply.json()["task"]["state"] != "completed":
                return False
    return True


async def publish(secured: Secured, queue: str, count: int) -> list[str]:
    """``count`` tasks for the queue, published with the publisher token over https."""
    async with AsyncPublisher(secured.url, token=secured.admin, ca_file=str(secured.ca)) as admin:
        await admin.set_interests(queue, {"to": f"^{queue}$"})
    async with AsyncPublisher(secured.url, token=secured.publisher, ca_file=secured.ca) as pub:
        results = await pub.publish_many([{"data": {"to": queue, "n": n}} for n in range(count)])
    return [task.task_id for result in results for task in result.tasks]  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["poll", "push"])
async def test_a_publisher_and_a_worker_round_trip_over_tls(secured: Secured, mode: Mode) -> None:
    assert secured.url.startswith("https://")
    queue = f"tls-{mode}"
    task_ids = await publish(secured, queue, 5)
    assert len(task_ids) == 5
    done: list[Task] = []
    async with running(tls_worker(secured, queue, mode, done)):
        await eventually(lambda: completed(secured, task_ids), within=15)
    assert sorted(task.data["n"] for task in done) == [0, 1, 2, 3, 4]


def test_a_sync_publisher_over_tls(secured: Secured) -> None:
    with Publisher(secured.url, token=secured.publisher, ca_file=secured.ca) as publisher:
        assert publisher.publish({"to": "nobody-listens"}).discarded


def test_without_the_ca_file_the_publisher_gets_a_certificate_error(secured: Secured) -> None:
    with (
        Publisher(secured.url, token=secured.publisher) as publisher,
        pytest.raises(CertificateError) as caught,
    ):
        publisher.publish({"to": "x"})
    error = caught.value
    assert error.code == "CERTIFICATE_ERROR" and not error.retryable
    assert f"PUT {secured.url}/task" in error.message
    assert "certificate did not verify" in error.message and "ca_file" in error.message


@pytest.mark.parametrize("mode", ["poll", "push"])
async def test_without_the_ca_file_a_worker_stops_with_a_certificate_error(
    secured: Secured, mode: Mode
) -> None:
    worker = Worker(secured.url, ["tls-none"], lambda task: None, mode=mode, token=secured.worker)
    with pytest.raises(CertificateError):
        await asyncio.wait_for(worker.run(), 10)  # not retried: it would never verify


async def test_without_the_ca_file_a_push_subscription_gets_a_certificate_error(
    secured: Secured,
) -> None:
    subscription = TaskSubscription(secured.url, "any-worker", 1, token=secured.worker)
    assert subscription.url.startswith("wss://")
    with pytest.raises(CertificateError) as caught:
        async with subscription:
            pass
    assert f"websocket {subscription.url}" in caught.value.message


def test_an_unusable_ca_file_is_refused_at_once(secured: Secured, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the CA file"):
        Publisher(secured.url, ca_file=tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot use the CA file"):
        Worker(secured.url, ["q"], lambda task: None, ca_file=garbage)


async def test_the_worker_command_over_tls_never_logs_its_token(
    secured: Secured, tmp_path: Path
) -> None:
    """COUCHQUEUE_CA_FILE and COUCHQUEUE_TOKEN, push over wss, at --log-level debug (where
    websockets would log every handshake header and frame)."""
    task_ids = await publish(secured, "tls-command", 2)
    log = tmp_path / "worker.log"
    env = {"COUCHQUEUE_TOKEN": secured.worker, "COUCHQUEUE_CA_FILE": str(secured.ca)}
    args = cli_worker(secured.url, "tls-command", "cat >/dev/null", "--log-level", "debug")
    with worker_process(args, log, env) as process:
        await eventually(lambda: completed(secured, task_ids), within=20)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    output = log.read_text()
    assert "subscribed for pushed tasks" in output  # it did run over wss
    assert secured.worker not in output and secured.worker[:12] not in output


def test_the_worker_command_without_the_ca_file_exits_2_naming_the_certificate(
    secured: Secured, tmp_path: Path
) -> None:
    args = cli_worker(secured.url, "tls-none", "true")
    log = tmp_path / "worker.log"
    with worker_process(args, log, {"COUCHQUEUE_TOKEN": secured.worker}) as process:
        assert process.wait(timeout=30) == 2
    output = log.read_text()
    assert "CERTIFICATE_ERROR" in output and "--ca-file" in output, output
    assert "Traceback" not in output and secured.worker not in output
