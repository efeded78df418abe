"""The mini-program API end to end: sign-in, filing with photos, tracking, privacy, errors."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from cases.store.evidence import evidence_path
from cases.store.models import Case, Citizen, EvidenceFile, MpSession, Rating, Status
from cases.workflow.engine import perform
from complaint_desk.keys import RULES
from tests.factories import make_staff
from tests.images import SECRETS, encode, jpeg_with_everything, png_header_only, two_tone
from tests.miniprogram.conftest import API, MP_APPID, MpWorld, complaint
from wechat.simulator import PushSigner, media_check_xml

LOGIN = "/sns/jscode2session"


# --- sign-in ---------------------------------------------------------------------------


async def test_login_gives_a_token_and_links_the_official_account_by_unionid(
    mp: MpWorld,
) -> None:
    oa = await Citizen.create(oa_openid="oFollower1", unionid="uPerson1", phone="13800000000")
    who = await mp.login("oMiniUser1", unionid="uPerson1")
    assert len(who.token) >= 43  # 256 random bits
    citizen = await Citizen.get(mp_openid="oMiniUser1")
    assert citizen.id == oa.id and citizen.oa_openid == "oFollower1"
    session = await MpSession.get(citizen_id=citizen.id)
    assert who.token not in session.token_hash  # only the hash is stored
    status, body = await mp.call("GET", "/cases", who)
    assert status == 200 and body["total"] == 0


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [(40029, 400, "invalid_code"), (45011, 429, "rate_limited"), (40226, 403, "login_refused")],
)
async def test_login_refusals_from_wechat(
    mp: MpWorld, errcode: int, status: int, code: str
) -> None:
    mp.fake.fail_next(LOGIN, errcode)
    resp = await mp.client.post(f"{API}/auth/login", json={"code": "whatever"})
    body = await resp.json()
    assert resp.status == status and body["error"]["code"] == code
    assert body["error"]["message"] and "session_key" not in str(body)
    if status == 429:
        assert resp.headers["Retry-After"] == "60"


async def test_a_used_or_made_up_code_is_refused(mp: MpWorld) -> None:
    code = mp.fake.login_code(MP_APPID, "oMiniUser2")
    assert (await mp.client.post(f"{API}/auth/login", json={"code": code})).status == 200
    again = await mp.client.post(f"{API}/auth/login", json={"code": code})
    assert again.status == 400 and (await again.json())["error"]["field"] == "code"


PROTECTED = [
    ("GET", "/catalogue"),
    ("POST", "/uploads"),
    ("POST", "/cases"),
    ("GET", "/cases"),
    ("GET", "/cases/TS2026112300001"),
    ("POST", "/cases/TS2026112300001/supplements"),
    ("POST", "/cases/TS2026112300001/withdraw"),
    ("POST", "/cases/TS2026112300001/rating"),
    ("POST", "/subscriptions"),
    ("POST", "/auth/logout"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_every_route_needs_a_valid_token(mp: MpWorld, method: str, path: str) -> None:
    who = await mp.login()
    await MpSession.filter(token_hash__isnull=False).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    for headers in ({}, {"Authorization": "Bearer forged-" + "x" * 40}, who.auth):
        resp = await mp.client.request(method, API + path, headers=headers, json={})
        body = await resp.json()
        assert resp.status == 401 and body["error"]["code"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_logout_kills_the_token(mp: MpWorld) -> None:
    who = await mp.login()
    assert (await mp.call("POST", "/auth/logout", who))[0] == 200
    assert (await mp.call("GET", "/cases", who))[0] == 401


# --- filing ----------------------------------------------------------------------------


async def test_catalogue_drives_the_form(mp: MpWorld) -> None:
    status, body = await mp.call("GET", "/catalogue", await mp.login())
    assert status == 200
    assert {k["code"] for k in body["kinds"]} >= {"complaint", "report", "consultation"}
    assert body["fields"]["description"]["min_chars"] > 0
    assert "demo-mp-progress" in body["subscribe_templates"]
    assert body["rating"]["levels"]["basic"] == "基本满意"


async def test_a_full_filing_with_two_photos_keeps_no_gps(mp: MpWorld) -> None:
    who = await mp.login()
    uploads = []
    for _ in range(2):
        status, body = await mp.upload(who, jpeg_with_everything())
        assert status == 201, body
        uploads.append(body["upload_id"])
    status, created = await mp.file(who, upload_ids=uploads)
    assert status == 201, created
    assert created["number"].startswith("TS") and created["status"] == "submitted"
    assert created["deadlines"] and created["deadlines"][0]["due_date"]

    case = await Case.get(number=created["number"])
    assert case.channel == "mini_program"
    photos = await EvidenceFile.filter(case_id=case.id)
    assert len(photos) == 2
    for evidence in photos:
        stored = evidence_path(mp.settings.media_dir, evidence.storage_key).read_bytes()
        assert not any(secret in stored for secret in SECRETS)
        assert "exif" not in Image.open(io.BytesIO(stored)).info

    status, detail = await mp.call("GET", f"/cases/{created['number']}", who)
    assert status == 200 and [t["action"] for t in detail["timeline"]] == ["file"]
    thumb = await mp.get_link(detail["photos"][0]["thumb_url"])
    assert thumb.status == 200 and thumb.content_type == "image/jpeg"
    assert thumb.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in thumb.headers["Cache-Control"]
    tampered = detail["photos"][0]["thumb_url"].replace("sig=", "sig=0")
    assert (await mp.get_link(tampered)).status == 404


async def test_photo_links_are_absolute_https_on_the_public_url(mp: MpWorld) -> None:
    """Issue 15 item 16: a mini-program <image> takes no relative path."""
    who = await mp.login()
    _, upload = await mp.upload(who, encode(two_tone()))
    _, created = await mp.file(who, upload_ids=[upload["upload_id"]])
    _, detail = await mp.call("GET", f"/cases/{created['number']}", who)
    evidence = f"https://desk.example.org/api/mp/v1/evidence/{upload['upload_id']}"
    for photo in (upload, detail["photos"][0]):
        assert photo["thumb_url"].startswith(f"{evidence}/thumb?exp="), photo
        assert photo["url"].startswith(f"{evidence}/full?exp="), photo
        resp = await mp.client.get(photo["url"].removeprefix("https://desk.example.org"))
        assert resp.status == 200 and resp.content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("data", "filename", "status", "code"),
    [
        (b"%PDF-1.7 not a photo at all", "a.pdf", 415, "not_an_image"),
        (b"<?php echo 'hi'; ?>" * 10, "photo.jpg", 415, "not_an_image"),  # lying extension
        (png_header_only(10_000, 10_000), "bomb.png", 413, "photo_too_many_pixels"),
        (encode(two_tone((400, 300)))[:600], "cut.jpg", 400, "corrupt_image"),
    ],
)
async def test_bad_uploads_are_refused_in_chinese(
    mp: MpWorld, data: bytes, filename: str, status: int, code: str
) -> None:
    who = await mp.login()
    got, body = await mp.upload(who, data, filename=filename)
    assert got == status and body["error"]["code"] == code
    assert body["error"]["message"]  # shown to the citizen as is
    assert await EvidenceFile.all().count() == 0


async def test_a_20_mb_upload_is_refused_before_it_is_read(mp: MpWorld) -> None:
    who = await mp.login()
    status, body = await mp.upload(who, b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024))
    assert status == 413 and body["error"]["code"] == "photo_too_large"


async def test_a_polyglot_is_stored_only_as_clean_pixels(mp: MpWorld) -> None:
    who = await mp.login()
    polyglot = encode(two_tone()) + b"PK\x03\x04<script>alert(1)</script>"
    status, body = await mp.upload(who, polyglot, filename="x.html")
    assert status == 201
    evidence = await EvidenceFile.get(id=body["upload_id"])
    stored = evidence_path(mp.settings.media_dir, evidence.storage_key).read_bytes()
    assert b"<script>" not in stored and b"PK\x03\x04" not in stored


async def test_a_retried_submission_returns_the_same_case(mp: MpWorld) -> None:
    who = await mp.login()
    key = str(uuid.uuid4())
    results = await asyncio.gather(*(mp.file(who, key=key) for _ in range(3)))
    numbers = {body["number"] for status, body in results if status == 201}
    assert len(numbers) == 1 and all(status == 201 for status, _ in results)
    assert await Case.all().count() == 1
    status, body = await mp.file(who, key=key, demands="换一个诉求")
    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"
    status, body = await mp.call("POST", "/cases", who, json=complaint())
    assert status == 400 and body["error"]["field"] == "Idempotency-Key"


async def test_risky_text_is_refused_and_nothing_is_filed(mp: MpWorld) -> None:
    who = await mp.login()
    status, body = await mp.file(who, description="这里有个赌博网站,大家快来,地址是某某某某某。")
    assert status == 422 and body["error"]["field"] == "description"
    assert await Case.all().count() == 0


async def test_form_errors_name_the_field(mp: MpWorld) -> None:
    who = await mp.login()
    status, body = await mp.file(who, contact_phone="12345")
    assert status == 422 and body["error"]["field"] == "contact_phone"
    status, body = await mp.file(who, upload_ids=[999999])
    assert status == 422 and body["error"]["field"] == "upload_ids"
    assert await Case.all().count() == 0


async def test_filing_and_uploading_are_rate_limited(mp: MpWorld) -> None:
    who = await mp.login()
    for _ in range(mp.settings.miniprogram.cases_per_day):
        assert (await mp.file(who))[0] == 201
    resp = await mp.client.post(
        f"{API}/cases", json=complaint(), headers={**who.auth, "Idempotency-Key": "k-last"}
    )
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
    assert (await resp.json())["error"]["code"] == "rate_limited"


# --- privacy: someone else's case ------------------------------------------------------


async def test_someone_elses_case_is_not_found_on_every_route(mp: MpWorld) -> None:
    owner, other = await mp.login(), await mp.login()
    _, created = await mp.file(owner)
    number = created["number"]
    for method, suffix, body in (
        ("GET", "", None),
        ("POST", "/supplements", {"text": "补充"}),
        ("POST", "/withdraw", {}),
        ("POST", "/rating", {"overall": "satisfied"}),
    ):
        theirs = await mp.call(method, f"/cases/{number}{suffix}", other, json=body)
        missing = await mp.call(method, f"/cases/TS20991231999999{suffix}", other, json=body)
        assert theirs == missing and theirs[0] == 404
    assert (await mp.call("GET", "/cases", other))[1]["total"] == 0
    assert (await Case.get(number=number)).status == Status.SUBMITTED


# --- after filing ----------------------------------------------------------------------


async def test_supplement_withdraw_and_rating(mp: MpWorld) -> None:
    rules = mp.client.server.app[RULES]  # type: ignore[union-attr]
    who = await mp.login()
    _, created = await mp.file(who)
    number = created["number"]
    case = await Case.get(number=number)
    intake = await make_staff("intake", "centre")
    await perform(rules, case.id, "request_info", intake, note="请补充购物小票照片。")
    status, body = await mp.upload(who, encode(two_tone()))
    status, body = await mp.call(
        "POST",
        f"/cases/{number}/supplements",
        who,
        json={"text": "小票照片见附件。", "upload_ids": [body["upload_id"]]},
    )
    assert status == 200 and body["status"] == "submitted"
    assert await EvidenceFile.filter(case_id=case.id).count() == 1

    status, body = await mp.call("POST", f"/cases/{number}/rating", who, json={"overall": "basic"})
    assert status == 409  # not closed yet
    handler = await make_staff("handler", "consumer")
    await perform(rules, case.id, "accept", intake)
    await perform(rules, case.id, "assign", intake, data={"department": "consumer"})
    await perform(rules, case.id, "start", handler)
    await perform(rules, case.id, "reply", handler, note="商家已同意退货。")
    await perform(rules, case.id, "close", intake, data={"finding": "mediated"})
    status, detail = await mp.call("GET", f"/cases/{number}", who)
    assert detail["replies"][0]["note"] == "商家已同意退货。"
    bad = await mp.call("POST", f"/cases/{number}/rating", who, json={"overall": "great"})
    assert bad[0] == 422 and bad[1]["error"]["field"] == "overall"
    answer = {"overall": "basic", "scores": {"timeliness": "satisfied"}, "comment": "还行"}
    status, body = await mp.call("POST", f"/cases/{number}/rating", who, json=answer)
    assert status == 201 and body["overall"] == "basic"
    assert (await Rating.get(case_id=case.id)).scores == {"timeliness": "satisfied"}
    again = await mp.call("POST", f"/cases/{number}/rating", who, json=answer)
    assert again[0] == 409 and again[1]["error"]["code"] == "already_rated"

    _, second = await mp.file(who)
    status, body = await mp.call("POST", f"/cases/{second['number']}/withdraw", who, json={})
    assert status == 200 and body["status"] == "withdrawn"
    status, body = await mp.call("GET", "/cases?status=withdrawn", who)
    assert [c["number"] for c in body["items"]] == [second["number"]]


async def test_subscriptions_feed_the_consent_ledger(mp: MpWorld) -> None:
    who = await mp.login()
    # As wx.requestSubscribeMessage hands it to the callback, errMsg included.
    results = {
        "errMsg": "requestSubscribeMessage:ok",
        "demo-mp-progress": "accept",
        "demo-mp-result": "reject",
    }
    status, body = await mp.call("POST", "/subscriptions", who, json={"results": results})
    assert status == 200 and body["remaining"] == {"demo-mp-progress": 1, "demo-mp-result": 0}
    bad = await mp.call("POST", "/subscriptions", who, json={"results": {"x": 1}})
    assert bad[0] == 422 and bad[1]["error"]["field"] == "results"


async def test_subscribe_results_count_every_accept_and_ignore_unknown_values(mp: MpWorld) -> None:
    """Issue 15 item 15: acceptWithAudio is a consent; a value WeChat adds later spoils no
    other template's accept; a fail callback is answered 200 and records nothing."""
    who = await mp.login()
    results = {
        "errMsg": "requestSubscribeMessage:ok",
        "demo-mp-progress": "acceptWithAudio",
        "demo-mp-result": "someNewValue",
        "demo-mp-other": "accept",  # not a template of ours (item 13): dropped, not counted
    }
    status, body = await mp.call("POST", "/subscriptions", who, json={"results": results})
    assert status == 200, body
    assert body["remaining"] == {"demo-mp-progress": 1, "demo-mp-result": 0}
    status, body = await mp.call(
        "POST", "/subscriptions", who, json={"results": {"demo-mp-result": "acceptWithAlert"}}
    )
    assert status == 200 and body["remaining"] == {"demo-mp-result": 1}

    fail = {"errMsg": "requestSubscribeMessage:fail can only be invoked by user TAP gesture."}
    status, body = await mp.call(
        "POST", "/subscriptions", who, json={"results": {**fail, "errCode": 20004}}
    )
    assert status == 200 and body["remaining"] == {}
    # An accept inside a fail callback is not the citizen's answer.
    status, body = await mp.call(
        "POST", "/subscriptions", who, json={"results": {**fail, "demo-mp-result": "accept"}}
    )
    assert status == 200 and body["remaining"] == {}
    status, body = await mp.call(
        "POST", "/subscriptions", who, json={"results": {"demo-mp-result": "reject"}}
    )
    assert status == 200 and body["remaining"] == {"demo-mp-result": 1}

    for bad in ({}, {"errMsg": 1}, {"errMsg": "x:fail", "errCode": "20004"}, []):
        status, body = await mp.call("POST", "/subscriptions", who, json={"results": bad})
        assert (status, body["error"]["field"]) == (422, "results"), bad


