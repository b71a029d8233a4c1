"""The retry policy of a queue (resque-retry) for reported failures."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.client import Api, ApiError
from tests.conftest import FakeClock


async def failing_worker(api: Api, **policy: Any) -> tuple[str, str]:
    await api.set_interests("q", "*")
    if policy:
        await api.configure_queue("q", **policy)
    worker = (await api.register_worker(["q"]))["workerId"]
    task_id = (await api.publish("pub", {"n": 1}))["tasks"][0]["taskId"]
    return worker, task_id


async def claim_and_fail(api: Api, worker: str, task_id: str, reason: str) -> dict[str, Any]:
    task = await api.claim(worker)
    assert task is not None and task["taskId"] == task_id
    return await api.fail(worker, task_id, reason=reason)


async def test_without_retries_a_failure_goes_to_the_failed_queue(api: Api) -> None:
    worker, task_id = await failing_worker(api)
    assert (await claim_and_fail(api, worker, task_id, "boom"))["state"] == "failed"


async def test_retry_delays_list(api: Api, clock: FakeClock) -> None:
    worker, task_id = await failing_worker(api, retryLimit=2, retryDelays=[10, 60])
    first = await claim_and_fail(api, worker, task_id, "one")
    assert (first["state"], first["attempts"], first["runAt"]) == ("scheduled", 1, clock.now + 10)
    assert await api.failed() == []
    clock.advance(9)
    assert await api.claim(worker) is None
    clock.advance(1)
    second = await claim_and_fail(api, worker, task_id, "two")
    assert (second["state"], second["runAt"]) == ("scheduled", clock.now + 60)
    clock.advance(60)
    third = await claim_and_fail(api, worker, task_id, "three")
    assert (third["state"], third["attempts"], third["failReason"]) == ("failed", 3, "three")
    assert [f["reason"] for f in third["failures"]] == ["one", "two", "three"]
    assert third["failures"][-1]["at"] == clock.now


async def test_exponential_backoff_is_capped(api: Api, clock: FakeClock) -> None:
    worker, task_id = await failing_worker(
        api, retryLimit=5, backoffBase=15, backoffFactor=2, backoffMax=50, backoffJitter=0
    )
    delays = []
    for n in range(4):
        failed = await claim_and_fail(api, worker, task_id, f"r{n}")
        delays.append(failed["runAt"] - clock.now)
        clock.advance(delays[-1])
    assert delays == [15, 30, 50, 50]


async def test_fail_with_reenqueue_skips_the_policy(api: Api, clock: FakeClock) -> None:
    worker, task_id = await failing_worker(api, retryLimit=3, retryDelays=[100])
    task = await api.claim(worker)
    assert task is not None
    back = await api.fail(worker, task_id, reason="now", reEnqueue=True)
    assert (back["state"], back["runAt"]) == ("queued", clock.now)


async def test_configure_queue_reports_its_settings(api: Api) -> None:
    await api.set_interests("q", "*")
    configured = await api.configure_queue(
        "q", leaseSeconds=45, maxDeliveries=3, retryLimit=2, retryDelays=[5, 10]
    )
    assert configured["settings"]["leaseSeconds"] == 45
    assert configured["settings"]["maxDeliveries"] == 3
    assert configured["settings"]["retry"]["limit"] == 2
    assert configured["settings"]["retry"]["delays"] == [5, 10]
    cleared = await api.configure_queue("q", retryDelays=[])
    assert cleared["settings"]["retry"]["delays"] is None
    assert cleared["settings"]["leaseSeconds"] == 45


@pytest.mark.parametrize(
    ("settings", "param"),
    [
        ({"leaseSeconds": -1}, "leaseSeconds"),
        ({"leaseSeconds": 0}, "leaseSeconds"),
        ({"leaseSeconds": 10**9}, "leaseSeconds"),
        ({"maxDeliveries": 0}, "maxDeliveries"),
        ({"retryLimit": -1}, "retryLimit"),
        ({"retryDelays": [-5]}, "retryDelays"),
        ({"backoffFactor": 0.5}, "backoffFactor"),
        ({"backoffJitter": 2}, "backoffJitter"),
        ({"backoffBase": 100, "backoffMax": 10}, "backoffMax"),
    ],
)
async def test_bad_queue_settings_are_refused_and_change_nothing(
    api: Api, settings: dict[str, Any], param: str
) -> None:
    await api.set_interests("q", "*")
    before = await api.configure_queue("q")
    with pytest.raises(ApiError) as refused:
        await api.configure_queue("q", **settings)
    assert (refused.value.code, refused.value.param) == ("INVALID_PARAMETER", param)
    assert param in refused.value.message
    assert await api.configure_queue("q") == before


async def test_configuring_an_unknown_queue_is_refused(api: Api) -> None:
    with pytest.raises(ApiError) as refused:
        await api.configure_queue("nope", leaseSeconds=10)
    assert refused.value.code == "QUEUE_NOT_FOUND"
