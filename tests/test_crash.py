"""SIGKILL in the middle of a burst of filings (issue 8; targets S3 and I6 of
../shared/research/anchors-style-reliability.md §B.6, §B.2).

The real server (`python -m complaint_desk serve`, SQLite, in-process notice worker) and a fake
WeChat API run as separate processes, as in tests/bench/bench_bot.py. Before the server starts
the store holds accepted cases whose notices are waiting; the fake WeChat acts on template
messages at once but answers late, so when the server is killed some notices are sent but not
marked sent. Citizens file by the mini-program API concurrently; the server gets SIGKILL half-way.
After a restart: every number a citizen was given is in the store with its event and clocks,
a filing retried with its Idempotency-Key makes one case whether or not the first attempt
committed, and every notice reaches the citizen exactly once (the fake WeChat survives the kill
and counts template messages by client_msg_id).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.miniprogram.conftest import complaint
from tests.processes import ROOT, Proc, free_port, wait_ready

log = logging.getLogger(__name__)
OA_APPID, OA_SECRET = "wx00000000000000aa", "oa-secret-for-crash-test"
MP_APPID, MP_SECRET = "wx00000000000000bb", "mp-secret-for-crash-test"
SEEDED = 60  # accepted cases, one notice each: more than one claim batch (50)
CITIZENS = 40
KILL_AFTER = 12  # filings answered 201 before the SIGKILL
LATE_ANSWER = 4.0  # seconds the fake WeChat takes to answer a template message

# The fake WeChat, with test hooks: login codes, the answer delay, what it received.
FAKE_WECHAT = """
import json, sys
from aiohttp import web
from config.notices import load_notice_templates
from config.settings import CONFIG_DIR
from wechat.simulator import FakeWeChat, create_fake_wechat_app

port, oa, oa_secret, mp, mp_secret = sys.argv[1:6]
fake = FakeWeChat(apps={oa: oa_secret, mp: mp_secret})
for spec in load_notice_templates(CONFIG_DIR / "notices.toml").oa.values():
    fake.add_template(oa, spec.template_id)

async def login_code(request):
    return web.Response(text=fake.login_code(mp, request.query["openid"]))

async def late(request):
    fake.late_answer_seconds["/cgi-bin/message/template/send"] = float(request.query["seconds"])
    return web.Response(text="ok")

async def templates(request):
    sends = [json.loads(r.body)["client_msg_id"] for r in fake.requests
             if r.path == "/cgi-bin/message/template/send"]
    shown = [m.client_msg_id for m in fake.template_messages]
    return web.json_response({"sends": sends, "shown": shown})

app = create_fake_wechat_app(fake)
app.router.add_get("/_test/login_code", login_code)
app.router.add_post("/_test/late", late)
app.router.add_get("/_test/templates", templates)
web.run_app(app, host="127.0.0.1", port=int(port), print=None)
"""

# Accepted cases of official-account followers: each leaves an "accepted" notice to send.
SEED = """
import asyncio
from cases.auth import accounts
from cases.store import db
from cases.intake.filing import file_case
from cases.store.models import Citizen
from cases.workflow.loading import load_rules
from cases.workflow.engine import perform
from cases.workflow.timeline import Actor
from config.settings import load_settings

async def main(n):
    settings = load_settings()
    await db.open_store(settings.database_url)
    rules = load_rules(settings)
    await accounts.sync_departments(rules.catalog)
    user = await accounts.create_staff("intake1", "a-long-enough-password", "intake", "centre", "")
    intake = Actor.of_staff(user)
    form = {"kind": "complaint", "category": "consumer", "respondent_name": "城东便民超市",
            "description": "购买的牛奶已过保质期,要求退货被拒绝。", "demands": "退货",
            "contact_name": "张女士", "contact_phone": "13800000000"}
    for i in range(n):
        citizen = await Citizen.create(oa_openid=f"oSeed{i:04d}")
        case = await file_case(rules, form, Actor.of_citizen(citizen),
                               channel="official_account", citizen=citizen)
        await perform(rules, case.id, "accept", intake)
    await db.close_store()

asyncio.run(main(%d))
"""


def _query(store: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(store, timeout=10)) as conn:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows


async def _file(
    session: aiohttp.ClientSession, api: str, token: str, key: str
) -> tuple[int, str | None]:
    """(status, case number) of one filing; status 0 when the connection broke."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    try:
        async with session.post(f"{api}/cases", json=complaint(), headers=headers) as resp:
            body = await resp.json()
            return resp.status, body.get("number")
    except (aiohttp.ClientError, TimeoutError):
        return 0, None


