"""Bearer tokens on Couchbase: one document, ``tokens`` = ``{items: {name: token}}``, changed
by compare-and-set (tokens are few and change rarely; every node reads the whole set twice a
second). A mixin of CouchbaseStore, which provides ``kv``."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from typing import Any, TypeVar

from app.store.couchbase_kv import Kv
from resolvers.access import ApiToken
from resolvers.errors import StoreUnavailable

T = TypeVar("T")
# Compare-and-set retries on the tokens document before giving up.
CAS_TRIES = 50


class Tokens:
    kv: Kv

    async def _change_tokens(self, change: Callable[[dict[str, Any]], T | None]) -> T | None:
        """Read-modify-write of the tokens document by CAS, retried with jitter. ``change``
        edits the items in place and returns a result, or None to write nothing."""
        key = self.kv.key("tokens")
        for attempt in range(CAS_TRIES):
            got = await self.kv.get(key)
            items = dict((got[0].get("items") or {}) if got else {})
            result = change(items)
            if result is None:
                return None
            new = {"items": items}
            done = await (
                self.kv.insert(key, new) if got is None else self.kv.replace(key, new, got[1])
            )
            if done is not None:
                return result
            await asyncio.sleep(random.uniform(0, 0.001 * (attempt + 1)))
        raise StoreUnavailable("the tokens document kept changing; try again")

    async def add_token(self, token: ApiToken) -> bool:
        def change(items: dict[str, Any]) -> bool | None:
            if token.name in items:
                return None
            items[token.name] = dataclasses.asdict(token)
            return True

        return await self._change_tokens(change) is not None

    async def list_tokens(self) -> list[ApiToken]:
        got = await self.kv.get(self.kv.key("tokens"))
        items = (got[0].get("items") or {}) if got else {}
        return [ApiToken(**items[name]) for name in sorted(items)]

    async def delete_token(self, name: str) -> bool:
        def change(items: dict[str, Any]) -> bool | None:
            return True if items.pop(name, None) is not None else None

        return await self._change_tokens(change) is not None

    async def token_used(self, name: str, at: float) -> None:
        def change(items: dict[str, Any]) -> bool | None:
            token = items.get(name)
            if token is None or (token.get("last_used_at") or 0.0) >= at:
                return None
            token["last_used_at"] = at
            return True

        await self._change_tokens(change)
