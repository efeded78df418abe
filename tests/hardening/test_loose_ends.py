"""Issue 15 item 13: a bare or external DTD in a push, cacheable API answers, invisible
characters in names, foreign subscribe templates, uploads never attached to a case."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from cases.auth.accounts import create_staff
from cases.errors import ValidationError
from cases.store.evidence import evidence_path
from cases.store.models import Case, EvidenceFile, StaffUser, SubscribeConsent
from cases.workflow.sweeps import run_sweeps
from complaint_desk.keys import RULES
from tests.bot.conftest import ACCOUNT, BotWorld
from tests.factories import STAFF_PASSWORD, make_staff
from tests.images import encode, two_tone
from tests.miniprogram.conftest import API, MpWorld
from wechat.simulator import text_xml

HELP = "帮助"


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
@pytest.mark.parametrize(
    "doctype",
    ["<!DOCTYPE xml>", '<!DOCTYPE xml SYSTEM "http://evil.example/x.dtd">'],
    ids=["bare", "external"],
)
async def test_any_dtd_in_a_push_is_refused(bot: BotWorld, safe: bool, doctype: str) -> None:
    chat = bot.make_chat(safe=safe)
    xml = text_xml(chat.openid, ACCOUNT, HELP, "88001", int(time.time()))
    status, body = await chat.push(doctype + xml)
    assert (status, body) == (400, "malformed message")
    status, _ = await chat.push(xml)  # the same push without the DTD is answered
    assert status == 200


async def test_api_answers_are_never_cached(mp: MpWorld) -> None:
    who = await mp.login()
    status, filed = await mp.file(who)
    assert status == 201
    for path in ("/catalogue", "/cases", f"/cases/{filed['number']}", "/no-such-thing"):
        resp = await mp.client.get(API + path, headers=who.auth)
        assert "no-store" in resp.headers["Cache-Control"], path
    resp = await mp.client.get(API + "/cases")  # a 401 too
    assert resp.status == 401 and resp.headers["Cache-Control"] == "no-store"

    actor = await make_staff("intake", "centre")
    user = await StaffUser.get(id=actor.id)
    login = await mp.client.post(
        "/api/staff/v1/auth/login", json={"username": user.username, "password": STAFF_PASSWORD}
    )
    assert login.headers["Cache-Control"] == "no-store"
    auth = {"Authorization": f"Bearer {(await login.json())['token']}"}
    revealed = await mp.client.get(f"/api/staff/v1/cases/{filed['number']}?reveal=1", headers=auth)
    assert revealed.status == 200
    assert (await revealed.json())["reporter"]["phone"] == "13800000000"
    assert revealed.headers["Cache-Control"] == "no-store"
    listed = await mp.client.get("/api/staff/v1/cases", headers=auth)
    assert listed.status == 200 and listed.headers["Cache-Control"] == "no-store"


async def test_bidi_and_zero_width_characters_never_reach_a_stored_name(mp: MpWorld) -> None:
    who = await mp.login()
    status, filed = await mp.file(
        who, respondent_name="城东\u202e市超\u202c便民\u200b超市\ufeff", contact_name="张\u200d女士"
    )
    assert status == 201, filed
    case = await Case.get(number=filed["number"])
    assert (case.respondent_name, case.contact_name) == ("城东市超便民超市", "张女士")

    with pytest.raises(ValidationError) as refused:
        await create_staff("admin\u200b", "a-long-password", "intake", "centre")
    assert refused.value.field == "username"
    user = await create_staff("clerk7", "a-long-password", "intake", "centre", "王\u202e五")
    assert user.display_name == "王五"


async def test_subscriptions_keep_only_our_templates(mp: MpWorld) -> None:
    who = await mp.login()
    report = {"demo-mp-progress": "accept", "someone-elses-template": "accept"}
    status, body = await mp.call("POST", "/subscriptions", who, json={"results": report})
    assert (status, body["remaining"]) == (200, {"demo-mp-progress": 1})
    status, body = await mp.call(
        "POST", "/subscriptions", who, json={"results": {"someone-elses-template": "accept"}}
    )
    assert (status, body["error"]["field"]) == (422, "results")
    kept = await SubscribeConsent.all().values_list("template_id", flat=True)
    assert kept == ["demo-mp-progress"]


async def test_uploads_no_case_took_are_deleted_after_a_day(mp: MpWorld) -> None:
    who = await mp.login()
    ids = []
    for _ in range(3):
        status, body = await mp.upload(who, encode(two_tone((64, 48))))
        assert status == 201, body
        ids.append(body["upload_id"])
    abandoned, attached, recent = ids
    status, _ = await mp.file(who, upload_ids=[attached])
    assert status == 201
    day_ago = datetime.now(UTC) - timedelta(hours=25)
    await EvidenceFile.filter(id__in=[abandoned, attached]).update(created_at=day_ago)
    gone = await EvidenceFile.get(id=abandoned)

    rules = mp.client.server.app[RULES]  # type: ignore[union-attr]
    await run_sweeps(rules, datetime.now(UTC), mp.settings)

    assert sorted(await EvidenceFile.all().values_list("id", flat=True)) == [attached, recent]
    for key in (gone.storage_key, gone.thumb_key):
        assert not evidence_path(mp.settings.media_dir, key).exists()
    kept = await EvidenceFile.get(id=attached)
    assert evidence_path(mp.settings.media_dir, kept.storage_key).exists()
