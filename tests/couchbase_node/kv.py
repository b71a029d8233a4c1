"""The bucket's documents: CAS on every mutation, pessimistic locks and lazy expiry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.couchbase_node.protocol import DATATYPE_JSON, Status

RELATIVE_EXPIRY_LIMIT = 30 * 24 * 3600  # memcached: larger expiry values are absolute unix times
DEFAULT_LOCK_S, MAX_LOCK_S = 15, 30
NO_CREATE = 0xFFFF_FFFF  # arithmetic expiry meaning "do not create a missing counter"


Xattrs = dict[str, object] | None


class KvError(Exception):
    def __init__(self, status: Status) -> None:
        super().__init__(status.name)
        self.status = status


@dataclass(slots=True)
class Doc:
    value: bytes
    flags: int
    datatype: int
    cas: int
    expires_at: float  # 0 = never
    seqno: int
    locked_until: float = 0.0
    xattrs: Xattrs = None

    def exptime(self) -> int:
        return int(self.expires_at)


def json_datatype(value: bytes) -> int:
    try:
        json.loads(value)
    except ValueError:
        return 0
    return DATATYPE_JSON


class KvStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.docs: dict[bytes, Doc] = {}
        self._cas = 0
        self._seqno = 0

    def expires_at(self, expiry: int) -> float:
        if expiry == 0:
            return 0.0
        return self.clock() + expiry if expiry <= RELATIVE_EXPIRY_LIMIT else float(expiry)

    def locked(self, doc: Doc) -> bool:
        return doc.locked_until > self.clock()

    def _next_cas(self) -> int:
        self._cas = max(self._cas + 1, time.time_ns())
        return self._cas

    def find(self, key: bytes) -> Doc | None:
        doc = self.docs.get(key)
        if doc is not None and doc.expires_at and doc.expires_at <= self.clock():
            del self.docs[key]
            return None
        return doc

    def get(self, key: bytes) -> Doc:
        doc = self.find(key)
        if doc is None:
            raise KvError(Status.KEY_ENOENT)
        return doc

    def writable(self, key: bytes, cas: int) -> Doc | None:
        """The current document if a mutation with this CAS may replace it (None if absent)."""
        doc = self.find(key)
        if doc is None:
            if cas:
                raise KvError(Status.KEY_ENOENT)
            return None
        if self.locked(doc):
            if cas != doc.cas:
                raise KvError(Status.LOCKED)
        elif cas and cas != doc.cas:
            raise KvError(Status.KEY_EEXISTS)
        return doc

    def put(
        self, key: bytes, value: bytes, flags: int, expires_at: float, xattrs: Xattrs = None
    ) -> Doc:
        self._seqno += 1
        doc = Doc(value, flags, json_datatype(value), self._next_cas(), expires_at, self._seqno)
        doc.xattrs = xattrs
        self.docs[key] = doc
        return doc

    def store(
        self, op: str, key: bytes, value: bytes, flags: int, expiry: int, cas: int, keep_ttl: bool
    ) -> Doc:
        current = self.find(key) if op == "add" else self.writable(key, cas)
        if op == "add" and current is not None:
            raise KvError(Status.KEY_EEXISTS)
        if op == "replace" and current is None:
            raise KvError(Status.KEY_ENOENT)
        expires_at = current.expires_at if keep_ttl and current else self.expires_at(expiry)
        return self.put(key, value, flags, expires_at)

    def delete(self, key: bytes, cas: int) -> int:
        if self.writable(key, cas) is None:
            raise KvError(Status.KEY_ENOENT)
        del self.docs[key]
        self._seqno += 1
        return self._next_cas()

    def arithmetic(self, key: bytes, delta: int, initial: int, expiry: int, cas: int) -> Doc:
        doc = self.writable(key, cas)
        if doc is None:
            if expiry == NO_CREATE:
                raise KvError(Status.KEY_ENOENT)
            return self.put(key, str(initial).encode(), 0, self.expires_at(expiry))
        text = doc.value.strip()
        if not text.isdigit() or len(text) > 20 or int(text) >= 1 << 64:
            raise KvError(Status.DELTA_BADVAL)
        number = (int(text) + delta) % (1 << 64) if delta >= 0 else max(0, int(text) + delta)
        return self.put(key, str(number).encode(), doc.flags, doc.expires_at, doc.xattrs)

    def lock(self, key: bytes, seconds: int) -> Doc:
        doc = self.get(key)
        if self.locked(doc):
            raise KvError(Status.LOCKED)
        seconds = DEFAULT_LOCK_S if seconds == 0 else min(seconds, MAX_LOCK_S)
        doc.cas = self._next_cas()
        doc.locked_until = self.clock() + seconds
        return doc

    def unlock(self, key: bytes, cas: int) -> None:
        doc = self.get(key)
        if not self.locked(doc):
            raise KvError(Status.NOT_LOCKED)
        if cas != doc.cas:
            raise KvError(Status.LOCKED)
        doc.locked_until = 0.0

    def touch(self, key: bytes, expiry: int) -> Doc:
        doc = self.get(key)
        if self.locked(doc):
            raise KvError(Status.LOCKED)
        doc.expires_at = self.expires_at(expiry)
        doc.cas = self._next_cas()
        return doc