async def _crash_run(tmp: Path, env: dict[str, str], store: Path, wechat: str, base: str) -> None:
    api = f"{base}/api/mp/v1"
    serve = ["-m", "complaint_desk", "serve"]
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        server = Proc("server", serve, env, tmp)
        try:
            await wait_ready(session, server, f"{base}/healthz")
            tokens = []
            for i in range(CITIZENS):
                async with session.get(
                    f"{wechat}/_test/login_code", params={"openid": f"oMini{i:04d}"}
                ) as resp:
                    code = await resp.text()
                async with session.post(f"{api}/auth/login", json={"code": code}) as resp:
                    assert resp.status == 200, await resp.text()
                    tokens.append((await resp.json())["token"])
            # The worker has claimed the first batch and is waiting for WeChat's late answers.
            deadline = time.monotonic() + 10
            while not _query(store, "SELECT 1 FROM notice WHERE status = 'sending'"):
                assert time.monotonic() < deadline, server.tail()
                await asyncio.sleep(0.05)

            keys = [str(uuid.uuid4()) for _ in tokens]
            given: dict[str, str] = {}  # Idempotency-Key -> number the citizen was shown

            async def file(i: int) -> None:
                status, number = await _file(session, api, tokens[i], keys[i])
                if status == 201 and number:
                    given[keys[i]] = number
                    if len(given) == KILL_AFTER:
                        server.proc.send_signal(signal.SIGKILL)
                elif status != 0:
                    raise AssertionError(f"filing answered {status}")

            await asyncio.gather(*(file(i) for i in range(CITIZENS)))
            server.proc.wait(timeout=10)
            assert server.proc.returncode == -signal.SIGKILL
        finally:
            server.stop()
        first_given = dict(given)
        assert KILL_AFTER <= len(first_given) < CITIZENS, "the kill did not land mid-burst"
        in_flight = _query(store, "SELECT COUNT(*) FROM notice WHERE status = 'sending'")[0][0]
        assert in_flight > 0, "no notice was being sent at the kill"

        # The 2-minute claim lease ends (moved into the past rather than waited for).
        past = (datetime.now(UTC) - timedelta(minutes=3)).isoformat(" ")
        _query(store, "UPDATE notice SET locked_until = ? WHERE status = 'sending'", past)
        async with session.post(f"{wechat}/_test/late", params={"seconds": "0"}) as resp:
            assert resp.status == 200

        server = Proc("server", serve, env, tmp)
        try:
            await wait_ready(session, server, f"{base}/healthz")
            # I6: every filing retried with its key; committed ones answer the same number.
            retried = await asyncio.gather(
                *(_file(session, api, tokens[i], keys[i]) for i in range(CITIZENS))
            )
            for i, (status, number) in enumerate(retried):
                assert status == 201 and number, (status, number)
                assert first_given.get(keys[i], number) == number
                given[keys[i]] = number
            deadline = time.monotonic() + 20
            while _query(store, "SELECT 1 FROM notice WHERE status != 'sent'"):
                assert time.monotonic() < deadline, server.tail()
                await asyncio.sleep(0.1)
        finally:
            server.stop()
        async with session.get(f"{wechat}/_test/templates") as resp:
            received = await resp.json()

    # S3: every number given is stored once, with its filing event and its clocks.
    stored = _query(
        store,
        "SELECT c.number, (SELECT COUNT(*) FROM case_event e WHERE e.case_id = c.id), "
        "(SELECT COUNT(*) FROM case_clock k WHERE k.case_id = c.id) "
        "FROM \"case\" c WHERE c.channel = 'mini_program'",
    )
    assert sorted(n for n, _, _ in stored) == sorted(given.values())  # no twin, none lost
    assert all(events >= 1 and clocks >= 1 for _, events, clocks in stored)
    with closing(sqlite3.connect(store)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    # I5/I6: each notice shown to its citizen exactly once, although some were sent twice.
    shown = Counter(received["shown"])
    assert len(shown) == SEEDED and set(shown.values()) == {1}, shown
    resent = sum(n - 1 for n in Counter(received["sends"]).values())
    assert 0 < resent <= in_flight
    log.info(  # shown with -o log_cli=true: what the kill interrupted
        "%s",
        f"{len(first_given)} numbers given before the kill, {len(given)} after retries; "
        f"{in_flight} notices in flight, {resent} re-sent, {len(shown)} shown once each",
    )


def test_s3_i6_sigkill_mid_burst_loses_no_case_and_sends_no_notice_twice(
    tmp_path: Path, sqlite_template: Path
) -> None:
    store = tmp_path / "data" / "complaint-desk.sqlite3"
    store.parent.mkdir()
    shutil.copy(sqlite_template, store)
    wechat_port, server_port = free_port(), free_port()
    wechat = f"http://127.0.0.1:{wechat_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")} | {
        "PYTHONPATH": str(ROOT),
        "COMPLAINT_DESK_SERVER_HOST": "127.0.0.1",
        "COMPLAINT_DESK_SERVER_PORT": str(server_port),
        "COMPLAINT_DESK_STORAGE_DATA_DIR": str(store.parent),
        "COMPLAINT_DESK_WECHAT_API_BASE": wechat,
        "COMPLAINT_DESK_WECHAT_OA_APPID": OA_APPID,
        "COMPLAINT_DESK_WECHAT_OA_SECRET": OA_SECRET,
        "COMPLAINT_DESK_WECHAT_OA_TOKEN": "oa-token-for-crash-test",
        "COMPLAINT_DESK_WECHAT_MP_APPID": MP_APPID,
        "COMPLAINT_DESK_WECHAT_MP_SECRET": MP_SECRET,
        "COMPLAINT_DESK_WECHAT_MP_TOKEN": "mp-token-for-crash-test",
        "COMPLAINT_DESK_WECHAT_TIMEOUT_SECONDS": "10",
        "COMPLAINT_DESK_WORKER_IN_PROCESS": "true",
        "COMPLAINT_DESK_WORKER_NOTICE_INTERVAL_SECONDS": "1",
    }
    seeded = subprocess.run(
        [sys.executable, "-c", SEED % SEEDED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    assert _query(store, "SELECT COUNT(*) FROM notice WHERE status = 'pending'") == [(SEEDED,)]
    fake_args = ["-c", FAKE_WECHAT, str(wechat_port), OA_APPID, OA_SECRET, MP_APPID, MP_SECRET]
    fake = Proc("fake-wechat", fake_args, env, tmp_path)
    try:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session:
                await wait_ready(session, fake, f"{wechat}/_test/templates")
                await session.post(f"{wechat}/_test/late", params={"seconds": str(LATE_ANSWER)})
            await _crash_run(tmp_path, env, store, wechat, f"http://127.0.0.1:{server_port}")

        asyncio.run(scenario())
    finally:
        fake.stop()
