"""The mini-program shows the citizen the date of their stage, never an internal clock."""

from __future__ import annotations

from datetime import timedelta

from cases.models import Case, CaseClock
from cases.workflow import perform
from complaint_desk.keys import RULES
from tests.factories import make_staff
from tests.miniprogram.conftest import MpWorld


async def _last_day(case: Case, name: str, tz: object) -> str:
    clock = await CaseClock.get(case_id=case.id, name=name, stopped_at__isnull=True)
    return (clock.due_at - timedelta(microseconds=1)).astimezone(tz).date().isoformat()  # type: ignore[arg-type]


async def test_case_detail_shows_only_the_promised_date(mp: MpWorld) -> None:
    app = mp.client.server.app
    assert app is not None
    rules = app[RULES]
    who = await mp.login()
    status, created = await mp.file(who)
    assert status == 201, created
    case = await Case.get(number=created["number"])
    assert [(d["name"], d["due_date"]) for d in created["deadlines"]] == [
        ("acceptance", await _last_day(case, "acceptance", rules.timezone))
    ]

    intake = await make_staff("intake", "centre")
    await perform(rules, case.id, "accept", intake)
    await perform(rules, case.id, "assign", intake, data={"department": "consumer"})
    status, detail = await mp.call("GET", f"/cases/{case.number}", who)
    assert status == 200
    assert [(d["name"], d["label"], d["due_date"]) for d in detail["deadlines"]] == [
        ("handling", "办理", await _last_day(case, "handling", rules.timezone))
    ]
