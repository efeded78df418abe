"""No personal data or tokens in the logs of a realistic run (A19, A4)."""

from __future__ import annotations

import logging

import pytest

from cases.store.models import StaffUser
from tests.bot.conftest import BotWorld
from tests.factories import STAFF_PASSWORD, make_staff
from tests.miniprogram.conftest import MakeWorld
from tests.staff.conftest import sign_in

PHONE = "13698765432"
# Ours at DEBUG. tortoise's own DEBUG log prints SQL parameters: never enable it in production.
OUR_LOGGERS = ("bot", "cases", "complaint_desk", "config", "miniprogram_api", "staff", "wechat")


async def test_a_full_run_logs_no_phone_openid_token_or_password(
    make_mp: MakeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """A19, A4: mini-program sign-in and filing with a phone, staff sign-in (console and API),
    list, case view and reveal, at DEBUG with aiohttp's access log; then grep the text."""
    for name in OUR_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    mp = await make_mp(staff__secure_cookies=False)
    citizen = await mp.login()
    status, filed = await mp.file(citizen, contact_phone=PHONE)
    assert status == 201, filed
    number = filed["number"]
    await mp.call("GET", f"/cases/{number}", citizen)
    await mp.call("GET", "/cases?page=1", citizen)

    actor = await make_staff("intake", "centre")
    user = await StaffUser.get(id=actor.id)
    login = await mp.client.post(
        "/api/staff/v1/auth/login", json={"username": user.username, "password": STAFF_PASSWORD}
    )
    token = (await login.json())["token"]
    auth = {"Authorization": f"Bearer {token}"}
    await mp.client.get("/api/staff/v1/cases", headers=auth)
    await mp.client.get(f"/api/staff/v1/cases/{number}?reveal=1", headers=auth)
    await mp.client.get(f"/api/staff/v1/cases?q={PHONE}", headers=auth)
    resp = await sign_in(mp.client, user.username, STAFF_PASSWORD)  # type: ignore[arg-type]
    cookie = resp.cookies["cd_staff"].value
    await mp.client.get(f"/staff/cases/{number}")
    await mp.call("POST", "/auth/logout", citizen)

    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert any(r.name == "aiohttp.access" for r in caplog.records), "access log not captured"
    for secret in (PHONE, citizen.openid, citizen.token, token, cookie, STAFF_PASSWORD):
        assert secret not in text, f"leaked in logs: {secret[:4]}…"


async def test_a_chat_filing_logs_no_phone_or_openid(
    bot: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """A19: a whole filing by chat, with a phone number, then a status query by number."""
    for name in OUR_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    chat = bot.make_chat()
    for text in ("投诉", "1", "城东便民超市", "跳过", "跳过", "买到的牛奶已过期,商家拒绝退货。"):
        await chat.say(text)
    await chat.say("退货")
    await chat.say("跳过")
    assert "请核对" in await chat.say(PHONE)
    filed = await chat.say("确认")
    number = filed.split("编号", 1)[1].strip().split("。", 1)[0]
    assert number in await chat.say(f"查询 {number}")

    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert any(r.name == "aiohttp.access" for r in caplog.records), "access log not captured"
    for secret in (PHONE, chat.openid):
        assert secret not in text, f"leaked in logs: {secret[:4]}…"
