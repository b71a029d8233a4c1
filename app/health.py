"""/healthz (the process answers) and /readyz (the store can take a write now).

/readyz makes the store commit a tiny write (Store.ready), so a store that is full, read-only,
corrupt, or whose file was removed or replaced under the node fails it. The store's thorough
check (SQLite's quick_check reads the whole file) runs at most once per
``store_check_interval`` seconds, one at a time; the store also runs it when it opens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from resolvers.errors import CouchQueueError, StoreNotReady
from resolvers.store import Store


class Readiness:
    """Asks the store whether it can take a write, thoroughly now and then."""

    def __init__(
        self, store: Store, check_interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.check_interval = check_interval
        self.clock = clock
        self._last_thorough = clock()
        self._thorough_running = asyncio.Lock()

    def _thorough_due(self) -> bool:
        due = self.clock() - self._last_thorough >= self.check_interval
        return self.check_interval > 0 and due and not self._thorough_running.locked()

    async def check(self) -> dict[str, Any] | None:
        """None when ready; otherwise the reasons, as /readyz reports them."""
        try:
            if self._thorough_due():
                async with self._thorough_running:
                    self._last_thorough = self.clock()
                    await self.store.ready(thorough=True)
            else:
                await self.store.ready()
        except StoreNotReady as exc:
            return {"error": exc.message, "reason": exc.reason, "store": exc.location}
        except CouchQueueError as exc:
            return {"error": exc.message, "reason": "unavailable"}
        return None


async def healthz(request: Request) -> Response:
    """Alive: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready: the store can take a write now. 503 with the reason (and the store) if not."""
    problem = await request.app.state.readiness.check()
    if problem is not None:
        return JSONResponse({"status": "unavailable", **problem}, status_code=503)
    return JSONResponse({"status": "ok"})
