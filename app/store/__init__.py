"""Storage backends for resolvers.store.Store, chosen by URL scheme and imported lazily."""

from __future__ import annotations

from resolvers.context import Policies
from resolvers.errors import InvalidInput
from resolvers.store import Store

SUPPORTED = "sqlite:///path/to/file.db or couchbase://host[:port]/bucket"
_COUCHBASE_SDK = ("couchbase", "acouchbase")
# Sequence numbers are SQLite INTEGERs (and Couchbase counters): 64-bit, signed.
_MAX_SEQ = 2**63 - 1


async def open_store(url: str, policies: Policies | None = None) -> Store:
    """Open the store a URL names. Backends are imported only when used, so a missing optional
    driver matters only to those who ask for it. ``policies``: the server's, which a store may
    use as a backstop (Couchbase: finished tasks' document expiry)."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from app.store.sqlite import SqliteStore

        return await SqliteStore.open(url)
    if scheme in ("couchbase", "couchbases"):
        try:
            from app.store.couchbase import CouchbaseStore
        except ImportError as exc:
            if (exc.name or "").split(".")[0] not in _COUCHBASE_SDK:
                raise
            raise ImportError(
                "the Couchbase store needs the Couchbase SDK: pip install 'couchqueue[couchbase]'",
                name=exc.name,
            ) from None
        return await CouchbaseStore.open(url, policies)
    raise ValueError(f"unsupported store URL {url!r}: supported are {SUPPORTED}")


def seq_cursor(after: str) -> int:
    """The sequence number a list_tasks cursor stands for: both backends give str(seq). Any
    other text is bad input, naming ``after``."""
    if after.isascii() and after.isdigit() and int(after) <= _MAX_SEQ:
        return int(after)
    raise InvalidInput(f"after is not a cursor this server gave: {after!r:.40}", param="after")
