"""Satisfaction surveys after closure: scheduled with the close, answered once, closed
unanswered when the window ends, and 不满意 with the result sent to a leader's review.

The invitation is an ordinary notice in the outbox whose send time is the invitation time, so
it reaches the citizen by the channel they used and is retried like every other notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from cases.errors import TransitionNotAllowed
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Notice, NoticeStatus, Rating, Survey, SurveyStatus
from cases.workflow.ratings import AlreadyRated, rate_case
from cases.workflow.timeline import CITIZEN, Actor, queue_notice, record_event

DISSATISFIED = "dissatisfied"
RETURN_VISIT = "return_visit"  # the rating's source when staff recorded it by telephone
DAY = timedelta(days=1)


def invitation_time(rules: Rules, closed_at: datetime) -> datetime:
    """The configured working day after the closure (not counting the day itself), at the
    configured local hour."""
    scale = rules.survey
    day = closed_at.astimezone(rules.timezone).date()
    for _ in range(scale.invite_after_working_days):
        day = rules.calendar.next_workday(day + DAY)
    local = datetime.combine(day, time(scale.invite_hour), tzinfo=rules.timezone)
    return max(local.astimezone(UTC), closed_at)


async def schedule_survey(
    rules: Rules, case: Case, close_event: CaseEvent, conn: BaseDBAsyncClient
) -> Survey:
    """Called in the closing transaction: the survey row and its invitation notice."""
    closure = await CaseEvent.filter(case_id=case.id, action="close").using_db(conn).count()
    invite_at = invitation_time(rules, close_event.at)
    scale = rules.survey
    survey = await Survey.create(
        case_id=case.id,
        closure=closure,
        invite_at=invite_at,
        closes_at=invite_at + timedelta(days=scale.answer_within_days),
        using_db=conn,
    )
    await queue_notice(rules, case, close_event, "survey", invite_at, conn)
    return survey


async def invited_survey_case(citizen_id: int, now: datetime) -> Case | None:
    """The citizen's case whose survey invitation has gone out and whose window is open (the
    latest invited, if several): the one a chat reply such as "1" answers."""
    survey = (
        await Survey.filter(
            case__citizen_id=citizen_id,
            status=SurveyStatus.SCHEDULED,
            invite_at__lte=now,
            closes_at__gt=now,
        )
        .order_by("-invite_at")
        .first()
    )
    return None if survey is None else await Case.get(id=survey.case_id)


async def answered_survey_case(citizen_id: int, now: datetime) -> Case | None:
    """The citizen's case whose survey they have answered while its window is still open
    (a second answer in the chat is thanked, not taken)."""
    survey = (
        await Survey.filter(
            case__citizen_id=citizen_id, status=SurveyStatus.ANSWERED, closes_at__gt=now
        )
        .order_by("-answered_at")
        .first()
    )
    return None if survey is None else await Case.get(id=survey.case_id)


async def invite_now(now: datetime | None = None) -> int:
    """Demo mode's 快进: every invitation still waiting for its working day becomes due now,
    its answer window moved with it; returns how many. Only the demo simulator calls this (a
    real invitation waits for the configured day, however long that is)."""
    now = now or datetime.now(UTC)
    waiting = await Survey.filter(status=SurveyStatus.SCHEDULED, invite_at__gt=now)
    async with in_transaction() as conn:
        for survey in waiting:
            early = survey.invite_at - now
            await (
                Survey.filter(id=survey.id, status=SurveyStatus.SCHEDULED)
                .using_db(conn)
                .update(invite_at=now, closes_at=survey.closes_at - early)
            )
            await (
                Notice.filter(case_id=survey.case_id, kind="survey", status=NoticeStatus.PENDING)
                .using_db(conn)
                .update(next_attempt_at=now)
            )
    return len(waiting)


async def cancel_open_survey(case: Case, now: datetime, conn: BaseDBAsyncClient) -> None:
    """The case is reopened: its survey and a not yet sent invitation no longer apply."""
    await (
        Survey.filter(case_id=case.id, status=SurveyStatus.SCHEDULED)
        .using_db(conn)
        .update(status=SurveyStatus.CANCELLED)
    )
    await (
        Notice.filter(case_id=case.id, kind="survey", status=NoticeStatus.PENDING)
        .using_db(conn)
        .update(status=NoticeStatus.FAILED, last_error=f"case reopened {now.isoformat()}")
    )


async def mark_reviewed(case: Case, now: datetime, conn: BaseDBAsyncClient) -> None:
    await (
        Survey.filter(case_id=case.id, needs_review=True, reviewed_at__isnull=True)
        .using_db(conn)
        .update(reviewed_at=now)
    )


async def answer_survey(
    rules: Rules, case: Case, answer: Mapping[str, Any], source: str, now: datetime | None = None
) -> Rating:
    """Record the citizen's answer to the open survey; a late answer is refused politely.

    不满意 with the result (or overall, when only one verdict was given) puts the case in the
    leader's review queue.
    """
    now = now or datetime.now(UTC)
    survey = await _latest_survey(case)
    if survey is not None and (survey.status != SurveyStatus.SCHEDULED or now >= survey.closes_at):
        if survey.status == SurveyStatus.ANSWERED:
            raise AlreadyRated("您已评价过这次办理,感谢您的反馈。", field="overall")
        raise TransitionNotAllowed("这次办理的评价已经截止,感谢您的关注。", field="overall")
    citizen = Actor(kind=CITIZEN, id=case.citizen_id, name="来件人", role=CITIZEN)
    return await _record_answer(rules, case, survey, answer, source, citizen, now)


async def record_return_visit(
    rules: Rules, case: Case, answer: Mapping[str, Any], staff: Actor, now: datetime
) -> Rating:
    """A telephone return visit (回访) with the survey's scale, recorded by staff.

    It answers this closure's survey when the citizen has not, also after the survey window
    (calling back those who did not answer is what return visits are for).
    """
    survey = await _latest_survey(case)
    if survey is not None and survey.status == SurveyStatus.ANSWERED:
        raise AlreadyRated("市民已经评价过这次办理,回访情况请只写在说明里。", field="overall")
    return await _record_answer(rules, case, survey, answer, RETURN_VISIT, staff, now)


async def _latest_survey(case: Case) -> Survey | None:
    return await Survey.filter(case_id=case.id).order_by("-closure").first()


async def _record_answer(
    rules: Rules,
    case: Case,
    survey: Survey | None,
    answer: Mapping[str, Any],
    source: str,
    actor: Actor,
    now: datetime,
) -> Rating:
    rating = await rate_case(rules, case, answer, source)
    result = rating.scores.get("result", rating.overall)
    if survey is not None:
        await Survey.filter(id=survey.id).update(
            status=SurveyStatus.ANSWERED, answered_at=now, needs_review=result == DISSATISFIED
        )
    # On the staff timeline, so the handling unit sees how the citizen judged it.
    scale = rules.survey
    parts = [f"总体:{scale.levels[rating.overall]}"] + [
        f"{scale.dimensions[d]}:{scale.levels[v]}" for d, v in rating.scores.items()
    ]
    await record_event(
        case,
        "rate",
        actor,
        now,
        None,
        note=";".join(parts) + (f"。意见:{rating.comment}" if rating.comment else ""),
        data={"rating": rating.id, "source": source, "needs_review": result == DISSATISFIED},
        public=False,
    )
    return rating


async def close_unanswered(now: datetime | None = None) -> int:
    """Surveys whose window has ended without an answer: recorded as unanswered."""
    now = now or datetime.now(UTC)
    return await Survey.filter(status=SurveyStatus.SCHEDULED, closes_at__lte=now).update(
        status=SurveyStatus.UNANSWERED
    )


async def review_queue() -> list[Case]:
    """Closed cases whose citizen was dissatisfied with the result, oldest answer first."""
    pending = await Survey.filter(needs_review=True, reviewed_at__isnull=True).order_by(
        "answered_at"
    )
    ids = [s.case_id for s in pending]
    cases = {c.id: c for c in await Case.filter(id__in=ids)}
    return [cases[i] for i in ids if i in cases]
