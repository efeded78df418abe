"""Issue 15 item 3: bad staff sign-ins must not stall the WeChat webhook. argon2 costs ~0.13 s
of CPU per check; on the event loop, 60 concurrent bad sign-ins held every push for seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient

from complaint_desk.app import create_app
from config.settings import Settings
from tests.bot.conftest import OA_APPID, OA_TOKEN, Chat, bot_settings
from wechat.simulator import FakeWeChat, PushSigner

PUSHES = 100
BAD_SIGN_INS = 60


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _webhook_latencies(chat: Chat) -> list[float]:
    latencies = []
    for _ in range(PUSHES):
        start = time.perf_counter()
        reply = await chat.say("帮助")
        latencies.append(time.perf_counter() - start)
        assert reply  # a real answer, not an error
    return latencies


async def measure_webhook_during_bad_sign_ins(client: TestClient) -> tuple[float, float]:
    """The webhook's p99 alone, then while BAD_SIGN_INS wrong passwords are being checked."""
    chat = Chat(client, PushSigner(OA_TOKEN, OA_APPID, ""), "oCitizenLoad", safe=False)
    for _ in range(5):  # warm up (templates, first queries, connections)
        await chat.say("帮助")
    baseline = _p99(await _webhook_latencies(chat))

    async def bad_sign_in(n: int) -> int:
        resp = await client.post(
            "/api/staff/v1/auth/login", json={"username": f"nobody{n}", "password": "wrong"}
        )
        return resp.status

    storm = asyncio.gather(*(bad_sign_in(n) for n in range(BAD_SIGN_INS)))
    await asyncio.sleep(0.05)  # the storm is under way
    loaded = _p99(await _webhook_latencies(chat))
    assert not storm.done(), "every push was measured while the sign-ins ran"
    assert await storm == [401] * BAD_SIGN_INS
    return baseline, loaded


def load_settings_for(make_settings: Callable[..., Settings], wechat: TestServer) -> Settings:
    """Every sign-in reaches argon2: the address limits are opened up, so this measures the pool."""
    return bot_settings(
        make_settings,
        wechat,
        worker__in_process=False,
        staff__address_concurrent_checks=BAD_SIGN_INS,
        staff__free_failures=1000,
        staff__password_queue_limit=BAD_SIGN_INS,
    )


async def test_the_webhook_stays_fast_while_60_bad_sign_ins_run(
    aiohttp_client: AiohttpClient,
    make_settings: Callable[..., Settings],
    fake_wechat: tuple[FakeWeChat, TestServer],
) -> None:
    _, wechat = fake_wechat
    client = await aiohttp_client(create_app(load_settings_for(make_settings, wechat)))
    baseline, loaded = await measure_webhook_during_bad_sign_ins(client)
    # Before the fix the p99 was ~14 s. The 100 ms target is measured on an idle machine by
    # tests/bench/bench_sign_in.py; here the other test worker shares the 2 cores, so the suite
    # holds the contract that matters to WeChat: an answer well inside its 5 s.
    assert loaded < 1.0, (
        f"webhook p99 {loaded * 1000:.0f} ms under load (baseline {baseline * 1000:.0f} ms)"
    )
