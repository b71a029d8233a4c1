"""Identifiers the server hands out: 128 random bits as 32 hex digits."""

from __future__ import annotations

import os


def new_id() -> str:
    # os.urandom directly: uuid.uuid4().hex is the same randomness at several times the cost.
    return os.urandom(16).hex()
