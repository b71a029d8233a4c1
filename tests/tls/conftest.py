"""Certificates made once per session, in a directory of their own."""

from __future__ import annotations

import pytest

from tests.tls.certs import Certificates, make_certificates


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))
