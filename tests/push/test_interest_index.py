"""Interest matching filed by literal heads (resolvers.interest_index): the same answers as
trying every queue's regexes, at a cost that does not grow with queues that cannot match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from app.store.sqlite import SqliteStore
from resolvers import interest_index
from resolvers.interest_index import InterestIndex, literal_head
from resolvers.matching import MISSING, lookup
from resolvers.models import MATCH_ALL, Interests, JsonObject, QueueSettings
from resolvers.queue_cache import QueueCache

PATTERNS = [
    "^5$", "^5", "^55", "^ab?$", "^ab*", "^a{0}b", "^a|b", "^a", "^ab+c", "(?i)^A", "^A",
    "a$", "^$", "^a.c", "^\\d", "^abc$", "b", "^[ab]", "^(a)", "^a\\.b", "^true$", "^\"a",
]  # fmt: skip
VALUES = st.one_of(
    st.text(alphabet='abcAB5."', max_size=5), st.integers(0, 60), st.booleans(), st.none()
)


def brute_force(queues: list[tuple[str, Interests]], data: JsonObject) -> list[str]:
    found = []
    for name, wanted in queues:
        if wanted == MATCH_ALL:
            found.append(name)
            continue
        assert isinstance(wanted, dict)
        for path, pattern in wanted.items():
            value = lookup(data, path)
            if value is MISSING:
                continue
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            if re2.search(pattern, text) is not None:
                found.append(name)
                break
    return sorted(found)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.just(MATCH_ALL),
            st.dictionaries(st.sampled_from(["to", "x.y"]), st.sampled_from(PATTERNS), min_size=1),
        ),
        max_size=8,
    ),
    st.dictionaries(st.sampled_from(["to", "x.y", "x"]), VALUES, max_size=3),
    st.one_of(st.none(), VALUES),
)
def test_the_index_answers_as_trying_every_regex(
    wanted: list[Interests], data: dict[str, Any], nested: Any
) -> None:
    if nested is not None:
        data["x"] = {"y": nested}
    queues = [(f"q{i}", w) for i, w in enumerate(wanted)]
    assert InterestIndex(queues).interested(data) == brute_force(queues, data)


@pytest.mark.parametrize(
    ("pattern", "head"),
    [("^42$", "42"), ("^eu-.*", "eu-"), ("^ab?", "a"), ("^ab*c", "a"), ("^a{2}", ""),
     ("^a|b", ""), ("42", ""), ("(?i)^a", ""), ("^\\d", ""), ("^orders\\.", "orders")],
)  # fmt: skip
def test_literal_head(pattern: str, head: str) -> None:
    assert literal_head(pattern) == head


class Counting:
    """A compiled regex that counts its searches."""

    searches = 0
    compiles = 0

    def __init__(self, pattern: str) -> None:
        Counting.compiles += 1
        self._regex = re2.compile(pattern)

    def search(self, text: str) -> Any:
        Counting.searches += 1
        return self._regex.search(text)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[Counting]:
    Counting.searches = Counting.compiles = 0
    monkeypatch.setattr(interest_index, "compile_regex", lambda path, p: Counting(p))
    return Counting


def test_a_publish_tries_only_the_queues_its_text_can_match(counting: type[Counting]) -> None:
    queues: list[tuple[str, Interests]] = [(f"q{i:04}", {"to": f"^{i}$"}) for i in range(3000)]
    queues.append(("scanned", {"to": "7$"}))
    index = InterestIndex(queues)
    assert index.interested({"to": 1234}) == ["q1234"]
    assert index.interested({"to": 17}) == ["q0017", "scanned"]
    assert counting.searches <= 8  # heads "1", "12", "123" ... and the unanchored one


async def test_a_new_queue_compiles_only_its_own_patterns(
    tmp_path: Path, counting: type[Counting]
) -> None:
    store = await SqliteStore.open(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        cache = QueueCache()
        for i in range(50):
            await store.put_interests(f"q{i}", {"to": f"^{i}$"}, 0.0, QueueSettings())
            await cache.changed()
            assert (await cache.current(store)).interested({"to": i}) == [f"q{i}"]
        assert counting.compiles == 50
    finally:
        await store.close()
