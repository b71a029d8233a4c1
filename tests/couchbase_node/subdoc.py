"""Sub-document paths and operations on parsed JSON (LOOKUP_IN 0xd0 / MUTATE_IN 0xd1 specs)."""

from __future__ import annotations

import itertools
import json
import struct
from typing import Any

from tests.couchbase_node.protocol import Status

GET_DOC, SET_DOC = 0x00, 0x01
GET, EXISTS, DICT_ADD, DICT_UPSERT, DELETE, REPLACE = 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA
ARRAY_PUSH_LAST, ARRAY_PUSH_FIRST, ARRAY_ADD_UNIQUE, COUNTER, GET_COUNT = (
    0xCB,
    0xCC,
    0xCE,
    0xCF,
    0xD2,
)
PATH_MKDIR_P, PATH_XATTR = 0x01, 0x04
DOC_MKDOC, DOC_ADD = 0x01, 0x02
INT64 = 1 << 63

Path = list[str | int]


class PathError(Exception):
    def __init__(self, status: Status) -> None:
        super().__init__(status.name)
        self.status = status


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def parse_lookup_specs(data: bytes) -> list[tuple[int, int, str]]:
    specs, i = [], 0
    while i < len(data):
        op, flags, plen = struct.unpack_from(">BBH", data, i)
        specs.append((op, flags, data[i + 4 : i + 4 + plen].decode()))
        i += 4 + plen
    return specs


def parse_mutation_specs(data: bytes) -> list[tuple[int, int, str, bytes]]:
    specs, i = [], 0
    while i < len(data):
        op, flags, plen, vlen = struct.unpack_from(">BBHI", data, i)
        path = data[i + 8 : i + 8 + plen].decode()
        specs.append((op, flags, path, data[i + 8 + plen : i + 8 + plen + vlen]))
        i += 8 + plen + vlen
    return specs


def parse_path(path: str) -> Path:
    """`a.b[0].c`, with backtick-quoted names (a doubled backtick is a literal one)."""
    segs: Path = []
    name, quoted, pending, i = "", False, False, 0
    while i < len(path):
        c = path[i]
        if quoted:
            if c == "`" and path[i + 1 : i + 2] == "`":
                name, i = name + "`", i + 1
            elif c == "`":
                quoted = False
            else:
                name += c
        elif c == "`":
            quoted = pending = True
        elif c in ".[":
            if pending:
                segs.append(name)
            elif c == "." and (not segs or path[i - 1] != "]"):
                raise PathError(Status.SUBDOC_PATH_EINVAL)
            name, pending = "", False
            if c == "[":
                end = path.find("]", i)
                if end < 0 or not path[i + 1 : end].lstrip("-").isdigit():
                    raise PathError(Status.SUBDOC_PATH_EINVAL)
                index = int(path[i + 1 : end])
                if index < -1:
                    raise PathError(Status.SUBDOC_PATH_EINVAL)
                segs.append(index)
                i = end
        else:
            name, pending = name + c, True
        i += 1
    if quoted or (path and not pending and path[-1] != "]"):
        raise PathError(Status.SUBDOC_PATH_EINVAL)
    if pending:
        segs.append(name)
    return segs


def _step(cur: Any, seg: str | int) -> Any:
    if isinstance(seg, int):
        if not isinstance(cur, list):
            raise PathError(Status.SUBDOC_PATH_MISMATCH)
        if not -len(cur) <= seg < len(cur):
            raise PathError(Status.SUBDOC_PATH_ENOENT)
        return cur[seg]
    if not isinstance(cur, dict):
        raise PathError(Status.SUBDOC_PATH_MISMATCH)
    if seg not in cur:
        raise PathError(Status.SUBDOC_PATH_ENOENT)
    return cur[seg]


def _parent(root: Any, segs: Path, create: bool = False) -> Any:
    cur = root
    for seg, nxt in itertools.pairwise(segs):
        if create and isinstance(seg, str) and isinstance(cur, dict) and seg not in cur:
            if isinstance(nxt, int):
                raise PathError(Status.SUBDOC_PATH_ENOENT)
            cur[seg] = {}
        cur = _step(cur, seg)
    return cur


