"""Exports and lists never carry a full phone number (P6, A10)."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

from tests.factories import STAFF_PASSWORD, make_case
from tests.staff.conftest import StaffWorld

PHONE = "13912345678"
MASKED = "139****5678"


async def test_list_api_and_monthly_report_mask_phones(staff_world: StaffWorld) -> None:
    """P6: the staff list API (JSON) masks phones even for intake; the monthly report (HTML
    and Excel) has no phone at all."""
    await make_case(staff_world.rules, contact_phone=PHONE)
    month = datetime.now(UTC).astimezone(staff_world.rules.timezone).strftime("%Y-%m")
    console = await staff_world.console("intake", "centre")
    client = await staff_world.new_client()
    login = await client.post(
        "/api/staff/v1/auth/login",
        json={"username": console.username, "password": STAFF_PASSWORD},
    )
    auth = {"Authorization": f"Bearer {(await login.json())['token']}"}
    listed = await client.get("/api/staff/v1/cases", headers=auth)
    text = await listed.text()
    assert listed.status == 200 and MASKED in text and PHONE not in text

    status, html = await console.get(f"/staff/reports/monthly?month={month}&format=html")
    assert status == 200 and PHONE not in html
    resp = await console.client.get(f"/staff/reports/monthly?month={month}&format=xlsx")
    assert resp.status == 200
    with zipfile.ZipFile(io.BytesIO(await resp.read())) as book:
        for name in book.namelist():
            assert PHONE.encode() not in book.read(name), name
