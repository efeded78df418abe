"""What handling found, recorded at closure, and the yearly count of substantiated complaints
against named staff members with the measure the profile's thresholds give."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cases.errors import ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Status
from cases.views.accountability import measure_for, substantiated_by_staff
from cases.workflow.engine import perform
from tests.cases.test_workflow import World

S = Status


@pytest.fixture
async def world(store: Rules) -> World:
    return await World(store).setup()


async def _close(world: World, at: datetime, kind: str = "complaint", **data: str) -> Case:
    form = {"kind": kind, "anonymous": True} if kind == "report" else {}
    case = await world.drive_to(S.REPLIED, **form)
    closed, _ = await perform(world.rules, case.id, "close", world.intake, data=data, now=at)
    return closed


async def test_closing_records_the_finding_and_the_named_staff(world: World) -> None:
    at = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    case = await _close(world, at, finding="substantiated", named_staff=" 李医生 ")
    assert (case.finding, case.named_staff) == ("substantiated", "李医生")
    stored = await Case.get(id=case.id)
    assert (stored.finding, stored.named_staff) == ("substantiated", "李医生")
    event = await CaseEvent.get(case_id=case.id, action="close")
    assert event.data["finding_name"] == "属实"


async def test_a_finding_is_required_and_must_be_offered_for_the_kind(world: World) -> None:
    case = await world.drive_to(S.REPLIED)
    for data, message in (
        ({}, "请选择处理结果"),
        ({"finding": "answered"}, "请选择处理结果"),  # not offered for complaints here
        ({"finding": "no_such_finding"}, "请选择处理结果"),
        ({"finding": "mediated", "named_staff": "张" * 51}, "最多50个字"),
    ):
        with pytest.raises(ValidationError, match=message) as refused:
            await perform(world.rules, case.id, "close", world.intake, data=data)
        assert refused.value.field in ("finding", "named_staff")
    assert (await Case.get(id=case.id)).status == S.REPLIED  # nothing half-done


async def test_kinds_without_findings_close_without_one(world: World) -> None:
    case = await world.drive_to(S.REPLIED, kind="consultation")
    with pytest.raises(ValidationError, match="不记录处理结果"):
        await perform(world.rules, case.id, "close", world.intake, data={"finding": "mediated"})
    closed, _ = await perform(world.rules, case.id, "close", world.intake)
    assert closed.status == S.CLOSED and closed.finding == ""


def test_the_measure_is_the_highest_threshold_reached(store: Rules) -> None:
    catalog = store.catalog
    assert [measure_for(catalog, n) for n in (0, 1, 2, 3, 7)] == [
        "",
        "诫勉",
        "通报批评",
        "视情节轻重给予处分",
        "视情节轻重给予处分",
    ]


async def test_substantiated_complaints_per_staff_member_in_a_year(world: World) -> None:
    tz = world.rules.timezone
    in_2026 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    # 1 Jan 2027 07:00 in Shanghai is still 31 Dec 2026 in UTC: the local year decides.
    new_year = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    a1 = await _close(world, in_2026, finding="substantiated", named_staff="王五")
    a2 = await _close(world, in_2026, finding="partly_substantiated", named_staff="王五")
    await _close(world, new_year, finding="substantiated", named_staff="王五")
    b = await _close(world, in_2026, kind="report", finding="case_filed", named_staff="赵六")
    await _close(world, in_2026, finding="unsubstantiated", named_staff="赵六")  # not found
    await _close(world, in_2026, finding="substantiated")  # nobody named
    tallies = await substantiated_by_staff(world.rules.catalog, 2026, tz)
    assert [(t.name, t.count, t.measure) for t in tallies] == [
        ("王五", 2, "通报批评"),
        ("赵六", 1, "诫勉"),
    ]
    assert tallies[0].numbers == (a1.number, a2.number) and tallies[1].numbers == (b.number,)
    next_year = await substantiated_by_staff(world.rules.catalog, 2027, tz)
    assert [(t.name, t.count) for t in next_year] == [("王五", 1)]
