"""Certificates made once per session, in a directory of their own, and one HTTPS node."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tls.certs import Certificates, make_certificates
from tests.tls.node import Secured, start_secured


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="session")
def secured(
    certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    """One HTTPS node with tokens for the TLS tests."""
    started = start_secured(tmp_path_factory.mktemp("tls-node"), certificates)
    try:
        yield started
    finally:
        started.node.stop()
