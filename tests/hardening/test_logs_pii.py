"""No personal data or tokens in the logs of a realistic run (A19, A4)."""

from __future__ import annotations

import logging

import pytest

from cases.models import StaffUser
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
