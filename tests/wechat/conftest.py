"""Fixtures: the fake WeChat API on `aiohttp_server` and our client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wechat.client import MemoryTokenStore, WeChatClient
from wechat.simulator import FakeWeChat, ManualClock, create_fake_wechat_app

APPID = "wx0000000000000001"
SECRET = "s3cret-0000000000000000000000001"
TIMEOUT_SECONDS = 2.0

MakeClient = Callable[..., WeChatClient]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> FakeWeChat:
    return FakeWeChat({APPID: SECRET}, clock=clock)


@pytest.fixture
async def api(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]], fake: FakeWeChat
) -> TestServer:
    return await aiohttp_server(create_fake_wechat_app(fake))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def make_client(api: TestServer, session: aiohttp.ClientSession, clock: ManualClock) -> MakeClient:
    """A client of the fake; keyword arguments override the defaults."""

    def make(**overrides: object) -> WeChatClient:
        options: dict[str, object] = {
            "api_base": str(api.make_url("/")),
            "appid": APPID,
            "secret": SECRET,
            "token_store": MemoryTokenStore(),
            "timeout_seconds": TIMEOUT_SECONDS,
            "clock": clock,
        }
        options.update(overrides)
        return WeChatClient(session, **options)

    return make


@pytest.fixture
def client(make_client: MakeClient) -> WeChatClient:
    return make_client()
