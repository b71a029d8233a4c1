"""The Couchbase store's boundary with the SDK: the URL, the connection, document keys, and the
few key-value operations the store uses (get, insert, upsert, replace and remove with CAS,
counters, sub-document lookups and mutations; no pessimistic locks).

Nothing else in app/store/couchbase*.py touches the SDK. Expected outcomes (a document missing,
a CAS that no longer matches, a sub-document path that exists or does not) come back as return
values; every other SDK exception (timeouts, outages, authentication) is translated here into
resolvers.errors.StoreUnavailable, so none escapes the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
from acouchbase.cluster import Cluster  # type: ignore[import-untyped]
from couchbase import subdocument as SD  # type: ignore[import-untyped]
from couchbase.auth import PasswordAuthenticator  # type: ignore[import-untyped]
from couchbase.durability import (  # type: ignore[import-untyped]
    DurabilityLevel,
    ServerDurability,
)
from couchbase.exceptions import (  # type: ignore[import-untyped]
    CasMismatchException,
    CouchbaseException,
    DocumentExistsException,
    DocumentNotFoundException,
    PathExistsException,
    PathMismatchException,
    PathNotFoundException,
)
from couchbase.options import (  # type: ignore[import-untyped]
    ClusterOptions,
    ClusterTimeoutOptions,
    DeltaValue,
    IncrementOptions,
    InsertOptions,
    MutateInOptions,
    RemoveOptions,
    ReplaceOptions,
    SignedInt64,
    UpsertOptions,
)
from couchbase.serializer import Serializer  # type: ignore[import-untyped]
from couchbase.subdocument import Spec, StoreSemantics  # type: ignore[import-untyped]

from resolvers.errors import CouchQueueError, StoreUnavailable

T = TypeVar("T")
USER_ENV = "COUCHQUEUE_COUCHBASE_USER"
PASSWORD_ENV = "COUCHQUEUE_COUCHBASE_PASSWORD"
# The server refuses a sub-document operation with more paths than this.
MAX_SPECS = 16
# A key part longer than this (a long queue name or worker id) is replaced by its hash, so a
# key never exceeds Couchbase's 250 bytes.
MAX_KEY_PART = 80

_PARAMS = {
    "prefix": "key prefix of every document (several stores may share a bucket)",
    "user": "user name (or env COUCHQUEUE_COUCHBASE_USER)",
    "password": "password (or env COUCHQUEUE_COUCHBASE_PASSWORD)",
    "scope": "scope of the collection (default _default)",
    "collection": "collection (default _default)",
    "durability": "none or majority: writes acknowledged once on a majority of replicas",
    "timeout": "seconds a key-value operation may take before the store is unavailable",
    "connect_timeout": "seconds connecting may take",
}


@dataclass(frozen=True, slots=True)
class CouchbaseConfig:
    """What a ``couchbase://host[:port][,host2...]/bucket?...`` URL (plus environment) asks
    for."""

    connection: str
    bucket: str
    username: str
    password: str
    prefix: str = "cq"
    scope: str = "_default"
    collection: str = "_default"
    durability: str = "none"
    timeout: float = 2.5
    connect_timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str, environ: Mapping[str, str] | None = None) -> CouchbaseConfig:
        env = os.environ if environ is None else environ
        parts = urlsplit(url)
        hosts = parts.netloc.rsplit("@", 1)[-1]
        if parts.scheme not in ("couchbase", "couchbases") or not hosts:
            raise ValueError(f"not a Couchbase store URL: {url!r}")
        bucket = unquote(parts.path.strip("/"))
        if not bucket or "/" in bucket:
            raise ValueError(f"{url!r} names no bucket: use couchbase://host[:port]/bucket")
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            known = ", ".join(f"{k} ({v})" for k, v in _PARAMS.items())
            raise ValueError(f"unknown Couchbase URL parameter(s) {unknown}; known: {known}")
        username = params.get("user") or unquote(parts.username or "") or env.get(USER_ENV, "")
        password = (
            params.get("password") or unquote(parts.password or "") or env.get(PASSWORD_ENV, "")
        )
        if not username:
            raise ValueError(f"no Couchbase user: add ?user=... to the URL or set {USER_ENV}")
        durability = params.get("durability", "none").lower()
        if durability not in ("none", "majority"):
            raise ValueError(f"durability must be none or majority, not {durability!r}")
        prefix = params.get("prefix", "cq")
        if not prefix or "::" in prefix or len(prefix) > 40:
            raise ValueError(f"prefix must be 1-40 characters without '::', not {prefix!r}")
        return cls(
            # Several seed nodes may be given, comma-separated, as the SDK takes them.
            connection=f"{parts.scheme}://{hosts}",
            bucket=bucket,
            username=username,
            password=password,
            prefix=prefix,
            scope=params.get("scope") or "_default",
            collection=params.get("collection") or "_default",
            durability=durability,
            timeout=_seconds(params, "timeout", 2.5),
            connect_timeout=_seconds(params, "connect_timeout", 10.0),
        )


def _seconds(params: dict[str, str], name: str, default: float) -> float:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value <= 600:
        raise ValueError(f"{name} must be between 0 and 600 seconds, not {value}")
    return value


class _Orjson(Serializer):  # type: ignore[misc]
    def serialize(self, value: Any) -> bytes:
        return orjson.dumps(value)

    def deserialize(self, value: bytes) -> Any:
        return orjson.loads(value)


def _same(value: Any) -> Any:
    return value


def path(*names: str) -> str:
    """A sub-document path from map keys, each quoted, so any queue name or id is one key."""
    return ".".join("`" + name.replace("`", "``") + "`" for name in names)


def _part(text: str) -> str:
    if len(text.encode()) <= MAX_KEY_PART:
        return text
    return "#" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _unavailable(what: str, exc: Exception) -> StoreUnavailable:
    kind = type(exc).__name__.removesuffix("Exception")
    return StoreUnavailable(f"Couchbase {what} failed ({kind})")


def _detached(op: Awaitable[T]) -> Awaitable[T]:
    """Await an SDK operation without cancelling its future when the caller is cancelled:
    the SDK completes the future itself later, and a cancelled one makes asyncio log an
    InvalidStateError for every cancelled operation. The outcome of an abandoned operation
    is retrieved (and dropped) so that none is reported as never retrieved."""
    future = asyncio.ensure_future(op)
    future.add_done_callback(_drop_outcome)
    return asyncio.shield(future)


def _drop_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


# What the SDK raises besides CouchbaseException: RuntimeError once its cluster is closed.
SDK_ERRORS = (CouchbaseException, RuntimeError)


async def guard(job: Awaitable[T]) -> T:
    """Run a store method's work: an SDK exception that got past the Kv methods (there should
    be none) becomes StoreUnavailable, never escaping the store."""
    try:
        return await job
    except CouchQueueError:
        raise
    except CouchbaseException as exc:
        raise StoreUnavailable(f"Couchbase failed ({type(exc).__name__})") from None


class Kv:
    """One collection, seen through the operations the store needs."""

    def __init__(self, cluster: Cluster, collection: Any, config: CouchbaseConfig) -> None:
        self._cluster = cluster
        self._collection = collection
        self._binary = collection.binary()
        self.config = config
        self._prefix = config.prefix
        self._durability = (
            ServerDurability(DurabilityLevel.MAJORITY) if config.durability == "majority" else None
        )

    @classmethod
    async def connect(cls, config: CouchbaseConfig) -> Kv:
        timeouts = ClusterTimeoutOptions(
            kv_timeout=timedelta(seconds=config.timeout),
            kv_durable_timeout=timedelta(seconds=max(config.timeout, 10.0)),
            connect_timeout=timedelta(seconds=config.connect_timeout),
            bootstrap_timeout=timedelta(seconds=config.connect_timeout),
        )
        options = ClusterOptions(
            PasswordAuthenticator(config.username, config.password),
            timeout_options=timeouts,
            serializer=_Orjson(),
            # No telemetry, no threshold tracer, no logging meter: the last two run a Python
            # reporter thread each that outlives the cluster's close().
            enable_app_telemetry=False,
            enable_tracing=False,
            enable_metrics=False,
        )
        try:
            cluster = await Cluster.connect(config.connection, options)
        except SDK_ERRORS as exc:
            raise _unavailable(f"connecting to {config.connection}", exc) from None
        try:
            bucket = cluster.bucket(config.bucket)
            await bucket.on_connect()
            collection = bucket.scope(config.scope).collection(config.collection)
        except SDK_ERRORS as exc:
            await cluster.close()
            raise _unavailable(f"opening bucket {config.bucket!r}", exc) from None
        return cls(cluster, collection, config)

    async def close(self) -> None:
        try:
            await self._cluster.close()
        except SDK_ERRORS as exc:
            raise _unavailable("closing", exc) from None

    def key(self, *parts: str | int) -> str:
        return "::".join([self._prefix, *(_part(str(p)) for p in parts)])

    async def _call(self, what: str, op: Awaitable[T]) -> T:
        try:
            return await _detached(op)
        except SDK_ERRORS as exc:
            raise _unavailable(what, exc) from None

    # -- whole documents ---------------------------------------------------------------------

    async def get(self, key: str) -> tuple[Any, int] | None:
        """(content, cas), or None if there is no such document."""
        try:
            result = await _detached(self._collection.get(key))
        except DocumentNotFoundException:
            return None
        except SDK_ERRORS as exc:
            raise _unavailable("get", exc) from None
        return result.content_as[_same], int(result.cas)

    async def get_many(self, keys: Sequence[str]) -> list[tuple[Any, int] | None]:
        return list(await asyncio.gather(*(self.get(k) for k in keys)))

    async def cas_of(self, key: str) -> int:
        """The document's CAS without its body (0 if there is none): a cheap change stamp."""
        result = await self._call("exists", self._collection.exists(key))
        return int(result.cas) if result.exists else 0

    async def insert(self, key: str, value: Any, expiry: float | None = None) -> int | None:
        """Create the document; its CAS, or None if it already exists."""
        options = InsertOptions(durability=self._durability)
        if expiry is not None:
            options = InsertOptions(durability=self._durability, expiry=timedelta(seconds=expiry))
        try:
            result = await _detached(self._collection.insert(key, value, options))
        except DocumentExistsException:
            return None
        except SDK_ERRORS as exc:
            raise _unavailable("insert", exc) from None
        return int(result.cas)

    async def upsert(self, key: str, value: Any) -> int:
        options = UpsertOptions(durability=self._durability)
        result = await self._call("upsert", self._collection.upsert(key, value, options))
        return int(result.cas)

    async def replace(
        self, key: str, value: Any, cas: int, expiry: float | None = None
    ) -> int | None:
        """Compare-and-set: the new CAS, or None if the document changed or is gone. Without
        ``expiry`` the document's expiry is cleared (as every Couchbase mutation does)."""
        options = ReplaceOptions(cas=cas, durability=self._durability)
        if expiry is not None:
            options = ReplaceOptions(
                cas=cas, durability=self._durability, expiry=timedelta(seconds=expiry)
            )
        try:
            result = await _detached(self._collection.replace(key, value, options))
        except (CasMismatchException, DocumentNotFoundException, DocumentExistsException):
            return None
        except SDK_ERRORS as exc:
            raise _unavailable("replace", exc) from None
        return int(result.cas)

    async def remove(self, key: str, cas: int = 0) -> bool:
        """Delete the document (only if its CAS is still ``cas``, when given); False if it was
        not there or changed."""
        options = RemoveOptions(cas=cas, durability=self._durability)
        try:
            await _detached(self._collection.remove(key, options))
        except (CasMismatchException, DocumentNotFoundException, DocumentExistsException):
            return False
        except SDK_ERRORS as exc:
            raise _unavailable("remove", exc) from None
        return True

    async def incr(self, key: str, delta: int) -> int:
        """Add ``delta`` (> 0) to a binary counter, created at ``delta``; the new value."""
        options = IncrementOptions(
            delta=DeltaValue(delta), initial=SignedInt64(delta), durability=self._durability
        )
        result = await self._call("increment", self._binary.increment(key, options))
        return int(result.content)

    # -- sub-documents -----------------------------------------------------------------------

    async def mutate(
        self, key: str, specs: Sequence[Spec], *, cas: int = 0, create: bool = False
    ) -> tuple[int, list[Any]] | None:
        """Apply the specs atomically (all or none): (new CAS, counter results). None if the
        document is missing (and ``create`` is false), changed (``cas`` given), or a path
        failed (exists for an insert, missing for a remove)."""
        options = MutateInOptions(
            cas=cas,
            durability=self._durability,
            store_semantics=StoreSemantics.UPSERT if create else StoreSemantics.REPLACE,
        )
        try:
            result = await _detached(self._collection.mutate_in(key, list(specs), options))
        except (
            DocumentNotFoundException,
            CasMismatchException,
            DocumentExistsException,
            PathExistsException,
            PathNotFoundException,
            PathMismatchException,
        ):
            return None
        except SDK_ERRORS as exc:
            raise _unavailable("mutate_in", exc) from None
        values = [
            result.content_as[_same](i) if spec[0] == SD.SubDocOp.COUNTER else None
            for i, spec in enumerate(specs)
        ]
        return int(result.cas), values

    async def mutate_all(
        self, key: str, specs: Sequence[Spec], *, create: bool = False
    ) -> list[tuple[int, list[Any]] | None]:
        """Apply specs in groups of at most MAX_SPECS (each group atomic on its own)."""
        groups = [specs[i : i + MAX_SPECS] for i in range(0, len(specs), MAX_SPECS)]
        return list(await asyncio.gather(*(self.mutate(key, g, create=create) for g in groups)))

    async def lookup(self, key: str, paths: Sequence[str]) -> tuple[list[Any], int] | None:
        """The values at these paths (None where absent) and the CAS; None without document."""
        try:
            result = await _detached(self._collection.lookup_in(key, [SD.get(p) for p in paths]))
        except DocumentNotFoundException:
            return None
        except SDK_ERRORS as exc:
            raise _unavailable("lookup_in", exc) from None
        values = []
        for i in range(len(paths)):
            try:
                values.append(result.content_as[_same](i))
            except (PathNotFoundException, PathMismatchException):
                values.append(None)
            except SDK_ERRORS as exc:
                raise _unavailable("lookup_in", exc) from None
        return values, int(result.cas)
