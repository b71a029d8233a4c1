"""/metrics in Prometheus text format, read back with prometheus-client's own parser; health."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.client import RestApi
from tests.conftest import FakeClock


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_match_the_store(http: httpx.AsyncClient) -> None:
    api = RestApi(http)
    await api.set_interests("q", "*")
    worker = (await api.register_worker(["q"]))["workerId"]
    for n in range(5):
        await api.publish("p", {"n": n})
    done, failed = await api.claim(worker), await api.claim(worker)
    assert done and failed
    await api.complete(worker, done["taskId"])
    await api.fail(worker, failed["taskId"], reason="x")
    await api.claim(worker)
    await api.set_interests("idle", "*")
    await api.pause("idle")

    reply = await http.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    found = samples(reply.text)
    status = (await http.get("/status", params={"queue": "q"})).json()["queue"]
    for state in ("queued", "scheduled", "started", "completed", "failed"):
        assert found[("couchqueue_tasks", (("queue", "q"), ("state", state)))] == status[state]
    assert (
        found[("couchqueue_queue_latency_seconds", (("queue", "q"),))] == status["latencySeconds"]
    )
    assert found[("couchqueue_queue_paused", (("queue", "idle"),))] == 1
    assert found[("couchqueue_queue_paused", (("queue", "q"),))] == 0
    events = {k[1][0][1]: v for k, v in found.items() if k[0] == "couchqueue_task_events_total"}
    assert events == {"published": 5, "started": 3, "completed": 1, "failed": 1}
    assert found[("couchqueue_operation_seconds_count", (("operation", "publish"),))] == 5
    assert found[("couchqueue_operation_seconds_count", (("operation", "claim"),))] == 3
    assert found[("couchqueue_push_subscribers", ())] == 0


async def test_metrics_tell_each_queue_latency(http: httpx.AsyncClient, clock: FakeClock) -> None:
    api = RestApi(http)
    await api.set_interests("q", "*")
    await api.set_interests("idle", {"never": "x"})
    await api.publish("p", {"n": 1})
    clock.advance(12.5)
    found = samples((await http.get("/metrics")).text)
    assert found[("couchqueue_queue_latency_seconds", (("queue", "q"),))] == 12.5
    assert found[("couchqueue_queue_latency_seconds", (("queue", "idle"),))] == 0


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ok"}
