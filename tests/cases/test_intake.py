"""Filing: validation with a clear message per field, nothing half-written, duplicates flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cases.errors import ValidationError
from cases.intake.forms import normalize_phone
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, Status
from cases.workflow.timeline import Actor
from tests.factories import complaint_form, make_case, make_citizen, make_staff

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def test_a_valid_complaint_gets_number_event_and_clocks(store: Rules) -> None:
    case = await make_case(store, now=NOW)
    assert case.number.startswith("TS20261123") and len(case.number) == 2 + 8 + 5
    assert case.status == Status.SUBMITTED and case.policy == "complaint"
    event = await CaseEvent.get(case_id=case.id)
    assert (event.action, event.to_status, event.actor_kind) == ("file", "submitted", "citizen")
    clocks = {c.name: c for c in await CaseClock.filter(case_id=case.id)}
    assert set(clocks) == {"triage", "acceptance"}
    stored = await Case.get(id=case.id)
    assert stored.next_due_at == clocks["triage"].due_at  # the earliest running clock


BAD_INPUT: list[tuple[dict[str, Any], str, str]] = [
    ({"kind": "praise"}, "kind", "请选择类型"),
    ({"category": "weather"}, "category", "有效的类别"),
    (
        {"category": "licensing", "kind": "complaint", "respondent_name": ""},
        "respondent_name",
        "被投诉",
    ),
    ({"description": ""}, "description", "事情经过"),
    ({"description": "太差了"}, "description", "至少写 10 个字"),
    ({"description": "很" * 2001}, "description", "最多 2000 个字"),
    ({"demands": ""}, "demands", "诉求"),
    ({"contact_phone": "12345"}, "contact_phone", "有效的手机号"),
    ({"contact_phone": "23800000000"}, "contact_phone", "有效的手机号"),
    ({"contact_phone": ""}, "contact_phone", "联系电话"),
    ({"anonymous": True}, "anonymous", "需要实名"),
    ({"incident_at": "2026-11-24T10:00:00+08:00"}, "incident_at", "不能晚于现在"),
    ({"incident_at": "yesterday"}, "incident_at", "格式不对"),
    ({"latitude": 30.2}, "longitude", "同时填写"),
    ({"latitude": 95, "longitude": 120}, "latitude", "超出范围"),
    ({"description": ["not", "text"]}, "description", "应为文字"),
]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    BAD_INPUT,
    ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_INPUT)],
)
async def test_bad_input_names_the_field_and_writes_nothing(
    store: Rules, change: dict[str, Any], field: str, message: str
) -> None:
    citizen = await make_citizen()
    with pytest.raises(ValidationError) as exc:
        await make_case(store, citizen=citizen, now=NOW, **change)
    assert exc.value.field == field
    assert message in exc.value.message
    assert await Case.all().count() == 0
    assert await CaseEvent.all().count() == 0
    assert await CaseClock.all().count() == 0
    # The same form with the field put right is accepted: the refusal was about that field.
    assert (await make_case(store, citizen=citizen, now=NOW)).status == Status.SUBMITTED


async def test_anonymous_report_keeps_no_identity(store: Rules) -> None:
    intake = await make_staff("intake", "centre")
    form = complaint_form(
        kind="report",
        category="food",
        anonymous=True,
        contact_name="王五",
        contact_phone="13900000000",
        contact_address="某地",
    )
    from cases.intake.filing import file_case

    case = await file_case(store, form, intake, channel="phone", now=NOW)
    assert case.anonymous
    assert (case.contact_name, case.contact_phone, case.contact_address) == ("", "", "")
    assert case.number.startswith("JB") and case.policy == "food_drug"


async def test_only_staff_set_severity(store: Rules) -> None:
    citizen_case = await make_case(store, now=NOW, severity="emergency")
    assert citizen_case.severity == "general"
    intake = await make_staff("intake", "centre")
    from cases.intake.filing import file_case

    staff_case = await file_case(
        store, complaint_form(severity="emergency"), intake, channel="visit", now=NOW
    )
    assert staff_case.severity == "emergency" and staff_case.policy == "emergency"


async def test_unknown_channel_is_refused(store: Rules) -> None:
    intake = await make_staff("intake", "centre")
    from cases.intake.filing import file_case

    with pytest.raises(ValidationError) as exc:
        await file_case(store, complaint_form(), intake, channel="carrier-pigeon", now=NOW)
    assert exc.value.field == "channel"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("138 0000 0000", "13800000000"),
        ("+86 13800000000", "13800000000"),
        ("8613800000000", "13800000000"),
        ("010-62345678", "010-62345678"),
        ("0571 87654321", "0571-87654321"),
        ("(020)12345678", "020-12345678"),
    ],
)
def test_phone_numbers_are_normalised(text: str, expected: str) -> None:
    assert normalize_phone(text) == expected


@pytest.mark.parametrize("text", ["12345678901", "1380000000", "62345678", "0571-123", "abc"])
def test_non_chinese_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(text)


async def test_same_story_against_same_respondent_is_flagged(store: Rules) -> None:
    citizen = await make_citizen()
    first = await make_case(store, citizen=citizen, now=NOW)
    again = await make_case(
        store,
        citizen=citizen,
        now=NOW + timedelta(days=2),
        respondent_name="城东 便民超市",
        description="11月20日在这家超市买的牛奶已过保质期,要求退货被拒绝了。",
    )
    assert again.duplicate_of_id == first.id
    event = await CaseEvent.get(case_id=again.id, action="file")
    assert event.data["duplicate_of"] == first.id


async def test_different_story_or_person_or_closed_case_is_not_flagged(store: Rules) -> None:
    citizen = await make_citizen()
    first = await make_case(store, citizen=citizen, now=NOW)
    other_story = await make_case(
        store,
        citizen=citizen,
        now=NOW,
        description="该超市门口违规占道经营,堆放大量纸箱影响通行,已持续一个月。",
    )
    assert other_story.duplicate_of_id is None
    stranger = await make_case(store, now=NOW, contact_phone="13911112222")
    assert stranger.duplicate_of_id is None
    await Case.filter(id=first.id).update(status=Status.CLOSED)
    await Case.filter(id=other_story.id).update(status=Status.CLOSED)
    after_close = await make_case(store, citizen=citizen, now=NOW)
    assert after_close.duplicate_of_id is None


async def test_same_phone_links_a_phone_case_to_a_wechat_case(store: Rules) -> None:
    first = await make_case(store, now=NOW)
    intake: Actor = await make_staff("intake", "centre")
    from cases.intake.filing import file_case

    by_phone = await file_case(store, complaint_form(), intake, channel="phone", now=NOW)
    assert by_phone.duplicate_of_id == first.id
