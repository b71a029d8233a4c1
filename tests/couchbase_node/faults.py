"""Server side of the fault layer: what the test node does wrong, on purpose, and how often.

A plan is switched on (and off) over the node's own port with the FAULTS control opcode (see
``set_faults``), so a running session's node can be turned faulty for one test. Per data
operation (the opcodes named, or all of them) with a seeded random rate, one of:
- ``delay``: answer after a pause (the connection stalls meanwhile, as a slow node does);
- ``tmpfail``: answer a temporary failure, nothing applied;
- ``locked``: answer LOCKED, nothing applied;
- ``applied_unanswered``: apply the operation, never answer (the client times out: ambiguous);
- ``unapplied_unanswered``: drop the operation, never answer.
The answer to FAULTS is the node's counts so far: operations by opcode, faults by kind, and
LOCKED answers given by the store itself (a client that waited on a real lock).
"""

from __future__ import annotations

import json
import random
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.couchbase_node.protocol import HEADER, MAGIC_REQ, MAGIC_RES, Op

KINDS = ("delay", "tmpfail", "locked", "applied_unanswered", "unapplied_unanswered")


@dataclass
class FaultPlan:
    seed: int = 0
    rate: float = 0.0
    kinds: dict[str, float] = field(default_factory=dict)
    ops: set[int] | None = None  # None: every data operation
    delay: tuple[float, float] = (0.001, 0.02)
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_json(cls, config: dict[str, Any]) -> FaultPlan:
        kinds = {k: float(w) for k, w in (config.get("kinds") or dict.fromkeys(KINDS, 1)).items()}
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        ops = config.get("ops")
        low, high = config.get("delay", (0.001, 0.02))
        seed = int(config.get("seed", 0))
        return cls(
            seed=seed,
            rate=float(config.get("rate", 0.0)),
            kinds=kinds,
            ops=None if ops is None else {int(Op[name.upper()]) for name in ops},
            delay=(float(low), float(high)),
            rng=random.Random(seed),
        )

    def pick(self, opcode: int) -> str | None:
        """The fault for this operation, if any."""
        if self.rate <= 0 or (self.ops is not None and opcode not in self.ops):
            return None
        if self.rng.random() >= self.rate:
            return None
        names = list(self.kinds)
        return self.rng.choices(names, weights=[self.kinds[n] for n in names])[0]

    def pause(self) -> float:
        return self.rng.uniform(*self.delay)


@dataclass
class FaultCounts:
    ops: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    locked_answers: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "ops": dict(self.ops),
            "faults": dict(self.faults),
            "locked_answers": self.locked_answers,
        }


def set_faults(port: int, config: dict[str, Any], host: str = "127.0.0.1") -> dict[str, Any]:
    """Switch the node's fault plan (``{}`` switches faults off) and return its counts so far:
    ``{"ops": {opcode name: n}, "faults": {kind: n}, "locked_answers": n}``."""
    body = json.dumps(config).encode()
    request = HEADER.pack(MAGIC_REQ, Op.FAULTS, 0, 0, 0, 0, len(body), 0xFA, 0) + body
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request)
        header = _read(sock, 24)
        if header[0] != MAGIC_RES:
            raise RuntimeError("not an answer from the test node")
        status, length = struct.unpack_from(">HI", header, 6)
        value = _read(sock, length)
    if status:
        raise RuntimeError(f"FAULTS refused (0x{status:02x}): {value!r}")
    answer: dict[str, Any] = json.loads(value)
    return answer


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the test node closed the connection")
        data += chunk
    return data
