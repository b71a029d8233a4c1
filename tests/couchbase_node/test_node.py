"""The real Couchbase SDK (acouchbase) against the test node, one process apart."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
import time
import uuid
from datetime import timedelta

import pytest
from acouchbase.cluster import Cluster
from acouchbase.collection import AsyncCollection
from couchbase import subdocument as SD
from couchbase.exceptions import (
    AuthenticationException,
    CasMismatchException,
    DocumentExistsException,
    DocumentLockedException,
    DocumentNotFoundException,
    PathExistsException,
    PathMismatchException,
    PathNotFoundException,
)
from couchbase.options import (
    DecrementOptions,
    DeltaValue,
    GetAndLockOptions,
    GetOptions,
    IncrementOptions,
    InsertOptions,
    MutateInOptions,
    ReplaceOptions,
    SignedInt64,
    UpsertOptions,
)

from tests.couchbase_node.auth import MECHANISMS
from tests.couchbase_node.client import NodeInfo, cluster_options
from tests.couchbase_node.launcher import probe
from tests.couchbase_node.protocol import HEADER, MAGIC_REQ, Op, Status


@pytest.fixture
def key() -> str:
    return f"doc-{uuid.uuid4().hex}"


def test_node_answers_noop(couchbase_node: NodeInfo) -> None:
    assert probe("127.0.0.1", couchbase_node.port)


async def test_insert_get_and_exists(collection: AsyncCollection, key: str) -> None:
    inserted = await collection.insert(key, {"name": "first", "n": 1})
    got = await collection.get(key)
    assert got.content_as[dict] == {"name": "first", "n": 1}
    assert got.cas == inserted.cas
    assert (await collection.exists(key)).exists
    assert not (await collection.exists(key + "-missing")).exists
    with pytest.raises(DocumentExistsException):
        await collection.insert(key, {"name": "second"})


async def test_missing_document(collection: AsyncCollection, key: str) -> None:
    with pytest.raises(DocumentNotFoundException):
        await collection.get(key)
    with pytest.raises(DocumentNotFoundException):
        await collection.replace(key, {"a": 1})
    with pytest.raises(DocumentNotFoundException):
        await collection.remove(key)


async def test_upsert_and_replace_with_cas(collection: AsyncCollection, key: str) -> None:
    first = await collection.upsert(key, {"v": 1})
    second = await collection.upsert(key, {"v": 2})
    assert second.cas != first.cas
    with pytest.raises(CasMismatchException):
        await collection.replace(key, {"v": 3}, ReplaceOptions(cas=first.cas))
    third = await collection.replace(key, {"v": 3}, ReplaceOptions(cas=second.cas))
    assert third.cas not in (first.cas, second.cas)
    assert (await collection.get(key)).content_as[dict] == {"v": 3}
    await collection.replace(key, "plain text")
    assert (await collection.get(key)).content_as[str] == "plain text"


async def test_remove_with_cas(collection: AsyncCollection, key: str) -> None:
    stale = await collection.upsert(key, {"v": 1})
    fresh = await collection.upsert(key, {"v": 2})
    with pytest.raises(CasMismatchException):
        await collection.remove(key, cas=stale.cas)
    await collection.remove(key, cas=fresh.cas)
    with pytest.raises(DocumentNotFoundException):
        await collection.get(key)
    await collection.insert(key, {"again": True})


async def test_counters(collection: AsyncCollection, key: str) -> None:
    binary = collection.binary()
    with pytest.raises(DocumentNotFoundException):  # a negative initial: do not create
        await binary.increment(key, IncrementOptions(initial=SignedInt64(-1)))
    created = await binary.increment(key, IncrementOptions(initial=SignedInt64(10)))
    assert created.content == 10
    bumped = await binary.increment(key, IncrementOptions(delta=DeltaValue(5)))
    assert bumped.content == 15
    assert bumped.cas != created.cas
    lowered = await binary.decrement(key, DecrementOptions(delta=DeltaValue(20)))
    assert lowered.content == 0  # a counter never goes below zero
    assert (await collection.get(key)).content_as[int] == 0


async def test_get_and_lock_and_unlock(collection: AsyncCollection, key: str) -> None:
    await collection.upsert(key, {"owner": None})
    locked = await collection.get_and_lock(key, timedelta(seconds=10))
    assert locked.content_as[dict] == {"owner": None}
    assert (await collection.get(key)).cas != locked.cas  # a locked document hides its CAS
    # LOCKED carries "retry-now": the SDK retries until the timeout, then raises DocumentLocked.
    started = time.monotonic()
    with pytest.raises(DocumentLockedException):
        short = GetAndLockOptions(timeout=timedelta(milliseconds=300))
        await collection.get_and_lock(key, timedelta(seconds=10), short)
    assert 0.25 < time.monotonic() - started < 2
    with pytest.raises(CasMismatchException):
        await collection.unlock(key, locked.cas + 1)
    await collection.unlock(key, locked.cas)
    relocked = await collection.get_and_lock(key, timedelta(seconds=10))
    # A mutation carrying the lock's CAS succeeds and releases the lock.
    await collection.replace(key, {"owner": "me"}, ReplaceOptions(cas=relocked.cas))
    assert (await collection.get(key)).content_as[dict] == {"owner": "me"}
    await collection.upsert(key, {"owner": "you"})


async def test_locked_document_refuses_mutation(collection: AsyncCollection, key: str) -> None:
    await collection.upsert(key, {"v": 1})
    locked = await collection.get_and_lock(key, timedelta(seconds=1))
    with pytest.raises(DocumentLockedException):
        await collection.upsert(key, {"v": 2}, UpsertOptions(timeout=timedelta(milliseconds=400)))
    await collection.unlock(key, locked.cas)
    await collection.upsert(key, {"v": 3})


async def test_expiry_and_touch(collection: AsyncCollection, key: str) -> None:
    await collection.upsert(key, {"short": True}, UpsertOptions(expiry=timedelta(seconds=1)))
    await collection.insert(
        key + "-kept", {"kept": True}, InsertOptions(expiry=timedelta(seconds=1))
    )
    touched = await collection.touch(key + "-kept", timedelta(seconds=60))
    with_expiry = await collection.get(key + "-kept", GetOptions(with_expiry=True))
    assert with_expiry.expiry_time is not None
    assert 50 < with_expiry.expiry_time.timestamp() - time.time() <= 61
    assert with_expiry.cas == touched.cas
    await asyncio.sleep(1.1)
    with pytest.raises(DocumentNotFoundException):
        await collection.get(key)
    assert (await collection.get(key + "-kept")).content_as[dict] == {"kept": True}
    await collection.insert(key, {"after": "expiry"})


async def test_preserve_expiry(collection: AsyncCollection, key: str) -> None:
    # preserve_expiry travels as a flexible-framing info in an alt request (magic 0x08).
    await collection.upsert(key, {"v": 1}, UpsertOptions(expiry=timedelta(seconds=100)))
    await collection.replace(key, {"v": 2}, ReplaceOptions(preserve_expiry=True))
    kept = await collection.get(key, GetOptions(with_expiry=True))
    assert kept.expiry_time is not None
    await collection.replace(key, {"v": 3})
    assert (await collection.get(key, GetOptions(with_expiry=True))).expiry_time is None


async def test_lookup_in(collection: AsyncCollection, key: str) -> None:
    doc = {"name": "task", "tags": ["a", "b"], "meta": {"lease": 30, "owner": None}}
    await collection.upsert(key, doc)
    result = await collection.lookup_in(
        key,
        (
            SD.get("name"),
            SD.get("meta.lease"),
            SD.get("tags[1]"),
            SD.exists("meta.owner"),
            SD.exists("missing"),
            SD.count("tags"),
        ),
    )
    assert result.content_as[str](0) == "task"
    assert result.content_as[int](1) == 30
    assert result.content_as[str](2) == "b"
    assert result.exists(3)
    assert not result.exists(4)
    assert result.content_as[int](5) == 2
    with pytest.raises(PathNotFoundException):
        (await collection.lookup_in(key, (SD.get("nope"),))).content_as[str](0)
    with pytest.raises(DocumentNotFoundException):
        await collection.lookup_in(key + "-missing", (SD.get("name"),))


async def test_mutate_in(collection: AsyncCollection, key: str) -> None:
    start = await collection.upsert(key, {"state": "ready", "tags": [], "n": 1})
    result = await collection.mutate_in(
        key,
        (
            SD.upsert("state", "claimed"),
            SD.insert("owner", "worker-1"),
            SD.upsert("lease.until", 123, create_parents=True),
            SD.counter("n", 4),
            SD.array_append("tags", "x", "y"),
            SD.array_addunique("tags", "z"),
            SD.replace("tags[0]", "w"),
            SD.remove("tags[1]"),
        ),
        MutateInOptions(cas=start.cas),
    )
    assert result.cas != start.cas
    assert result.content_as[int](3) == 5
    got = (await collection.get(key)).content_as[dict]
    assert got == {
        "state": "claimed",
        "tags": ["w", "z"],
        "n": 5,
        "owner": "worker-1",
        "lease": {"until": 123},
    }
    with pytest.raises(CasMismatchException):
        await collection.mutate_in(key, (SD.upsert("state", "x"),), MutateInOptions(cas=start.cas))
    with pytest.raises(PathExistsException):
        await collection.mutate_in(key, (SD.insert("owner", "worker-2"),))
    with pytest.raises(PathExistsException):
        await collection.mutate_in(key, (SD.array_addunique("tags", "z"),))
    with pytest.raises(PathNotFoundException):
        await collection.mutate_in(key, (SD.replace("absent", 1),))
    with pytest.raises(PathMismatchException):
        await collection.mutate_in(key, (SD.counter("state", 1),))
    # A failed spec leaves the whole document untouched.
    assert (await collection.get(key)).content_as[dict] == got


async def test_mutate_in_store_semantics(collection: AsyncCollection, key: str) -> None:
    with pytest.raises(DocumentNotFoundException):
        await collection.mutate_in(key, (SD.upsert("a", 1),))
    await collection.mutate_in(
        key, (SD.upsert("a", 1),), MutateInOptions(store_semantics=SD.StoreSemantics.UPSERT)
    )
    with pytest.raises(DocumentExistsException):
        await collection.mutate_in(
            key, (SD.upsert("a", 2),), MutateInOptions(store_semantics=SD.StoreSemantics.INSERT)
        )
    assert (await collection.get(key)).content_as[dict] == {"a": 1}


def sasl(port: int, mechanism: str, user: str, password: str) -> int:
    """Authenticate over a raw socket as an RFC 5802 client; returns the final status."""
    hash_name = MECHANISMS[mechanism]

    def call(sock: socket.socket, opcode: int, key: bytes, value: bytes) -> tuple[int, bytes]:
        body = key + value
        sock.sendall(HEADER.pack(MAGIC_REQ, opcode, len(key), 0, 0, 0, len(body), 7, 0) + body)
        header = sock.recv(24, socket.MSG_WAITALL)
        (_, _, keylen, extlen, _, status, bodylen, _, _) = HEADER.unpack(header)
        reply = sock.recv(bodylen, socket.MSG_WAITALL) if bodylen else b""
        return status, reply[extlen + keylen :]

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        status, mechs = call(sock, Op.SASL_LIST_MECHS, b"", b"")
        assert status == 0 and mechanism in mechs.decode().split()
        first_bare = f"n={user},r=clientnonce123"
        status, server_first = call(
            sock, Op.SASL_AUTH, mechanism.encode(), f"n,,{first_bare}".encode()
        )
        assert status == Status.AUTH_CONTINUE
        fields = dict(part.split("=", 1) for part in server_first.decode().split(","))
        salted = hashlib.pbkdf2_hmac(
            hash_name, password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = hmac.new(salted, b"Client Key", hash_name).digest()
        without_proof = f"c=biws,r={fields['r']}"
        auth_message = f"{first_bare},{server_first.decode()},{without_proof}".encode()
        stored_key = hashlib.new(hash_name, client_key).digest()
        signature = hmac.new(stored_key, auth_message, hash_name).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True)))
        status, server_final = call(
            sock, Op.SASL_STEP, mechanism.encode(), f"{without_proof},p={proof.decode()}".encode()
        )
        if status == 0:
            server_key = hmac.new(salted, b"Server Key", hash_name).digest()
            expected = hmac.new(server_key, auth_message, hash_name).digest()
            assert server_final == b"v=" + base64.b64encode(expected)
        return status


@pytest.mark.parametrize("mechanism", sorted(MECHANISMS))
def test_scram_mechanisms_on_the_wire(couchbase_node: NodeInfo, mechanism: str) -> None:
    node = couchbase_node
    assert sasl(node.port, mechanism, node.user, node.password) == Status.SUCCESS
    assert sasl(node.port, mechanism, node.user, "wrong") == Status.AUTH_ERROR
    assert sasl(node.port, mechanism, "nobody", node.password) == Status.AUTH_ERROR


async def test_wrong_password_is_refused(couchbase_node: NodeInfo) -> None:
    options = cluster_options(couchbase_node.user, "not-the-password")
    started = time.monotonic()
    with pytest.raises(AuthenticationException):
        cluster = await Cluster.connect(couchbase_node.connection_string, options)
        await cluster.close()
    assert time.monotonic() - started < 5
