"""Connecting the real SDK (acouchbase) to a test node: the options that work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from acouchbase.cluster import Cluster
from couchbase.auth import PasswordAuthenticator
from couchbase.options import ClusterOptions, ClusterTimeoutOptions


@dataclass(frozen=True)
class NodeInfo:
    port: int
    bucket: str
    user: str
    password: str

    @property
    def connection_string(self) -> str:
        # A port in a couchbase:// connection string is the KV (memcached) port; no HTTP is used.
        return f"couchbase://127.0.0.1:{self.port}"


def cluster_options(user: str, password: str, kv_timeout: float = 2.0) -> ClusterOptions:
    timeouts = ClusterTimeoutOptions(
        kv_timeout=timedelta(seconds=kv_timeout),
        connect_timeout=timedelta(seconds=5),
        bootstrap_timeout=timedelta(seconds=5),
    )
    return ClusterOptions(PasswordAuthenticator(user, password), timeout_options=timeouts)


async def connect(node: NodeInfo, kv_timeout: float = 2.0) -> Cluster:
    """A connected cluster whose bucket is open; the caller must `await cluster.close()`."""
    options = cluster_options(node.user, node.password, kv_timeout)
    cluster = await Cluster.connect(node.connection_string, options)
    try:
        await cluster.bucket(node.bucket).on_connect()
    except BaseException:
        await cluster.close()
        raise
    return cluster
