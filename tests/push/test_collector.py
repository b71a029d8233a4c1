"""A serving node freezes what exists once its app is built and makes full collections rarer
(app/collector.py): full collections of a heap grown by thousands of subscribers stopped the
event loop for hundreds of milliseconds while they connected."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from app import cli
from app.collector import FULL_AFTER, YOUNG
from app.settings import Settings


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_serve_freezes_the_built_app_and_makes_full_collections_rarer(
    collector_restored: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    served: list[object] = []

    def run(app: object, **options: object) -> None:
        served.append(app)
        # By the time the node serves, what was built (the app among it) is frozen.
        assert gc.get_freeze_count() > 0

    monkeypatch.setattr(uvicorn, "run", run)
    middle = gc.get_threshold()[1]
    cli.serve(Settings(store=f"sqlite:///{tmp_path}/node.db"))
    assert len(served) == 1
    assert gc.get_threshold() == (YOUNG, middle, FULL_AFTER)
