"""Memcached binary protocol framing: headers, opcodes, statuses and the error map."""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass
from enum import IntEnum

MAGIC_REQ = 0x80
MAGIC_ALT_REQ = 0x08  # "flexible framing": byte 2 = framing extras length, byte 3 = key length
MAGIC_RES = 0x81
HEADER = struct.Struct(">BBHBBHIIQ")
ALT_HEADER = struct.Struct(">BBBBBBHIIQ")
LOCKED_CAS = 0xFFFF_FFFF_FFFF_FFFF  # what a real node shows as CAS of a locked document
DATATYPE_JSON = 0x01


class Op(IntEnum):
    GET = 0x00
    SET = 0x01
    ADD = 0x02
    REPLACE = 0x03
    DELETE = 0x04
    INCREMENT = 0x05
    DECREMENT = 0x06
    NOOP = 0x0A
    TOUCH = 0x1C
    GAT = 0x1D
    HELLO = 0x1F
    SASL_LIST_MECHS = 0x20
    SASL_AUTH = 0x21
    SASL_STEP = 0x22
    SELECT_BUCKET = 0x89
    GET_LOCKED = 0x94
    UNLOCK = 0x95
    GET_META = 0xA0
    GET_CLUSTER_CONFIG = 0xB5
    SUBDOC_MULTI_LOOKUP = 0xD0
    SUBDOC_MULTI_MUTATION = 0xD1
    GET_ERROR_MAP = 0xFE
    FAULTS = 0xF0  # the test node's own: switch its fault plan (tests/couchbase_node/faults.py)


class Status(IntEnum):
    SUCCESS = 0x00
    KEY_ENOENT = 0x01
    KEY_EEXISTS = 0x02
    E2BIG = 0x03
    EINVAL = 0x04
    DELTA_BADVAL = 0x06
    NO_BUCKET = 0x08
    LOCKED = 0x09
    NOT_LOCKED = 0x0E
    AUTH_ERROR = 0x20
    AUTH_CONTINUE = 0x21
    EACCESS = 0x24
    UNKNOWN_COMMAND = 0x81
    TMPFAIL = 0x86
    SUBDOC_PATH_ENOENT = 0xC0
    SUBDOC_PATH_MISMATCH = 0xC1
    SUBDOC_PATH_EINVAL = 0xC2
    SUBDOC_VALUE_CANTINSERT = 0xC5
    SUBDOC_DOC_NOT_JSON = 0xC6
    SUBDOC_NUM_ERANGE = 0xC7
    SUBDOC_DELTA_EINVAL = 0xC8
    SUBDOC_PATH_EEXISTS = 0xC9
    SUBDOC_INVALID_COMBO = 0xCB
    SUBDOC_MULTI_PATH_FAILURE = 0xCC


# status -> (name, attrs). The attrs drive the SDK: "retry-now" makes it retry a LOCKED reply.
_ERRORS: dict[Status, tuple[str, list[str]]] = {  # names and attrs as in kv_engine's map
    Status.SUCCESS: ("SUCCESS", ["success"]),
    Status.KEY_ENOENT: ("KEY_ENOENT", ["item-only"]),
    Status.KEY_EEXISTS: ("KEY_EEXISTS", ["item-only"]),
    Status.E2BIG: ("E2BIG", ["item-only", "invalid-input"]),
    Status.EINVAL: ("EINVAL", ["internal", "invalid-input"]),
    Status.DELTA_BADVAL: ("DELTA_BADVAL", ["item-only", "invalid-input"]),
    Status.NO_BUCKET: ("NO_BUCKET", ["conn-state-invalidated"]),
    Status.LOCKED: ("LOCKED", ["item-locked", "item-only", "retry-now"]),
    Status.NOT_LOCKED: ("NOT_LOCKED", ["item-only"]),
    Status.AUTH_ERROR: ("AUTH_ERROR", ["conn-state-invalidated", "auth"]),
    Status.AUTH_CONTINUE: ("AUTH_CONTINUE", ["special-handling"]),
    Status.EACCESS: ("EACCESS", ["support"]),
    Status.UNKNOWN_COMMAND: ("UNKNOWN_COMMAND", ["support"]),
    Status.TMPFAIL: ("ETMPFAIL", ["temp", "retry-later"]),
    **{s: (s.name, ["subdoc", "item-only"]) for s in Status if 0xC0 <= s <= 0xCB},
    Status.SUBDOC_PATH_EINVAL: ("SUBDOC_PATH_EINVAL", ["subdoc", "invalid-input"]),
    Status.SUBDOC_VALUE_CANTINSERT: ("SUBDOC_VALUE_CANTINSERT", ["subdoc", "invalid-input"]),
    Status.SUBDOC_INVALID_COMBO: ("SUBDOC_INVALID_COMBO", ["subdoc", "invalid-input"]),
    Status.SUBDOC_MULTI_PATH_FAILURE: ("SUBDOC_MULTI_PATH_FAILURE", ["subdoc", "special-handling"]),
}


def error_map_json() -> bytes:
    errors = {
        f"{code:x}": {"name": name, "desc": name.lower().replace("_", " "), "attrs": attrs}
        for code, (name, attrs) in _ERRORS.items()
    }
    return json.dumps({"version": 2, "revision": 1, "errors": errors}).encode()


@dataclass(slots=True)
class Request:
    magic: int
    opcode: int
    datatype: int
    vbucket: int
    opaque: int
    cas: int
    framing: bytes
    extras: bytes
    key: bytes
    value: bytes

    def frame_ids(self) -> set[int]:
        """Ids of the flexible framing infos (e.g. 0x05 preserve expiry)."""
        ids, i = set(), 0
        while i < len(self.framing):
            ids.add(self.framing[i] >> 4)
            i += 1 + (self.framing[i] & 0x0F)
        return ids


class ProtocolError(Exception):
    pass


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        header = await reader.readexactly(24)
    except asyncio.IncompleteReadError:
        return None
    if header[0] == MAGIC_REQ:
        _, opcode, keylen, extlen, datatype, vbucket, bodylen, opaque, cas = HEADER.unpack(header)
        framelen = 0
    elif header[0] == MAGIC_ALT_REQ:
        fields = ALT_HEADER.unpack(header)
        _, opcode, framelen, keylen, extlen, datatype, vbucket, bodylen, opaque, cas = fields
    else:
        raise ProtocolError(f"bad magic 0x{header[0]:02x}")
    body = await reader.readexactly(bodylen)
    a, b, c = framelen, framelen + extlen, framelen + extlen + keylen
    return Request(
        header[0], opcode, datatype, vbucket, opaque, cas, body[:a], body[a:b], body[b:c], body[c:]
    )


def response(
    req: Request,
    status: int = Status.SUCCESS,
    *,
    extras: bytes = b"",
    key: bytes = b"",
    value: bytes = b"",
    cas: int = 0,
    datatype: int = 0,
) -> bytes:
    bodylen = len(extras) + len(key) + len(value)
    header = HEADER.pack(
        MAGIC_RES, req.opcode, len(key), len(extras), datatype, status, bodylen, req.opaque, cas
    )
    return header + extras + key + value
