"""Access tokens shared across processes through Redis (and the database by default)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.wechat.conftest import APPID, MakeClient
from wechat.simulator import FakeWeChat, ManualClock
from wechat.tokens import DatabaseTokenStore, RedisTokenStore, shared_token_store

REDIS_URL = os.environ.get("COMPLAINT_DESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
STABLE = "/cgi-bin/stable_token"


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # server down, wrong URL
        reason = f"Redis not reachable at {REDIS_URL} ({exc.__class__.__name__})"
        if os.environ.get("CI"):
            pytest.fail(reason + " — CI must run the Redis tests", pytrace=False)
        pytest.skip(reason + "; set COMPLAINT_DESK_TEST_REDIS_URL to run them")
    finally:
        await client.aclose()
    yield REDIS_URL


async def test_two_instances_share_one_token_through_redis(
    redis_url: str, make_client: MakeClient, fake: FakeWeChat, clock: ManualClock
) -> None:
    from redis.asyncio import Redis

    prefix = f"test:{uuid.uuid4().hex}:"
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)  # two processes
    try:
        a = make_client(token_store=RedisTokenStore(first, prefix, clock))
        b = make_client(token_store=RedisTokenStore(second, prefix, clock))
        tokens = await asyncio.gather(a.access_token(), b.access_token(), a.access_token())
        assert len(set(tokens)) == 1
        ttl = await first.ttl(prefix + APPID)
        assert 6000 < ttl <= 7200  # the key dies with the token

        fake.issue_token(APPID)  # revoked: both hold a dead token
        await asyncio.gather(a.send_text("oUser", "一"), b.send_text("oUser", "二"))
        forced = [
            r for r in fake.requests if r.path == STABLE and json.loads(r.body)["force_refresh"]
        ]
        assert forced == [] and len(fake.sent_messages) == 2
    finally:
        await first.delete(prefix + APPID)
        await first.aclose()
        await second.aclose()


async def test_without_a_redis_url_tokens_live_in_the_database() -> None:
    async with shared_token_store("") as store:
        assert isinstance(store, DatabaseTokenStore)


async def test_with_a_redis_url_tokens_live_in_redis(redis_url: str) -> None:
    appid = "wx-test-" + uuid.uuid4().hex
    async with shared_token_store(redis_url) as store:
        assert isinstance(store, RedisTokenStore)
        await store.set(appid, "tok", time.time() + 60)
        assert await store.get(appid) == ("tok", pytest.approx(time.time() + 60, abs=2))
