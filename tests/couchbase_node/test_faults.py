"""The fault layer of the test node, seen through the real SDK."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from acouchbase.collection import AsyncCollection
from couchbase.exceptions import (
    AmbiguousTimeoutException,
    CouchbaseException,
    DocumentLockedException,
    UnAmbiguousTimeoutException,
)

from tests.couchbase_node.client import NodeInfo, connect
from tests.couchbase_node.faults import set_faults
from tests.couchbase_node.launcher import start_node, stop_node


@pytest.fixture(scope="module")
def faulty_node() -> Iterator[NodeInfo]:
    """A node of its own: its faults never reach another test's operations."""
    process, port = start_node("b", "u", "pw")
    try:
        yield NodeInfo(port, "b", "u", "pw")
    finally:
        stop_node(process)


@pytest.fixture
async def faulty(faulty_node: NodeInfo) -> AsyncIterator[AsyncCollection]:
    cluster = await connect(faulty_node, kv_timeout=0.3)
    try:
        yield cluster.bucket("b").default_collection()
    finally:
        set_faults(faulty_node.port, {})
        await cluster.close()


async def test_unanswered_operations_time_out_applied_or_not(
    faulty: AsyncCollection, faulty_node: NodeInfo
) -> None:
    applied, dropped = f"a-{uuid.uuid4().hex}", f"d-{uuid.uuid4().hex}"
    set_faults(faulty_node.port, {"rate": 1, "kinds": {"applied_unanswered": 1}, "ops": ["set"]})
    with pytest.raises(AmbiguousTimeoutException):
        await faulty.upsert(applied, {"n": 1})
    set_faults(faulty_node.port, {"rate": 1, "kinds": {"unapplied_unanswered": 1}, "ops": ["set"]})
    with pytest.raises(AmbiguousTimeoutException):
        await faulty.upsert(dropped, {"n": 1})
    counts = set_faults(faulty_node.port, {})
    assert (await faulty.get(applied)).content_as[dict] == {"n": 1}
    assert not (await faulty.exists(dropped)).exists
    assert counts["faults"] == {"applied_unanswered": 1, "unapplied_unanswered": 1}
    assert counts["ops"]["SET"] == 2


async def test_failures_locks_and_delays_per_operation(
    faulty: AsyncCollection, faulty_node: NodeInfo
) -> None:
    key = f"k-{uuid.uuid4().hex}"
    await faulty.upsert(key, {"n": 1})
    set_faults(faulty_node.port, {"rate": 1, "kinds": {"locked": 1}, "ops": ["replace"]})
    with pytest.raises((DocumentLockedException, AmbiguousTimeoutException)):
        await faulty.replace(key, {"n": 2})
    assert (await faulty.get(key)).content_as[dict] == {"n": 1}  # only REPLACE is faulty
    set_faults(faulty_node.port, {"rate": 1, "kinds": {"tmpfail": 1}, "ops": ["get"]})
    with pytest.raises(CouchbaseException):
        await faulty.get(key)
    set_faults(faulty_node.port, {"rate": 1, "kinds": {"delay": 1}, "delay": [0.5, 0.5]})
    with pytest.raises(UnAmbiguousTimeoutException):
        await faulty.get(key)
    counts = set_faults(faulty_node.port, {})
    assert counts["locked_answers"] == 0  # injected LOCKED answers are faults, not locks
    assert (await faulty.get(key)).content_as[dict] == {"n": 1}


def test_a_bad_plan_is_refused(faulty_node: NodeInfo) -> None:
    with pytest.raises(RuntimeError, match="unknown fault kinds"):
        set_faults(faulty_node.port, {"rate": 1, "kinds": {"explode": 1}})
