"""An app over each store backend, driven through each transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from app.asgi import create_app
from app.settings import Settings
from resolvers.context import Context
from resolvers.store import Store
from tests.api.client import Api, GraphQLApi, RestApi
from tests.conftest import FakeClock

# queue_cache_seconds=0: these tests are about rules on one node, and would otherwise wait out
# the cache's commit-wait on every queue change (tests/api/test_queue_cache.py covers it).
TEST_SETTINGS = Settings(
    max_body_bytes=64 * 1024,
    max_data_bytes=8 * 1024,
    max_interests_per_queue=5,
    queue_cache_seconds=0,
    allowed_hosts="couchqueue",  # the test client's base URL
)


@pytest.fixture
async def app(store: Store, clock: FakeClock) -> AsyncIterator[Starlette]:
    """The app with its background duties off: tests run each duty's pass themselves, on the
    fake clock, so nothing happens behind their back."""
    application = create_app(TEST_SETTINGS, store=store, clock=clock, start_duties=False)
    async with LifespanManager(application):
        yield application


@pytest.fixture
def engine(app: Starlette) -> Context:
    """The engine context the app's transports use, for running background duties' passes."""
    ctx: Context = app.state.ctx
    ctx.random = lambda: 0.5
    return ctx


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://couchqueue") as client:
        yield client


@pytest.fixture(params=["rest", "graphql"])
def api(request: pytest.FixtureRequest, http: httpx.AsyncClient) -> Api:
    return RestApi(http) if request.param == "rest" else GraphQLApi(http)
