"""A test Couchbase node in its own process for the session, and a connected collection."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.couchbase_node.launcher import start_node, stop_node

pytest.importorskip("couchbase")  # the optional extra; without it this directory is skipped

from acouchbase.cluster import Cluster
from acouchbase.collection import AsyncCollection

from tests.couchbase_node.client import NodeInfo, connect


@pytest.fixture(scope="session")
def couchbase_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeInfo]:
    """COUCHBASE_NODE_DEBUG=1 logs every opcode to the node.log under the session's tmp dir."""
    bucket, user, password = "couchqueue", "cq-user", "cq-secret"
    debug = bool(os.environ.get("COUCHBASE_NODE_DEBUG"))
    log_path: Path = tmp_path_factory.mktemp("couchbase-node") / "node.log"
    with log_path.open("w") as log:
        process, port = start_node(bucket, user, password, debug=debug, log=log)
        try:
            yield NodeInfo(port, bucket, user, password)
        finally:
            stop_node(process)


@pytest.fixture
async def cluster(couchbase_node: NodeInfo) -> AsyncIterator[Cluster]:
    connected = await connect(couchbase_node)
    try:
        yield connected
    finally:
        await connected.close()


@pytest.fixture
def collection(cluster: Cluster, couchbase_node: NodeInfo) -> AsyncCollection:
    return cluster.bucket(couchbase_node.bucket).default_collection()
