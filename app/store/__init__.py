"""Storage backends for resolvers.store.Store, chosen by URL scheme and imported lazily."""

from __future__ import annotations

from resolvers.store import Store

SUPPORTED = "sqlite:///path/to/file.db"


async def open_store(url: str) -> Store:
    """Open the store a URL names. Backends are imported only when used, so a missing optional
    driver matters only to those who ask for it."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from app.store.sqlite import SqliteStore

        return await SqliteStore.open(url)
    raise ValueError(f"unsupported store URL {url!r}: supported is {SUPPORTED}")
