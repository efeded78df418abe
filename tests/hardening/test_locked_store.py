"""Issue 15 item 11: another process holds SQLite's write lock for 12 s. The bot still answers
WeChat within its 5 s with the polite "failed" text, and /healthz answers within 1 s that the
store is busy; once the lock goes, both are back to normal."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient

from complaint_desk.app import create_app
from config.settings import Settings
from tests.bot.conftest import OA_APPID, OA_TOKEN, Chat, bot_settings
from wechat.simulator import FakeWeChat, PushSigner

HOLD_SECONDS = 12
FAILED = "抱歉,系统暂时有点忙,这条消息没有处理成功,请稍后再发送一次。"


async def _hold_write_lock(path: str) -> asyncio.subprocess.Process:
    script = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        f"time.sleep({HOLD_SECONDS})\n"
    )
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, path, stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert await holder.stdout.readline() == b"locked\n"
    return holder


async def test_a_locked_store_gets_a_polite_answer_in_time(
    aiohttp_client: AiohttpClient,
    make_settings: Callable[..., Settings],
    fake_wechat: tuple[FakeWeChat, TestServer],
) -> None:
    _, wechat = fake_wechat
    settings = bot_settings(make_settings, wechat, worker__in_process=False)
    if not settings.is_sqlite:
        pytest.skip("SQLite's write lock")
    client = await aiohttp_client(create_app(settings))
    chat = Chat(client, PushSigner(OA_TOKEN, OA_APPID, ""), "oCitizenLocked", safe=False)
    assert await chat.say("帮助") != FAILED
    holder = await _hold_write_lock(settings.database_url.removeprefix("sqlite://"))
    try:
        started = time.monotonic()
        answer = asyncio.create_task(chat.say("帮助"))
        await asyncio.sleep(0.5)  # the push is waiting for the lock
        health_started = time.monotonic()
        health = await client.get("/healthz")
        health_seconds = time.monotonic() - health_started
        body = await health.json()
        body.pop("provisional_years")
        assert (health.status, body) == (503, {"status": "busy", "database": "busy"})
        assert health_seconds < 1.0
        assert await answer == FAILED
        assert time.monotonic() - started < 5.0
    finally:
        holder.kill()
        await holder.wait()
    assert await chat.say("帮助") != FAILED
    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json())["database"] == "ok"
