"""An app over each store backend, driven through each transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from app.settings import Settings
from resolvers.store import Store
from tests.api.client import Api, GraphQLApi, RestApi
from tests.conftest import FakeClock

TEST_SETTINGS = Settings(
    max_body_bytes=64 * 1024, max_data_bytes=8 * 1024, max_interests_per_queue=5
)


@pytest.fixture
async def http(store: Store, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(TEST_SETTINGS, store=store, clock=clock)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://couchqueue") as client:
            yield client


@pytest.fixture(params=["rest", "graphql"])
def api(request: pytest.FixtureRequest, http: httpx.AsyncClient) -> Api:
    return RestApi(http) if request.param == "rest" else GraphQLApi(http)
