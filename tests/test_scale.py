"""Several processes on PostgreSQL and Redis (issue 8, Scale; targets L2, I2, I5).

`complaint-desk serve --workers 2` (two server processes sharing one port) and two
`complaint-desk worker` processes run against one PostgreSQL database, with Redis for the shared
access token and a fake WeChat in its own process. Citizens file complaints through the
chat-bot, each push on a new connection so that the kernel spreads them over both servers;
intake accepts every case, and the two workers deliver the notices. Checked: every case filed
exactly once with its own number, every notice requested from WeChat exactly once (the fake
would hide a repeat, so its raw request log is counted), and one token fetch, not a storm.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cases.store import db
from cases.store.models import Case, Notice, NoticeStatus
from cases.workflow.engine import perform
from cases.workflow.loading import load_rules
from config.settings import load_settings
from tests.conftest import _truncate
from tests.factories import make_staff
from tests.processes import Proc, free_port, wait_ready
from wechat.simulator import PushSigner, text_xml

REDIS_URL = os.environ.get("COMPLAINT_DESK_TEST_REDIS_URL_SCALE", "redis://127.0.0.1:6379/14")
OA_APPID, OA_SECRET, OA_TOKEN = "wx0000000000000scale", "scale-secret", "scale-token"
ACCOUNT = "gh_scaletest"
CITIZENS = 12
TEMPLATES = ("demo-case-accepted",)
DIALOGUE = ("投诉", "1", "城东便民超市", "跳过", "跳过", "买到过期牛奶,商家拒绝退货。", "退货")
DIALOGUE_END = ("跳过", None, "确认")  # photos, phone (each citizen's own), confirm

FAKE_WECHAT = """
import sys
from aiohttp import web
from wechat.simulator import FakeWeChat, create_fake_wechat_app

fake = FakeWeChat(apps={sys.argv[2]: sys.argv[3]})
for template in sys.argv[4:]:
    fake.add_template(sys.argv[2], template)
app = create_fake_wechat_app(fake)

async def state(request):
    sends = [r.body.decode() for r in fake.requests if r.path.endswith("/template/send")]
    return web.json_response({"calls": dict(fake.calls), "template_bodies": sends})

app.router.add_get("/_test/state", state)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


@pytest.fixture
def scale_db(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
def redis_db() -> str:
    from redis import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except Exception as exc:  # server down
        reason = f"Redis not reachable at {REDIS_URL} ({exc.__class__.__name__})"
        if os.environ.get("CI"):
            pytest.fail(reason + " — CI must run the Redis tests", pytrace=False)
        pytest.skip(reason)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[Proc]]:
    procs: list[Proc] = []
    yield procs
    for proc in reversed(procs):
        proc.stop()


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _logs(procs: list[Proc]) -> str:
    return "\n".join(p.tail(40) for p in procs)


async def _file_by_chat(base: str, openid: str, phone: str, msg_ids: Iterator[int]) -> str:
    """One citizen's whole dialogue; each push on a fresh connection. The case number."""
    signer = PushSigner(OA_TOKEN, OA_APPID)
    reply = ""
    for text in (*DIALOGUE, *DIALOGUE_END):
        xml = text_xml(openid, ACCOUNT, text or phone, next(msg_ids), int(time.time()))
        params, body = signer.sign(xml)
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(f"{base}/wechat/oa", params=params, data=body.encode()) as resp,
        ):
            assert resp.status == 200
            reply = await resp.text()
    found = re.search(r"已提交,编号\s*([A-Za-z0-9-]+)", reply)
    assert found, reply
    return found.group(1)


async def _accept_all(url: str, settings_env: dict[str, str]) -> list[str]:
    settings = load_settings(env=settings_env)
    rules = load_rules(settings)
    await db.open_store(url)
    try:
        intake = await make_staff("intake", "centre")
        numbers = []
        for case in await Case.all().order_by("id"):
            await perform(rules, case.id, "accept", intake)
            numbers.append(case.number)
        return numbers
    finally:
        await db.close_store()


async def _notices(url: str) -> list[dict[str, Any]]:
    await db.open_store(url)
    try:
        return list(await Notice.all().values("id", "status", "kind"))
    finally:
        await db.close_store()


@pytest.mark.slow
async def test_two_servers_and_two_workers_file_and_notify_exactly_once(
    scale_db: str, redis_db: str, processes: list[Proc], tmp_path: Path
) -> None:
    wechat_port, app_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")}
    ours = {
        "COMPLAINT_DESK_SERVER_HOST": "127.0.0.1",
        "COMPLAINT_DESK_SERVER_PORT": str(app_port),
        "COMPLAINT_DESK_DATABASE_URL": scale_db,
        "COMPLAINT_DESK_STORAGE_DATA_DIR": str(tmp_path / "data"),
        "COMPLAINT_DESK_REDIS_URL": redis_db,
        "COMPLAINT_DESK_WECHAT_API_BASE": f"http://127.0.0.1:{wechat_port}",
        "COMPLAINT_DESK_WECHAT_OA_APPID": OA_APPID,
        "COMPLAINT_DESK_WECHAT_OA_SECRET": OA_SECRET,
        "COMPLAINT_DESK_WECHAT_OA_TOKEN": OA_TOKEN,
        "COMPLAINT_DESK_WORKER_IN_PROCESS": "false",
        "COMPLAINT_DESK_WORKER_NOTICE_INTERVAL_SECONDS": "1",
    }
    env.update(ours)
    fake_args = ["-c", FAKE_WECHAT, str(wechat_port), OA_APPID, OA_SECRET, *TEMPLATES]
    fake = Proc("fake-wechat", fake_args, env, tmp_path)
    processes.append(fake)
    server = Proc("server", ["-m", "complaint_desk", "serve", "--workers", "2"], env, tmp_path)
    processes.append(server)
    for i in range(2):
        processes.append(Proc(f"worker{i}", ["-m", "complaint_desk", "worker"], env, tmp_path))
    base = f"http://127.0.0.1:{app_port}"
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, fake, f"http://127.0.0.1:{wechat_port}/_test/state")
        await wait_ready(session, server, f"{base}/healthz")
    await asyncio.sleep(1.0)  # both server processes listening
    children = _children(server.pid)
    assert len(children) == 2, _logs(processes)
    cpu_before = [_cpu_seconds(pid) for pid in children]

    msg_ids = itertools.count(9 * 10**18)
    numbers = await asyncio.gather(
        *(_file_by_chat(base, f"oScale{i:04d}", f"139{i:08d}", msg_ids) for i in range(CITIZENS))
    )
    # Both server processes took a share of the pushes.
    assert all(_cpu_seconds(p) - c > 0.05 for p, c in zip(children, cpu_before, strict=True))

    stored = await _accept_all(scale_db, ours)
    # L2: each citizen got their own number, and the store holds exactly those cases.
    assert len(set(numbers)) == CITIZENS and sorted(stored) == sorted(numbers)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        notices = await _notices(scale_db)
        if notices and all(n["status"] == NoticeStatus.SENT for n in notices):
            break
        await asyncio.sleep(0.5)
    assert len(notices) == CITIZENS and all(n["status"] == NoticeStatus.SENT for n in notices), (
        notices,
        _logs(processes),
    )
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{wechat_port}/_test/state") as resp,
    ):
        state = await resp.json()
    sends = Counter(state["template_bodies"])
    assert len(sends) == CITIZENS and set(sends.values()) == {1}  # I5: each notice sent once
    # One shared token (Redis) for four processes; a race at start may fetch it twice, no more.
    assert state["calls"].get("/cgi-bin/stable_token", 0) <= 2, state["calls"]
