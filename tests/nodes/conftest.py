"""Fixtures starting real uvicorn nodes over one store file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.nodes.server import ServerNode


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[Callable[..., ServerNode]]:
    nodes: list[ServerNode] = []
    store_url = f"sqlite:///{tmp_path / 'shared.db'}"

    def make(port: int | None = None, extra_args: Sequence[str] = ()) -> ServerNode:
        log_path = tmp_path / f"node-{len(nodes)}.log"
        node = ServerNode(store_url, log_path, port=port, extra_args=extra_args)
        nodes.append(node)
        return node.start()

    yield make
    for node in nodes:
        node.stop()
