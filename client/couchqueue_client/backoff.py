"""Exponential backoff with a cap and jitter, for reconnecting and retrying."""

from __future__ import annotations

import random


class Backoff:
    """Delays base, 2·base, 4·base, ... up to cap, each with "equal jitter" (between half the
    delay and the whole of it), so a fleet of workers does not come back in lockstep."""

    def __init__(self, base: float = 0.1, cap: float = 30.0, factor: float = 2.0) -> None:
        self.base = base
        self.cap = cap
        self.factor = factor
        self.failures = 0

    def next(self) -> float:
        delay = min(self.cap, self.base * self.factor ** min(self.failures, 64))
        self.failures += 1
        return delay / 2 + random.uniform(0, delay / 2)

    def reset(self) -> None:
        self.failures = 0
