"""A least-recently-used cache of parsed and validated GraphQL documents, bounded by bytes.

Strawberry's ParserCache and ValidationCache count entries: a hundred 750 KB documents held a
hundred ASTs and grew the process by gigabytes. Here each entry is charged an estimate of the
memory its AST holds, the total is bounded, and a document too large to be worth keeping is
not kept at all.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from graphql import ASTValidationRule, DocumentNode, GraphQLError

# Measured with tracemalloc: a parsed and validated document holds 400-550 bytes per token
# (the AST nodes, their locations and tokens), whatever the text's length.
BYTES_PER_TOKEN = 512


@dataclass(slots=True)
class CachedDocument:
    """One query text, parsed; ``errors`` is None until it has been validated with ``rules``."""

    document: DocumentNode
    weight: int
    errors: list[GraphQLError] | None = None
    rules: tuple[type[ASTValidationRule], ...] = field(default=())


def weight_of(query: str, document: DocumentNode) -> int:
    """The bytes a cached document is estimated to hold: its text and its AST."""
    tokens: int = getattr(document, "token_count", 0) or len(query) // 4
    return len(query) + BYTES_PER_TOKEN * tokens


class DocumentCache:
    """Query text -> CachedDocument, least recently used first out.

    ``max_bytes`` bounds the total weight kept; a document whose text is longer than
    ``max_document_bytes`` is never kept (it would evict many small ones, and large documents
    are rarely sent twice).
    """

    def __init__(self, max_bytes: int, max_document_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_document_bytes = max_document_bytes
        self.total = 0
        self._entries: OrderedDict[str, CachedDocument] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, query: str) -> CachedDocument | None:
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
        return entry

    def put(self, query: str, document: DocumentNode) -> CachedDocument:
        """The entry for ``query`` (kept if it fits the bounds; returned either way)."""
        entry = CachedDocument(document, weight_of(query, document))
        if len(query) > self.max_document_bytes or entry.weight > self.max_bytes:
            return entry
        previous = self._entries.pop(query, None)
        if previous is not None:
            self.total -= previous.weight
        self._entries[query] = entry
        self.total += entry.weight
        while self.total > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.total -= evicted.weight
        return entry
