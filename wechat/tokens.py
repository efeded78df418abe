"""Access tokens shared by every process: in the case store's database by default, in Redis
when `[redis] url` is set. One token per appid; a refresh in one process is seen by all, and
stable_token's normal mode hands every process the same token, so none invalidates another."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from cases.store.models import WeChatToken
from wechat.client import TokenStore

REDIS_KEY_PREFIX = "complaint-desk:wechat-token:"


class DatabaseTokenStore:
    """TokenStore on the `wechat_token` table."""

    async def get(self, appid: str) -> tuple[str, float] | None:
        row = await WeChatToken.get_or_none(appid=appid)
        return None if row is None else (row.token, row.expires_at)

    async def set(self, appid: str, token: str, expires_at: float) -> None:
        await WeChatToken.update_or_create(
            defaults={"token": token, "expires_at": expires_at}, appid=appid
        )


class RedisTokenStore:
    """TokenStore on Redis: one hash per appid that expires with its token."""

    def __init__(
        self,
        client: object,
        prefix: str = REDIS_KEY_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client  # redis.asyncio.Redis (an optional dependency)
        self._prefix = prefix
        self._clock = clock  # the same clock as the clients' expiry times

    async def get(self, appid: str) -> tuple[str, float] | None:
        found = await self._redis.hgetall(self._prefix + appid)  # type: ignore[attr-defined]
        if not found:
            return None
        return found[b"token"].decode(), float(found[b"expires_at"])

    async def set(self, appid: str, token: str, expires_at: float) -> None:
        key = self._prefix + appid
        ttl = max(int(expires_at - self._clock()), 1)
        async with self._redis.pipeline(transaction=True) as pipe:  # type: ignore[attr-defined]
            pipe.hset(key, mapping={"token": token, "expires_at": repr(expires_at)})
            pipe.expire(key, ttl)
            await pipe.execute()


@asynccontextmanager
async def shared_token_store(redis_url: str) -> AsyncIterator[TokenStore]:
    """The deployment's token store for as long as the process runs."""
    if not redis_url:
        yield DatabaseTokenStore()
        return
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        yield RedisTokenStore(client)
    finally:
        await client.aclose()