def lookup(root: Any, op: int, path: str) -> bytes:
    segs = parse_path(path)
    value = root
    for seg in segs:
        value = _step(value, seg)
    if op == GET_COUNT:
        if not isinstance(value, dict | list):
            raise PathError(Status.SUBDOC_PATH_MISMATCH)
        return dumps(len(value))
    return b"" if op == EXISTS else dumps(value)


def _fragment(raw: bytes, multi: bool = False) -> Any:
    try:
        return json.loads(b"[" + raw + b"]" if multi else raw)
    except ValueError as exc:
        raise PathError(Status.SUBDOC_VALUE_CANTINSERT) from exc


def mutate(root: Any, op: int, flags: int, path: str, raw: bytes) -> tuple[Any, bytes | None]:
    """Apply one mutation spec; returns the (possibly new) root and the spec's result value."""
    segs = parse_path(path)
    if op == REPLACE and not segs:
        return _fragment(raw), None
    create = bool(flags & PATH_MKDIR_P)
    if op in (ARRAY_PUSH_LAST, ARRAY_PUSH_FIRST, ARRAY_ADD_UNIQUE):
        _array_op(root, segs, op, create, raw)
        return root, None
    if not segs:
        raise PathError(Status.SUBDOC_PATH_EINVAL)
    parent, last = _parent(root, segs, create), segs[-1]
    if op in (DICT_ADD, DICT_UPSERT):
        if not isinstance(last, str):
            raise PathError(Status.SUBDOC_PATH_EINVAL)
        if not isinstance(parent, dict):
            raise PathError(Status.SUBDOC_PATH_MISMATCH)
        if op == DICT_ADD and last in parent:
            raise PathError(Status.SUBDOC_PATH_EEXISTS)
        parent[last] = _fragment(raw)
        return root, None
    if op == COUNTER:
        return root, _counter(parent, last, raw)
    _step(parent, last)  # REPLACE and DELETE need an existing target
    if op == REPLACE:
        parent[last] = _fragment(raw)
    elif op == DELETE:
        del parent[last]
    else:
        raise PathError(Status.SUBDOC_INVALID_COMBO)
    return root, None


def _array_op(root: Any, segs: Path, op: int, create: bool, raw: bytes) -> None:
    if segs:
        parent, last = _parent(root, segs, create), segs[-1]
        if create and isinstance(last, str) and isinstance(parent, dict) and last not in parent:
            parent[last] = []
        target = _step(parent, last)
    else:
        target = root
    if not isinstance(target, list):
        raise PathError(Status.SUBDOC_PATH_MISMATCH)
    values = _fragment(raw, multi=True)
    if op == ARRAY_PUSH_LAST:
        target.extend(values)
    elif op == ARRAY_PUSH_FIRST:
        target[:0] = values
    else:
        if len(values) != 1 or isinstance(values[0], dict | list):
            raise PathError(Status.SUBDOC_VALUE_CANTINSERT)
        if any(isinstance(v, dict | list) for v in target):
            raise PathError(Status.SUBDOC_PATH_MISMATCH)
        if any(type(v) is type(values[0]) and v == values[0] for v in target):
            raise PathError(Status.SUBDOC_PATH_EEXISTS)
        target.append(values[0])


def _counter(parent: Any, last: str | int, raw: bytes) -> bytes:
    try:
        delta = int(raw)
    except ValueError as exc:
        raise PathError(Status.SUBDOC_DELTA_EINVAL) from exc
    if delta == 0 or not -INT64 <= delta < INT64:
        raise PathError(Status.SUBDOC_DELTA_EINVAL)
    if isinstance(parent, dict) and isinstance(last, str) and last not in parent:
        current = 0
    else:
        current = _step(parent, last)
        if type(current) is not int:
            raise PathError(Status.SUBDOC_PATH_MISMATCH)
    if not -INT64 <= current + delta < INT64:
        raise PathError(Status.SUBDOC_NUM_ERANGE)
    parent[last] = current + delta
    return dumps(current + delta)
