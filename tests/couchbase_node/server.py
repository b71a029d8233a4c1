"""One Couchbase KV node: an asyncio server over the memcached binary protocol."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.couchbase_node import subdoc
from tests.couchbase_node.auth import MECHANISMS, AuthFailed, ScramSession
from tests.couchbase_node.faults import FaultCounts, FaultPlan
from tests.couchbase_node.kv import Doc, KvError, KvStore
from tests.couchbase_node.protocol import (
    DATATYPE_JSON,
    LOCKED_CAS,
    Op,
    ProtocolError,
    Request,
    Status,
    error_map_json,
    read_request,
    response,
)

log = logging.getLogger("couchbase_node")
GRANTED_FEATURES = {0x03, 0x07, 0x08, 0x0B}  # TCPNODELAY, XERROR, SELECT_BUCKET, JSON
PRE_AUTH = {
    Op.HELLO, Op.SASL_LIST_MECHS, Op.SASL_AUTH, Op.SASL_STEP, Op.GET_ERROR_MAP, Op.NOOP, Op.FAULTS,
}  # fmt: skip
BUCKET_OPS = {op for op in Op if op < 0x20 and op not in (Op.NOOP, Op.HELLO)} | {
    Op.GET_LOCKED, Op.UNLOCK, Op.GET_META, Op.SUBDOC_MULTI_LOOKUP, Op.SUBDOC_MULTI_MUTATION,
}  # fmt: skip
PRESERVE_EXPIRY_FRAME = 0x05


@dataclass
class Node:
    host: str
    port: int
    bucket: str
    users: dict[str, str]
    store: KvStore = field(default_factory=KvStore)
    uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    faults: FaultPlan = field(default_factory=FaultPlan)
    counts: FaultCounts = field(default_factory=FaultCounts)

    def cluster_config(self, with_bucket: bool) -> bytes:
        node = {"services": {"kv": self.port, "mgmt": 8091}, "hostname": self.host}
        config: dict[str, object] = {
            "rev": 1,
            "revEpoch": 1,
            "nodesExt": [{**node, "thisNode": True}],
            "clusterCapabilitiesVer": [1, 0],
            "clusterCapabilities": {"n1ql": []},
        }
        if with_bucket:
            config |= {
                "name": self.bucket,
                "uuid": self.uuid,
                "bucketType": "membase",
                "nodeLocator": "vbucket",
                "collectionsManifestUid": "0",
                "bucketCapabilitiesVer": "",
                "bucketCapabilities": ["cbhello", "cccp", "xattr", "touch", "nodesExt"],
                "vBucketServerMap": {
                    "hashAlgorithm": "CRC",
                    "numReplicas": 0,
                    "serverList": [f"{self.host}:{self.port}"],
                    "vBucketMap": [[0]] * 1024,
                },
            }
        return json.dumps(config).encode()

    async def serve(self) -> asyncio.Server:
        server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(self)
        try:
            while (req := await read_request(reader)) is not None:
                fault = self.faults.pick(req.opcode) if req.opcode in BUCKET_OPS else None
                if req.opcode in BUCKET_OPS:
                    self.counts.ops[Op(req.opcode).name] += 1
                if fault is not None:
                    self.counts.faults[fault] += 1
                if fault == "delay":
                    await asyncio.sleep(self.faults.pause())
                if fault == "unapplied_unanswered":
                    continue
                if fault in ("tmpfail", "locked"):
                    status = Status.TMPFAIL if fault == "tmpfail" else Status.LOCKED
                    reply = response(req, status)
                else:
                    reply = conn.handle(req)
                    if struct.unpack_from(">H", reply, 6)[0] == Status.LOCKED:
                        self.counts.locked_answers += 1
                if fault == "applied_unanswered":
                    continue
                if log.isEnabledFor(logging.DEBUG):
                    name = Op(req.opcode).name if req.opcode in Op._value2member_map_ else "?"
                    status = struct.unpack_from(">H", reply, 6)[0]
                    log.debug(
                        "conn=%x magic=0x%02x op=0x%02x %s key=%r frames=%s -> 0x%02x", id(conn),
                        req.magic, req.opcode, name, req.key[:40], req.framing.hex(), status,
                    )  # fmt: skip
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, ProtocolError, asyncio.IncompleteReadError) as exc:
            log.debug("conn=%x closed: %r", id(conn), exc)
        except Exception:
            log.exception("conn=%x failed", id(conn))
        finally:
            writer.close()


class Connection:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.store = node.store
        self.authenticated = False
        self.bucket: str | None = None
        self.scram: ScramSession | None = None

    def handle(self, req: Request) -> bytes:
        if req.opcode not in Op._value2member_map_:
            return response(req, Status.UNKNOWN_COMMAND)
        if not self.authenticated and req.opcode not in PRE_AUTH:
            return response(req, Status.EACCESS)
        if req.opcode in BUCKET_OPS and self.bucket is None:
            return response(req, Status.NO_BUCKET)
        handler: Callable[[Request], bytes] = getattr(self, f"op_{Op(req.opcode).name.lower()}")
        try:
            return handler(req)
        except KvError as exc:
            return response(req, exc.status)
        except (struct.error, ValueError, UnicodeDecodeError) as exc:  # malformed extras or body
            log.warning("op=0x%02x invalid request: %r", req.opcode, exc)
            return response(req, Status.EINVAL)

    # -- session ---------------------------------------------------------------------------
    def op_hello(self, req: Request) -> bytes:
        wanted = struct.unpack(f">{len(req.value) // 2}H", req.value)
        log.debug("HELLO agent=%s features=%s", req.key.decode(), [hex(f) for f in wanted])
        granted = [f for f in wanted if f in GRANTED_FEATURES]
        return response(req, value=struct.pack(f">{len(granted)}H", *granted))

    def op_noop(self, req: Request) -> bytes:
        return response(req)

    def op_sasl_list_mechs(self, req: Request) -> bytes:
        return response(req, value=" ".join(MECHANISMS).encode())

    def op_sasl_auth(self, req: Request) -> bytes:
        try:
            self.scram = ScramSession(req.key.decode(), self.node.users)
            return response(req, Status.AUTH_CONTINUE, value=self.scram.start(req.value))
        except (AuthFailed, UnicodeDecodeError):
            return response(req, Status.AUTH_ERROR)

    def op_sasl_step(self, req: Request) -> bytes:
        session, self.scram = self.scram, None
        try:
            if session is None:
                raise AuthFailed("no SASL_AUTH before SASL_STEP")
            final = session.finish(req.value)
        except (AuthFailed, UnicodeDecodeError, ValueError):
            return response(req, Status.AUTH_ERROR)
        self.authenticated = True
        return response(req, value=final)

    def op_get_error_map(self, req: Request) -> bytes:
        return response(req, value=error_map_json(), datatype=DATATYPE_JSON)

    def op_select_bucket(self, req: Request) -> bytes:
        if req.key.decode() != self.node.bucket:
            return response(req, Status.KEY_ENOENT)
        self.bucket = self.node.bucket
        return response(req)

    def op_faults(self, req: Request) -> bytes:
        try:
            plan = FaultPlan.from_json(json.loads(req.value or b"{}"))
        except (ValueError, KeyError, TypeError) as exc:
            return response(req, Status.EINVAL, value=str(exc).encode())
        counts = self.node.counts.as_json()
        self.node.faults = plan
        return response(req, value=json.dumps(counts).encode(), datatype=DATATYPE_JSON)

    def op_get_cluster_config(self, req: Request) -> bytes:
        config = self.node.cluster_config(with_bucket=self.bucket is not None)
        return response(req, value=config, datatype=DATATYPE_JSON)

    # -- key-value -------------------------------------------------------------------------
    def _read(self, req: Request, doc: Doc) -> bytes:
        cas = LOCKED_CAS if self.store.locked(doc) and req.opcode != Op.GET_LOCKED else doc.cas
        extras = struct.pack(">I", doc.flags)
        return response(req, extras=extras, value=doc.value, cas=cas, datatype=doc.datatype)

    def op_get(self, req: Request) -> bytes:
        return self._read(req, self.store.get(req.key))

    def _store(self, req: Request, op: str) -> bytes:
        flags, expiry = struct.unpack(">II", req.extras) if req.extras else (0, 0)
        keep_ttl = PRESERVE_EXPIRY_FRAME in req.frame_ids()
        doc = self.store.store(op, req.key, req.value, flags, expiry, req.cas, keep_ttl)
        return response(req, cas=doc.cas)

    def op_set(self, req: Request) -> bytes:
        return self._store(req, "set")

    def op_add(self, req: Request) -> bytes:
        return self._store(req, "add")

    def op_replace(self, req: Request) -> bytes:
        return self._store(req, "replace")

    def op_delete(self, req: Request) -> bytes:
        return response(req, cas=self.store.delete(req.key, req.cas))

    def _arithmetic(self, req: Request, sign: int) -> bytes:
        delta, initial, expiry = struct.unpack(">QQI", req.extras)
        doc = self.store.arithmetic(req.key, sign * delta, initial, expiry, req.cas)
        return response(req, value=struct.pack(">Q", int(doc.value)), cas=doc.cas)

    def op_increment(self, req: Request) -> bytes:
        return self._arithmetic(req, 1)

    def op_decrement(self, req: Request) -> bytes:
        return self._arithmetic(req, -1)

    def op_get_locked(self, req: Request) -> bytes:
        (seconds,) = struct.unpack(">I", req.extras) if req.extras else (0,)
        return self._read(req, self.store.lock(req.key, seconds))

    def op_unlock(self, req: Request) -> bytes:
        self.store.unlock(req.key, req.cas)
        return response(req)

    def op_touch(self, req: Request) -> bytes:
        doc = self.store.touch(req.key, struct.unpack(">I", req.extras)[0])
        return response(req, cas=doc.cas)

    def op_gat(self, req: Request) -> bytes:
        return self._read(req, self.store.touch(req.key, struct.unpack(">I", req.extras)[0]))

    def op_get_meta(self, req: Request) -> bytes:
        doc = self.store.get(req.key)
        extras = struct.pack(">IIIQ", 0, doc.flags, doc.exptime(), doc.seqno)
        if req.extras[:1] == b"\x02":  # version 2 adds the datatype
            extras += bytes([doc.datatype])
        return response(req, extras=extras, cas=doc.cas)

    # -- sub-document ----------------------------------------------------------------------
    def _virtual_xattrs(self, doc: Doc) -> dict[str, object]:
        return {
            "$document": {
                "CAS": f"0x{doc.cas:016x}",
                "exptime": doc.exptime(),
                "flags": doc.flags,
                "value_bytes": len(doc.value),
                "datatype": ["json"] if doc.datatype & DATATYPE_JSON else ["raw"],
                "deleted": False,
                "seqno": f"0x{doc.seqno:016x}",
            }
        }

    def op_subdoc_multi_lookup(self, req: Request) -> bytes:
        doc = self.store.get(req.key)
        body = json.loads(doc.value) if doc.datatype & DATATYPE_JSON else None
        xattrs = {**(doc.xattrs or {}), **self._virtual_xattrs(doc)}
        out, overall = [], Status.SUCCESS
        specs = subdoc.parse_lookup_specs(req.value)
        log.debug("lookup_in specs=%s", [(hex(op), flags, path) for op, flags, path in specs])
        for op, flags, path in specs:
            status, value = Status.SUCCESS, b""
            try:
                if op == subdoc.GET_DOC:
                    value = doc.value
                elif flags & subdoc.PATH_XATTR:
                    value = subdoc.lookup(xattrs, op, path)
                elif body is None:
                    raise subdoc.PathError(Status.SUBDOC_DOC_NOT_JSON)
                else:
                    value = subdoc.lookup(body, op, path)
            except subdoc.PathError as exc:
                status, overall = exc.status, Status.SUBDOC_MULTI_PATH_FAILURE
            out.append(struct.pack(">HI", status, len(value)) + value)
        cas = LOCKED_CAS if self.store.locked(doc) else doc.cas
        return response(req, overall, value=b"".join(out), cas=cas)

    def op_subdoc_multi_mutation(self, req: Request) -> bytes:
        extras = req.extras
        doc_flags = extras[-1] if len(extras) % 2 else 0
        expiry = struct.unpack_from(">I", extras)[0] if len(extras) >= 4 else None
        user_flags = struct.unpack_from(">I", extras, 4)[0] if len(extras) >= 8 else None
        current = self.store.writable(req.key, req.cas)
        if current is not None and doc_flags & subdoc.DOC_ADD:
            raise KvError(Status.KEY_EEXISTS)
        if current is None and not doc_flags & (subdoc.DOC_ADD | subdoc.DOC_MKDOC):
            raise KvError(Status.KEY_ENOENT)
        body: Any = {}
        xattrs: dict[str, Any] = {}
        if current is not None:
            body = json.loads(current.value) if current.datatype & DATATYPE_JSON else None
            xattrs = copy.deepcopy(current.xattrs or {})
        results: list[bytes] = []
        specs = subdoc.parse_mutation_specs(req.value)
        log.debug(
            "mutate_in extras=%s specs=%s", extras.hex(), [(hex(s[0]), s[1], s[2]) for s in specs]
        )
        for index, (op, flags, path, raw) in enumerate(specs):
            try:
                if op == subdoc.SET_DOC:
                    body = subdoc.mutate(body, subdoc.REPLACE, 0, "", raw)[0]
                    continue
                if flags & subdoc.PATH_XATTR:
                    xattrs, value = subdoc.mutate(xattrs, op, flags, path, raw)
                elif body is None:
                    raise subdoc.PathError(Status.SUBDOC_DOC_NOT_JSON)
                else:
                    body, value = subdoc.mutate(body, op, flags, path, raw)
            except subdoc.PathError as exc:
                failure = struct.pack(">BH", index, exc.status)
                return response(req, Status.SUBDOC_MULTI_PATH_FAILURE, value=failure)
            if value is not None:
                results.append(struct.pack(">BHI", index, 0, len(value)) + value)
        if expiry is not None:
            expires_at = self.store.expires_at(expiry)
        elif current is not None and PRESERVE_EXPIRY_FRAME in req.frame_ids():
            expires_at = current.expires_at
        else:
            expires_at = 0.0
        flags = user_flags if user_flags is not None else current.flags if current else 0
        new_value = subdoc.dumps(body) if body is not None or current is None else current.value
        doc = self.store.put(req.key, new_value, flags, expires_at, xattrs or None)
        return response(req, value=b"".join(results), cas=doc.cas)
