"""Quotas that hold under concurrency, and form values of the wrong JSON type (issue 15,
items 2 and 8)."""

from __future__ import annotations

import asyncio

import pytest

from cases.store.models import Case, EvidenceFile
from tests.images import encode, two_tone
from tests.miniprogram.conftest import MakeWorld, MpWorld


async def test_concurrent_filings_store_no_more_than_the_daily_quota(make_mp: MakeWorld) -> None:
    """12 filings at once against a quota of 3: exactly 3 stored, the others get 429."""
    mp = await make_mp(miniprogram__cases_per_day=3)
    who, other = await mp.login(), await mp.login()
    results = await asyncio.gather(*(mp.file(who) for _ in range(12)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 3 + [429] * 9
    assert {body["error"]["code"] for status, body in results if status == 429} == {"rate_limited"}
    assert await Case.all().count() == 3
    # Another citizen's quota is their own.
    assert (await mp.file(other))[0] == 201


async def test_concurrent_uploads_store_no_more_than_the_hourly_quota(make_mp: MakeWorld) -> None:
    """12 uploads at once against a quota of 4: exactly 4 rows and their 8 files stored."""
    mp = await make_mp(miniprogram__uploads_per_hour=4)
    who, other = await mp.login(), await mp.login()
    photo = encode(two_tone())
    results = await asyncio.gather(*(mp.upload(who, photo) for _ in range(12)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 4 + [429] * 8
    assert await EvidenceFile.all().count() == 4
    files = [p for p in mp.settings.media_dir.rglob("*") if p.is_file()]
    assert len(files) == 8  # a refused upload leaves no file behind
    assert (await mp.upload(other, photo))[0] == 201


@pytest.mark.parametrize("value", ["false", "true", 0, 1, None, [], {}])
async def test_anonymous_must_be_a_boolean(mp: MpWorld, value: object) -> None:
    """`"anonymous": "false"` made a report anonymous and dropped the contact: now 422."""
    who = await mp.login()
    status, body = await mp.file(who, kind="report", anonymous=value)
    assert status == 422, body
    assert body["error"]["field"] == "anonymous"
    assert body["error"]["message"] == "“是否匿名”请填 true 或 false。"
    assert await Case.all().count() == 0
    # The same report with a boolean is filed, with its contact kept.
    status, body = await mp.file(who, kind="report", anonymous=False)
    assert status == 201, body
    case = await Case.get(number=body["number"])
    assert (case.anonymous, case.contact_phone) == (False, "13800000000")