async def test_a_risky_photo_verdict_withholds_it_and_tells_the_citizen(mp: MpWorld) -> None:
    who = await mp.login()
    _, upload = await mp.upload(who, encode(two_tone()))
    [check] = mp.fake.media_checks
    assert check.media_url.startswith("https://desk.example.org/api/mp/v1/check-media/")
    # WeChat fetches the photo while the check is pending.
    fetched = await mp.client.get(check.media_url.removeprefix("https://desk.example.org"))
    assert fetched.status == 200 and fetched.content_type == "image/jpeg"
    _, created = await mp.file(who, upload_ids=[upload["upload_id"]])

    signer = PushSigner("mp-token-for-tests", MP_APPID)
    params, body = signer.sign(media_check_xml(check, "gh_mini", "risky", 20002))
    resp = await mp.client.post("/wechat/mp", params=params, data=body.encode())
    assert resp.status == 200 and await resp.text() == "success"
    forged = {**params, "signature": "0" * 40}
    assert (await mp.client.post("/wechat/mp", params=forged, data=body.encode())).status == 403

    _, detail = await mp.call("GET", f"/cases/{created['number']}", who)
    [photo] = detail["photos"]
    assert photo["withheld"] and "仅工作人员可见" in photo["note"] and "url" not in photo
    assert (await mp.get_link(upload["thumb_url"])).status == 404
    assert (await mp.client.get(fetched.url.path)).status == 404  # no longer pending


async def test_errors_for_bad_json_and_unknown_routes(mp: MpWorld) -> None:
    who = await mp.login()
    resp = await mp.client.post(
        f"{API}/cases",
        data=b"{not json",
        headers={**who.auth, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
    resp = await mp.client.post(
        f"{API}/cases", data=b"kind=complaint", headers={**who.auth, "Idempotency-Key": "k"}
    )
    assert resp.status == 415
    resp = await mp.client.get(f"{API}/no-such-thing", headers=who.auth)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    status, body = await mp.call("GET", "/cases?page=0", who)
    assert status == 422 and body["error"]["field"] == "page"
