"""Each rate's formula on a hand-built month of cases with known answers; counts, hot spots,
time series and the overdue list (SQLite and PostgreSQL via the `store` fixture)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from cases.rules import Rules
from cases.store.models import Case, CaseClock, Department, Rating
from cases.views import stats
from cases.views.stats import Period
from cases.workflow.engine import perform
from cases.workflow.surveys import answer_survey
from tests.factories import make_case, make_staff, perform_approved

DAY2 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
OTHER = "好又多生鲜店"


class Month:
    """November 2026, built through the real workflow (times set with `now`).

    A, B, G: accepted, assigned, started, replied and closed on 2 Nov; B was started three days
    after its assignment (late response) and its handling clock is made late by hand; rated
    satisfied (A), basically satisfied (B), dissatisfied (G); found: mediated (A), filed as a
    case (B), mediation failed (G).
    C: accepted late (20 Nov), assigned, never started (no response, overdue).
    D: rejected as a repeat of a closed case. E: filed 10 Nov, undecided, flagged duplicate of A.
    F: filed 31 Oct 23:30 local (October), rated in October.
    """

    async def build(self, rules: Rules) -> Month:
        self.rules = rules
        self.intake = await make_staff("intake", "centre")
        self.handler = await make_staff("handler", "consumer")
        self.a = await self.closed(DAY2)
        self.b = await self.closed(DAY2, start_after=timedelta(days=3), finding="case_filed")
        self.g = await self.closed(DAY2, finding="mediation_failed")
        late = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
        self.c = await make_case(rules, now=DAY2, respondent_name=OTHER)
        await self.act(self.c, "accept", self.intake, late)
        await self.act(self.c, "assign", self.intake, late, data={"department": "consumer"})
        self.d = await make_case(rules, now=DAY2, respondent_name=OTHER, category="food")
        await self.act(
            self.d,
            "reject",
            self.intake,
            DAY2,
            note="已处理",
            data={"reason_code": "duplicate_closed"},
        )
        self.e = await make_case(rules, now=datetime(2026, 11, 10, 2, 0, tzinfo=UTC))
        await Case.filter(id=self.e.id).update(duplicate_of_id=self.a.id)
        self.f = await make_case(rules, now=datetime(2026, 10, 31, 15, 30, tzinfo=UTC))
        # B's handling clock stopped after its due time.
        clock = await CaseClock.get(case_id=self.b.id, name="handling")
        await CaseClock.filter(id=clock.id).update(due_at=clock.stopped_at - timedelta(hours=1))
        for case, overall, at in (
            (self.a, "satisfied", DAY2 + timedelta(days=5)),
            (self.b, "basic", DAY2 + timedelta(days=5)),
            (self.g, "dissatisfied", DAY2 + timedelta(days=6)),
            (self.f, "satisfied", datetime(2026, 10, 31, 1, 0, tzinfo=UTC)),
        ):
            rating = await Rating.create(case_id=case.id, overall=overall, source="test")
            await Rating.filter(id=rating.id).update(created_at=at)
        return self

    async def act(self, case: Case, action: str, actor: Any, now: datetime, **kw: Any) -> Case:
        case, _ = await perform_approved(self.rules, case.id, action, actor, now=now, **kw)
        return case

    async def closed(
        self, at: datetime, start_after: timedelta = timedelta(0), finding: str = "mediated"
    ) -> Case:
        case = await make_case(self.rules, now=at)
        await self.act(case, "accept", self.intake, at)
        await self.act(case, "assign", self.intake, at, data={"department": "consumer"})
        started = at + start_after
        await self.act(case, "start", self.handler, started)
        await self.act(case, "reply", self.handler, started, note="经核查,商家已同意退货。")
        return await self.act(case, "close", self.intake, started, data={"finding": finding})


NOVEMBER = date(2026, 11, 1)


def assert_rate(rate: stats.Rate, numerator: int, denominator: int) -> None:
    assert (rate.numerator, rate.denominator) == (numerator, denominator), rate
    assert rate.formula.startswith(rate.name + " = ")


async def test_each_rate_on_a_hand_built_month(store: Rules) -> None:
    await Month().build(store)
    period = Period.month(NOVEMBER, store.timezone)
    assert_rate(await stats.acceptance_rate(period), 4, 5)  # A B C G of A B C D G
    # On time: A B G accepted, D rejected; late: C accepted on 20 Nov, and E and F whose
    # acceptance clocks ran out in November with no decision.
    assert_rate(await stats.on_time_acceptance_rate(period), 4, 7)
    assert_rate(await stats.closure_rate(period), 3, 4)  # C still open
    assert_rate(await stats.on_time_closure_rate(period), 2, 3)  # B late
    assert_rate(await stats.response_rate(period), 2, 4)  # B late, C never started
    assert_rate(await stats.satisfaction_rate(period), 2, 3)  # F's October rating not counted
    assert_rate(await stats.repeat_complaint_rate(period), 2, 6)  # D rejected, E flagged
    assert_rate(await stats.case_filing_rate(period), 1, 4)  # B of the accepted A B C G
    assert_rate(await stats.mediation_success_rate(period), 1, 2)  # A of A G
    assert_rate(await stats.substantiation_rate(period), 0, 0)  # no reports
    rate = await stats.closure_rate(period)
    assert rate.value == 0.75 and rate.display() == "75.0%"


async def test_rates_without_data_say_so(store: Rules) -> None:
    period = Period.month(NOVEMBER, store.timezone)
    rates = {r.key: r for r in await stats.all_rates(period)}
    assert len(rates) == 12
    assert not rates["resolution"].has_data and rates["resolution"].value is None
    assert rates["resolution"].display() == "无数据" and rates["resolution"].note
    # An empty month: nothing to divide by is "—", not 0% and not 无数据.
    for key in ("closure", "substantiation", "case_filing", "mediation"):
        assert rates[key].has_data and rates[key].display() == "—"


async def test_rates_for_one_unit_and_by_unit(store: Rules) -> None:
    await Month().build(store)
    period = Period.month(NOVEMBER, store.timezone)
    consumer = (await Department.get(code="consumer")).id
    food = (await Department.get(code="food")).id
    assert_rate(await stats.closure_rate(period, consumer), 3, 4)
    assert_rate(await stats.closure_rate(period, food), 0, 0)
    by_unit = await stats.rates_by_unit(period)
    assert set(by_unit) == {consumer}
    got = {k: (r.numerator, r.denominator) for k, r in by_unit[consumer].items()}
    assert got == {
        "closure": (3, 4),
        "on_time_closure": (2, 3),
        "response": (2, 4),
        "satisfaction": (2, 3),
    }


async def test_counts_hot_spots_and_series(store: Rules) -> None:
    await Month().build(store)
    period = Period.month(NOVEMBER, store.timezone)
    assert await stats.counts_by("category", period) == {"consumer": 5, "food": 1}
    assert await stats.counts_by("kind", period) == {"complaint": 6}
    assert await stats.counts_by("channel", period) == {"official_account": 6}
    consumer = (await Department.get(code="consumer")).id
    assert await stats.counts_by("unit", period) == {consumer: 4, None: 2}
    assert await stats.count_filed(period) == 6
    top = await stats.top_respondents(period)
    assert [(t.label, t.count) for t in top] == [("城东便民超市", 4), (OTHER, 2)]

    spots = await stats.hot_spots(
        "respondent", period, Period.month(date(2026, 10, 1), store.timezone)
    )
    assert [(s.label, s.current, s.previous, s.rise) for s in spots] == [
        ("城东便民超市", 4, 1, 3),
        (OTHER, 2, 0, 2),
    ]
    cats = await stats.hot_spots(
        "category", period, Period.month(date(2026, 10, 1), store.timezone)
    )
    assert [(s.key, s.rise) for s in cats] == [("consumer", 4), ("food", 1)]

    days = await stats.time_series(period, "day", store.timezone)
    assert len(days) == 30 and sum(b.count for b in days) == 6
    assert {b.label: b.count for b in days if b.count} == {"2026-11-02": 5, "2026-11-10": 1}
    weeks = await stats.time_series(period, "week", store.timezone)
    # 1 Nov 2026 is a Sunday: the first bucket is that one day.
    assert [(b.start.date().isoformat(), b.count) for b in weeks] == [
        ("2026-11-01", 0),
        ("2026-11-02", 5),
        ("2026-11-09", 1),
        ("2026-11-16", 0),
        ("2026-11-23", 0),
        ("2026-11-30", 0),
    ]
    year = Period(datetime(2026, 1, 1, tzinfo=store.timezone), period.end)
    months = await stats.time_series(year, "month", store.timezone)
    assert [b.count for b in months][-2:] == [1, 6] and len(months) == 11


async def test_overdue_list(store: Rules) -> None:
    world = await Month().build(store)
    as_of = datetime(2026, 12, 1, tzinfo=UTC)
    overdue = await stats.overdue_cases(as_of)
    numbers = [o.number for o in overdue]
    assert world.c.number in numbers and world.e.number in numbers
    assert world.a.number not in numbers
    assert [o.due_at for o in overdue] == sorted(o.due_at for o in overdue)
    assert all(o.due_at < as_of for o in overdue)
    by_unit = await stats.overdue_by_unit(as_of)
    assert sum(by_unit.values()) == len(overdue)


async def test_substantiation_counts_reports_with_a_conclusion(store: Rules) -> None:
    month = Month()
    month.rules = store
    month.intake = await make_staff("intake", "centre")
    month.handler = await make_staff("handler", "consumer")
    for finding in ("substantiated", "partly_substantiated", "unsubstantiated", "case_filed"):
        case = await make_case(store, now=DAY2, kind="report", anonymous=True)
        await month.act(case, "accept", month.intake, DAY2)
        await month.act(case, "assign", month.intake, DAY2, data={"department": "consumer"})
        await month.act(case, "start", month.handler, DAY2)
        await month.act(case, "reply", month.handler, DAY2, note="经核查,已依法处理。")
        await month.act(case, "close", month.intake, DAY2, data={"finding": finding})
    period = Period.month(NOVEMBER, store.timezone)
    # 属实, 部分属实 and 转立案 are substantiated; 查无实据 is concluded but not.
    assert_rate(await stats.substantiation_rate(period), 3, 4)
    assert_rate(await stats.mediation_success_rate(period), 0, 0)
    assert_rate(await stats.case_filing_rate(period), 0, 0)  # reports are not complaints


async def test_a_clock_that_ran_out_in_the_period_is_judged_even_while_still_running(
    store: Rules,
) -> None:
    intake = await make_staff("intake", "centre")
    month = Period.month(NOVEMBER, store.timezone)
    # X: filed Monday 2 Nov, never decided: acceptance due by the end of Wednesday 11 Nov.
    await make_case(store, now=DAY2)
    # Y: waiting for the citizen's supplement since 3 Nov: its clock is paused, not judged.
    y = await make_case(store, now=DAY2)
    await perform(store, y.id, "request_info", intake, note="请补充购物凭证", now=DAY2)
    # Z: rejected on 20 Nov, after its 11 Nov deadline: a late rejection is late.
    z = await make_case(store, now=DAY2)
    late = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    await perform_approved(
        store, z.id, "reject", intake, note="超时效", now=late, data={"reason_code": "time_barred"}
    )
    # W: accepted 1 Sep; its 60-day handling clock ends Saturday 31 Oct, so Monday 2 Nov
    # (民法典 第二百零三条), and it is still running.
    w = await make_case(store, now=datetime(2026, 9, 1, 2, 0, tzinfo=UTC))
    await perform(store, w.id, "accept", intake, now=datetime(2026, 9, 1, 3, 0, tzinfo=UTC))

    before_due = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
    assert_rate(await stats.on_time_acceptance_rate(month, now=before_due), 0, 0)
    after = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert_rate(await stats.on_time_acceptance_rate(month, now=after), 0, 2)  # X and Z
    assert_rate(await stats.on_time_closure_rate(month, now=after), 0, 1)  # W
    october = Period.month(date(2026, 10, 1), store.timezone)
    assert_rate(await stats.on_time_closure_rate(october, now=after), 0, 0)
    consumer_unit_free = await stats.rates_by_unit(month, after)
    assert (
        consumer_unit_free[None]["on_time_closure"].numerator,
        consumer_unit_free[None]["on_time_closure"].denominator,
    ) == (0, 1)


async def test_satisfaction_counts_accepted_complaints_and_participation_stands_beside_it(
    store: Rules,
) -> None:
    await Month().build(store)
    period = Period.month(NOVEMBER, store.timezone)
    # A suggestion rated in November: not a complaint, so not in 满意率.
    suggestion = await make_case(store, now=DAY2, kind="suggestion", category="other")
    rating = await Rating.create(case_id=suggestion.id, overall="dissatisfied", source="test")
    await Rating.filter(id=rating.id).update(created_at=DAY2 + timedelta(days=5))
    assert_rate(await stats.satisfaction_rate(period), 2, 3)  # A B of A B G, as before


async def test_participation_is_answers_over_invitations_sent(store: Rules) -> None:
    month = Month()
    month.rules = store
    month.intake = await make_staff("intake", "centre")
    month.handler = await make_staff("handler", "consumer")
    # Closed on Monday 2 Nov: each invitation goes out on Tuesday 3 Nov at 10:00.
    answered = await month.closed(DAY2)
    await month.closed(DAY2)  # never answered
    period = Period.month(NOVEMBER, store.timezone)
    after = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert_rate(await stats.participation_rate(period, now=after), 0, 2)
    await answer_survey(store, answered, {"overall": "satisfied"}, "test", DAY2 + timedelta(days=2))
    assert_rate(await stats.participation_rate(period, now=after), 1, 2)
    # Before the invitations went out nobody had been asked yet.
    assert_rate(await stats.participation_rate(period, now=DAY2 + timedelta(hours=1)), 0, 0)


async def test_a_merged_duplicate_is_a_repeat_complaint(store: Rules) -> None:
    intake = await make_staff("intake", "centre")
    first = await make_case(store, now=DAY2)
    again = await make_case(store, now=DAY2, respondent_name=OTHER)
    await perform(store, again.id, "merge", intake, now=DAY2, data={"into": first.number})
    assert_rate(await stats.repeat_complaint_rate(Period.month(NOVEMBER, store.timezone)), 1, 2)


async def test_the_response_rate_credits_the_unit_that_held_the_case(store: Rules) -> None:
    """A case the food unit returned in time, then assigned to the consumer unit, which started
    it three days late: food answered on time, consumer late, whatever unit holds it now."""
    month = Month()
    month.rules = store
    intake = await make_staff("intake", "centre")
    food = await make_staff("handler", "food")
    consumer = await make_staff("handler", "consumer")
    case = await make_case(store, now=DAY2)
    await month.act(case, "accept", intake, DAY2)
    await month.act(case, "assign", intake, DAY2, data={"department": "food"})
    back = DAY2 + timedelta(hours=2)
    await month.act(case, "return", food, back, note="不属本科室职责")
    await month.act(case, "accept", intake, back)
    await month.act(case, "assign", intake, back, data={"department": "consumer"})
    await month.act(case, "start", consumer, back + timedelta(days=3))

    period = Period.month(NOVEMBER, store.timezone)
    units = {d.code: d.id for d in await Department.all()}
    by_unit = await stats.rates_by_unit(period)
    assert_rate(by_unit[units["food"]]["response"], 1, 1)
    assert_rate(by_unit[units["consumer"]]["response"], 0, 1)
    assert_rate(await stats.response_rate(period, units["food"]), 1, 1)
    assert_rate(await stats.response_rate(period), 1, 2)
    with stats.shared_counts():
        await stats.rates_by_unit(period)
        assert_rate(await stats.response_rate(period, units["consumer"]), 0, 1)
