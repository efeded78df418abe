"""Satisfaction surveys: invitation after closure (holidays skipped), one answer per closure,
late answers refused, silence recorded as such, 不满意 reviewed by a leader."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cases.errors import PermissionDenied, TransitionNotAllowed, ValidationError
from cases.rules import Rules
from cases.store.models import (
    Case,
    CaseEvent,
    Notice,
    NoticeStatus,
    Rating,
    Status,
    Survey,
    SurveyStatus,
)
from cases.views.worklists import Filters, worklist_page
from cases.workflow.engine import perform
from cases.workflow.outbox import deliver_due
from cases.workflow.surveys import answer_survey, close_unanswered, invitation_time, review_queue
from cases.workflow.sweeps import run_sweeps
from config.survey import load_survey_scale
from tests.cases.test_workflow import World

# Wednesday 30 September 2026, 15:00 in Shanghai: the National Day holiday starts tomorrow.
BEFORE_HOLIDAY = datetime(2026, 9, 30, 7, 0, tzinfo=UTC)


@pytest.fixture
async def world(store: Rules) -> World:
    return await World(store).setup()


async def closed_case(world: World, at: datetime) -> Case:
    case = await world.new_case()
    for action, who, kw in (
        ("accept", world.intake, {}),
        ("assign", world.intake, {"data": {"department": "consumer"}}),
        ("start", world.handler, {}),
        ("reply", world.handler, {"note": "商家已同意退货。"}),
        ("close", world.intake, {"data": {"finding": "mediated"}}),
    ):
        case, _ = await perform(world.rules, case.id, action, who, now=at, **kw)
    return case


def test_the_invitation_skips_the_holiday(store: Rules) -> None:
    invite = invitation_time(store, BEFORE_HOLIDAY).astimezone(store.timezone)
    scale = load_survey_scale()
    assert invite.hour == scale.invite_hour and invite.date() > date(2026, 10, 1)
    assert store.calendar.is_workday(invite.date())
    day = BEFORE_HOLIDAY.astimezone(store.timezone).date() + timedelta(days=1)
    skipped = []
    while day < invite.date():
        skipped.append(day)
        day += timedelta(days=1)
    assert len(skipped) >= 5 and not any(store.calendar.is_workday(d) for d in skipped)
    assert invite - BEFORE_HOLIDAY.astimezone(store.timezone) < timedelta(days=31)


async def test_closing_schedules_one_survey_and_its_invitation(world: World) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    survey = await Survey.get(case_id=case.id)
    assert survey.status == SurveyStatus.SCHEDULED and survey.closure == 1
    assert survey.invite_at == invitation_time(world.rules, BEFORE_HOLIDAY)
    invitation = await Notice.get(case_id=case.id, kind="survey")
    assert invitation.next_attempt_at == survey.invite_at
    # The worker does not send it before its time.
    assert await deliver_due(world.rules, {}, BEFORE_HOLIDAY + timedelta(days=1)) == 0
    assert (await Notice.get(id=invitation.id)).status == NoticeStatus.PENDING


@pytest.mark.parametrize("dimension", ["timeliness", "attitude", "result"])
async def test_every_dimension_is_recorded(world: World, dimension: str) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    survey = await Survey.get(case_id=case.id)
    at = survey.invite_at + timedelta(hours=1)
    answer = {"overall": "basic", "scores": {dimension: "satisfied"}, "comment": "还可以"}
    rating = await answer_survey(world.rules, case, answer, "mini_program", at)
    assert rating.scores == {dimension: "satisfied"} and rating.overall == "basic"
    survey = await Survey.get(id=survey.id)
    assert survey.status == SurveyStatus.ANSWERED and not survey.needs_review


async def test_a_second_and_a_late_answer_are_refused_politely(world: World) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    survey = await Survey.get(case_id=case.id)
    await answer_survey(
        world.rules, case, {"overall": "satisfied"}, "official_account", survey.invite_at
    )
    with pytest.raises(TransitionNotAllowed, match="已评价"):
        await answer_survey(
            world.rules, case, {"overall": "basic"}, "official_account", survey.invite_at
        )

    late_case = await closed_case(world, BEFORE_HOLIDAY)
    late = await Survey.get(case_id=late_case.id)
    with pytest.raises(TransitionNotAllowed, match="截止"):
        await answer_survey(
            world.rules, late_case, {"overall": "satisfied"}, "mini_program", late.closes_at
        )
    assert await Rating.filter(case_id=late_case.id).count() == 0


async def test_silence_is_recorded_as_unanswered_not_as_satisfied(world: World) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    survey = await Survey.get(case_id=case.id)
    assert await close_unanswered(survey.closes_at - timedelta(seconds=1)) == 0
    assert await run_sweeps(world.rules, survey.closes_at) >= 1
    assert (await Survey.get(id=survey.id)).status == SurveyStatus.UNANSWERED
    assert await Rating.filter(case_id=case.id).count() == 0


async def test_dissatisfied_with_the_result_goes_to_review_then_reopen(world: World) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    survey = await Survey.get(case_id=case.id)
    answer = {"overall": "basic", "scores": {"result": "dissatisfied"}}
    await answer_survey(world.rules, case, answer, "mini_program", survey.invite_at)
    assert [c.id for c in await review_queue()] == [case.id]
    at = survey.invite_at + timedelta(days=1)
    leaders = await worklist_page(world.rules, world.leader, Filters(), at)
    assert case.id in [c.id for c in leaders.cases]  # on the leader's worklist
    event = await CaseEvent.get(case_id=case.id, action="rate")
    assert not event.public and "办理结果:不满意" in event.note
    reopened, event = await perform(
        world.rules, case.id, "reopen", world.leader, note="重新核查退货情况", now=at
    )
    assert reopened.status == Status.IN_PROGRESS and reopened.next_due_at is not None
    assert await Notice.exists(event_id=event.id, kind="reopened")
    assert await review_queue() == []
    leaders = await worklist_page(world.rules, world.leader, Filters(), at)
    assert case.id not in [c.id for c in leaders.cases]
    # Closed again later: a new survey for the new closure.
    for action, who, kw in (
        ("reply", world.handler, {"note": "已再次核查。"}),
        ("close", world.intake, {"data": {"finding": "mediated"}}),
    ):
        await perform(world.rules, case.id, action, who, now=at, **kw)
    assert await Survey.filter(case_id=case.id).order_by("closure").values_list(
        "closure", flat=True
    ) == [1, 2]


async def test_dissatisfied_overall_upheld_with_an_explanation(world: World) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    survey = await Survey.get(case_id=case.id)
    await answer_survey(
        world.rules, case, {"overall": "dissatisfied"}, "official_account", survey.invite_at
    )
    assert (await Survey.get(id=survey.id)).needs_review
    with pytest.raises(PermissionDenied):  # a leader's decision
        await perform(world.rules, case.id, "uphold", world.handler, note="x")
    kept, event = await perform(
        world.rules, case.id, "uphold", world.leader, note="处理符合规定,已向您说明依据。"
    )
    assert kept.status == Status.CLOSED
    assert await Notice.exists(event_id=event.id, kind="upheld")
    assert (await Survey.get(id=survey.id)).reviewed_at is not None
    assert await review_queue() == []


async def test_reopening_before_an_answer_cancels_the_invitation(world: World) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    await perform(
        world.rules, case.id, "reopen", world.leader, note="发现新情况", now=BEFORE_HOLIDAY
    )
    survey = await Survey.get(case_id=case.id)
    assert survey.status == SurveyStatus.CANCELLED
    invitation = await Notice.get(case_id=case.id, kind="survey")
    assert invitation.status == NoticeStatus.FAILED and "reopened" in invitation.last_error
    assert not await CaseEvent.exists(case_id=case.id, action="notice_failed")


async def test_a_telephone_return_visit_answers_the_survey_with_every_dimension(
    world: World,
) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    survey = await Survey.get(case_id=case.id)
    await close_unanswered(survey.closes_at)  # the citizen never answered: staff call back
    visit = {"overall": "basic", "timeliness": "satisfied", "attitude": "basic"}
    visit["result"] = "dissatisfied"
    late = survey.closes_at + timedelta(days=2)
    await perform(
        world.rules, case.id, "return_visit", world.intake, note="电话回访", data=visit, now=late
    )
    rating = await Rating.get(case_id=case.id)
    assert rating.source == "return_visit" and rating.overall == "basic"
    assert rating.scores == {
        "timeliness": "satisfied",
        "attitude": "basic",
        "result": "dissatisfied",
    }
    after = await Survey.get(id=survey.id)
    assert after.status == SurveyStatus.ANSWERED and after.needs_review  # 结果不满意
    assert [c.id for c in await review_queue()] == [case.id]
    rate = await CaseEvent.get(case_id=case.id, action="rate")
    assert rate.actor_kind == "staff" and "办理结果:不满意" in rate.note
    # A second visit may add notes, not a second verdict.
    with pytest.raises(TransitionNotAllowed, match="已经评价"):
        await perform(
            world.rules,
            case.id,
            "return_visit",
            world.intake,
            note="再次回访",
            data={"overall": "satisfied"},
            now=late,
        )
    await perform(world.rules, case.id, "return_visit", world.intake, note="再次回访", now=late)
    assert await Rating.filter(case_id=case.id).count() == 1


async def test_a_return_visit_after_the_citizen_answered_keeps_their_verdict(world: World) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    survey = await Survey.get(case_id=case.id)
    await answer_survey(
        world.rules, case, {"overall": "satisfied"}, "mini_program", survey.invite_at
    )
    with pytest.raises(TransitionNotAllowed):
        await perform(
            world.rules,
            case.id,
            "return_visit",
            world.intake,
            note="电话回访",
            data={"overall": "dissatisfied"},
        )
    assert (await Rating.get(case_id=case.id)).overall == "satisfied"
    assert not await CaseEvent.exists(case_id=case.id, action="return_visit")  # rolled back


async def test_a_return_visit_with_a_bad_level_is_refused(world: World) -> None:
    case = await closed_case(world, BEFORE_HOLIDAY)
    with pytest.raises(ValidationError):
        await perform(
            world.rules,
            case.id,
            "return_visit",
            world.intake,
            note="电话回访",
            data={"overall": "great"},
        )
    assert not await Rating.exists(case_id=case.id)
