"""Which queues' interests an event's data matches, without trying every queue's regexes.

A pattern anchored at the start with a literal head (``^42$``, ``^orders\\.``, ``^eu-``) can
only match a text that begins with that head, so such patterns are filed by field and head, and
a publish tries only those whose head the field's text starts with. Other patterns are tried on
every event that has their field, as before. Thousands of queues each interested in its own
literal (a queue per worker) then cost a publish a few dictionary look-ups, not thousands of
regex searches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from resolvers.matching import MISSING, compile_regex, lookup
from resolvers.models import MATCH_ALL, Interests, JsonObject

_META = frozenset(".[](){}?*+|^$\\")
# A quantifier after a literal character makes that character optional.
_OPTIONAL_AFTER = frozenset("?*{")


def literal_head(pattern: str) -> str:
    """The text every match of ``pattern`` starts with: its literal characters right after a
    leading ``^``. Empty when unsure (no anchor, an alternation anywhere, flags, escapes)."""
    if not pattern.startswith("^") or "|" in pattern:
        return ""
    end = 1
    while end < len(pattern) and pattern[end] not in _META:
        end += 1
    head = pattern[1:end]
    if end < len(pattern) and pattern[end] in _OPTIONAL_AFTER:
        head = head[:-1]
    return head


@dataclass(slots=True)
class _Field:
    # head length -> head -> (queue, regex)
    by_head: defaultdict[int, dict[str, list[tuple[str, Any]]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    scanned: list[tuple[str, Any]] = field(default_factory=list)

    def candidates(self, text: str) -> Iterable[tuple[str, Any]]:
        for length, heads in self.by_head.items():
            yield from heads.get(text[:length], ())
        yield from self.scanned


class InterestIndex:
    """The queues with interests, filed for matching. Build it with ``compiled`` from the
    previous index: unchanged patterns are not compiled again."""

    def __init__(
        self, interests: Iterable[tuple[str, Interests]], compiled: dict[str, Any] | None = None
    ) -> None:
        previous = compiled or {}
        self.compiled: dict[str, Any] = {}
        self._everything: list[str] = []
        self._fields: dict[str, _Field] = {}
        for queue, wanted in interests:
            if wanted == MATCH_ALL:
                self._everything.append(queue)
                continue
            assert isinstance(wanted, dict)
            for path, pattern in wanted.items():
                regex = previous.get(pattern) or compile_regex(path, pattern)
                self.compiled[pattern] = regex
                filed = self._fields.setdefault(path, _Field())
                head = literal_head(pattern)
                if head:
                    filed.by_head[len(head)].setdefault(head, []).append((queue, regex))
                else:
                    filed.scanned.append((queue, regex))

    def interested(self, data: JsonObject) -> list[str]:
        """The queues whose interests match the event's data, in name order."""
        found = set(self._everything)
        for path, filed in self._fields.items():
            value = lookup(data, path)
            if value is MISSING:
                continue
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            for queue, regex in filed.candidates(text):
                if queue not in found and regex.search(text) is not None:
                    found.add(queue)
        return sorted(found)
