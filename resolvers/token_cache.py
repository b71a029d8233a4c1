"""A per-process copy of the store's token set, trusted for a bounded time.

Every request with auth on looks its token up here; reading the store each time would put a
store read before every operation. A copy trusted for ``max_age`` seconds (0.5 by default)
means a token created or revoked on another node is honoured here within that time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from resolvers.access import ApiToken
from resolvers.store import Store


class TokenCache:
    """This node's copy of the token set, by secret hash, trusted for ``max_age`` seconds."""

    def __init__(
        self, max_age: float = 0.5, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age = max_age
        self._monotonic = monotonic
        self._by_hash: dict[str, ApiToken] = {}
        self._loaded_at = -math.inf
        self._reload = asyncio.Lock()

    async def current(self, store: Store, max_age: float | None = None) -> dict[str, ApiToken]:
        """The token set, read again if the copy is older than ``max_age`` (the cache's own
        unless given)."""
        age = self.max_age if max_age is None else max_age
        if self._monotonic() - self._loaded_at < age:
            return self._by_hash
        async with self._reload:
            # Another request may have reloaded while this one waited.
            if self._monotonic() - self._loaded_at >= age:
                started = self._monotonic()
                tokens = await store.list_tokens()
                self._by_hash = {t.secret_hash: t for t in tokens}
                self._loaded_at = started
        return self._by_hash

    def forget(self) -> None:
        """Read the store again on next use (this node changed the token set)."""
        self._loaded_at = -math.inf
