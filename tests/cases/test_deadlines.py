"""Working-day arithmetic on China's official calendar (2026: 春节 and 国庆 with 调休 days)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.workflow.deadlines import (
    WorkCalendar,
    YearTable,
    clock_state,
    compute_due,
    load_year_tables,
)

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=SH)


def end_of(y: int, m: int, d: int) -> datetime:
    """The midnight that ends the given local day."""
    return datetime(y, m, d, tzinfo=SH) + timedelta(days=1)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar(timezone=SH)


def test_adjusted_saturday_before_spring_festival_counts(cal: WorkCalendar) -> None:
    # 2026-02-14 is a Saturday made a working day (调休) before the 15–23 Feb holiday.
    assert cal.is_workday(date(2026, 2, 14))
    assert compute_due(at(2026, 2, 13), 1, "working_days", cal) == end_of(2026, 2, 14)


def test_seven_working_days_across_spring_festival(cal: WorkCalendar) -> None:
    # Counted: 14 Feb (Sat, 调休), 24, 25, 26, 27 Feb, 28 Feb (Sat, 调休), 2 Mar.
    assert compute_due(at(2026, 2, 13), 7, "working_days", cal) == end_of(2026, 3, 2)


def test_national_day_holiday_is_skipped(cal: WorkCalendar) -> None:
    for day in range(1, 8):
        assert not cal.is_workday(date(2026, 10, day))
    assert compute_due(at(2026, 9, 30), 1, "working_days", cal) == end_of(2026, 10, 8)


def test_adjusted_sunday_before_national_day_counts(cal: WorkCalendar) -> None:
    # 2026-09-20 is a Sunday made a working day; filed on Saturday 19th it is day one.
    assert cal.is_workday(date(2026, 9, 20))
    assert compute_due(at(2026, 9, 19), 1, "working_days", cal) == end_of(2026, 9, 20)


def test_adjusted_saturday_after_national_day_counts(cal: WorkCalendar) -> None:
    # 8, 9 Oct (Thu, Fri), 10 Oct (Sat, 调休), 12 Oct (Mon).
    assert compute_due(at(2026, 9, 30), 4, "working_days", cal) == end_of(2026, 10, 12)


def test_filing_day_is_not_counted_for_natural_days(cal: WorkCalendar) -> None:
    assert compute_due(at(2026, 3, 2, 23, 59), 5, "natural_days", cal) == end_of(2026, 3, 7)


def test_natural_days_roll_over_a_holiday_only_when_asked(cal: WorkCalendar) -> None:
    # Day 5 after 26 Sep is 1 Oct (National Day): rolls to the first working day, 8 Oct.
    assert compute_due(at(2026, 9, 26), 5, "natural_days", cal) == end_of(2026, 10, 1)
    rolled = compute_due(at(2026, 9, 26), 5, "natural_days", cal, rollover_holidays=True)
    assert rolled == end_of(2026, 10, 8)


def test_minutes_and_hours_run_through_nights_and_holidays(cal: WorkCalendar) -> None:
    assert compute_due(at(2026, 10, 1, 23, 55), 10, "minutes", cal) == at(2026, 10, 2, 0, 5)
    assert compute_due(at(2026, 2, 16, 20), 24, "hours", cal) == at(2026, 2, 17, 20)


def test_2027_statutory_holidays_count_before_the_schedule_is_published(cal: WorkCalendar) -> None:
    # 元旦 and 春节 (除夕 to 初三) are holidays by law (《全国年节及纪念日放假办法》第二条).
    for day in (date(2027, 1, 1), *(date(2027, 2, d) for d in range(5, 9))):
        assert not cal.is_workday(day), day
    # 初一 and 初二 fall on Saturday and Sunday: 补假 on Tuesday 9 and Wednesday 10 (第六条).
    assert not cal.is_workday(date(2027, 2, 9)) and not cal.is_workday(date(2027, 2, 10))
    assert cal.is_workday(date(2027, 2, 11))
    # 29, 30, 31 Dec, then 1 Jan (元旦) and the weekend are skipped: 4, 5, 6, 7 Jan.
    assert compute_due(at(2026, 12, 28), 7, "working_days", cal) == end_of(2027, 1, 7)


def test_a_year_without_its_schedule_is_provisional() -> None:
    cal = WorkCalendar(timezone=SH, published=frozenset({2026}))
    assert cal.is_official(2026) and not cal.is_official(2027)
    assert cal.provisional_years([2026, 2027, 2027]) == [2027]
    due_2027 = compute_due(at(2026, 12, 28), 7, "working_days", cal)
    assert cal.is_provisional(due_2027, "working_days")
    assert not cal.is_provisional(end_of(2026, 12, 31), "working_days")
    # Hours and plain natural days do not depend on the calendar at all.
    assert not cal.is_provisional(due_2027, "hours")
    assert not cal.is_provisional(due_2027, "natural_days", rollover_holidays=False)
    assert cal.is_provisional(due_2027, "natural_days", rollover_holidays=True)
    # A day that ends at 24:00 on 31 Dec belongs to 2026, not to the provisional 2027.
    assert not cal.is_provisional(datetime(2027, 1, 1, tzinfo=SH), "working_days")


def test_the_installed_package_publishes_2026() -> None:
    # The 2026 schedule (国办发明电〔2025〕7号) is in every release we accept (holidays>=0.109).
    assert WorkCalendar(timezone=SH).is_official(2026)


def test_config_table_for_2027_makes_the_year_official(tmp_path: Path) -> None:
    table = tmp_path / "holidays.toml"
    table.write_text(
        '[years.2027]\nholidays = ["2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09"]\n'
        'workdays = ["2027-01-09"]\n',
        encoding="utf-8",
    )
    cal = WorkCalendar(timezone=SH, overrides=load_year_tables(table), published=frozenset())
    assert cal.is_official(2027)
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 1, 9))  # a Saturday made a working day
    # 29, 30, 31 Dec, 4, 5, 6, 7 Jan; the year view shows what the file says.
    assert compute_due(at(2026, 12, 28), 7, "working_days", cal) == end_of(2027, 1, 7)
    year = cal.year_calendar(2027)
    assert year.official and "2027-02-09" in {d.isoformat() for d in year.days_off}
    assert year.workdays == frozenset({date(2027, 1, 9)})


def test_a_holidays_file_with_a_day_of_another_year_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "holidays.toml"
    table.write_text('[years.2027]\nholidays = ["2026-01-01"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="2026-01-01"):
        load_year_tables(table)


def test_incomplete_override_falls_back_to_the_package() -> None:
    # A single correction for 2026 keeps the rest of the package's 2026 table.
    cal = WorkCalendar(
        timezone=SH,
        overrides={2026: YearTable(holidays=frozenset({date(2026, 3, 2)}), complete=False)},
    )
    assert not cal.is_workday(date(2026, 3, 2))
    assert cal.is_workday(date(2026, 2, 14))
    assert not cal.is_workday(date(2026, 10, 1))


def test_pause_on_a_working_day_moves_the_deadline(cal: WorkCalendar) -> None:
    start = at(2026, 3, 2)  # Monday; counting starts Tuesday
    plain = compute_due(start, 3, "working_days", cal)
    assert plain == end_of(2026, 3, 5)
    whole_day = [(datetime(2026, 3, 4, tzinfo=SH), datetime(2026, 3, 5, tzinfo=SH))]
    assert compute_due(start, 3, "working_days", cal, whole_day) == end_of(2026, 3, 6)
    half_day = [(at(2026, 3, 4, 0), at(2026, 3, 4, 12))]
    assert compute_due(start, 3, "working_days", cal, half_day) == at(2026, 3, 6, 12)


def test_pause_over_a_weekend_costs_nothing(cal: WorkCalendar) -> None:
    start = at(2026, 3, 5)  # Thursday; Fri, Mon, Tue count
    weekend = [(datetime(2026, 3, 7, tzinfo=SH), datetime(2026, 3, 9, tzinfo=SH))]
    assert compute_due(start, 3, "working_days", cal, weekend) == end_of(2026, 3, 10)
    assert compute_due(start, 3, "working_days", cal) == end_of(2026, 3, 10)


def test_pause_extends_an_hours_clock(cal: WorkCalendar) -> None:
    start = at(2026, 3, 5, 9)
    pause = [(at(2026, 3, 5, 10), at(2026, 3, 5, 10, 30))]
    assert compute_due(start, 2, "hours", cal, pause) == at(2026, 3, 5, 11, 30)


def test_unknown_unit_and_naive_start_are_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="unit"):
        compute_due(at(2026, 3, 5), 1, "fortnights", cal)
    with pytest.raises(ValueError, match="timezone"):
        compute_due(datetime(2026, 3, 5), 1, "hours", cal)


def test_clock_state_overdue_and_due_soon() -> None:
    start, due = at(2026, 3, 1), at(2026, 3, 11)
    assert not clock_state(start, due, at(2026, 3, 5), 0.2).due_soon
    assert clock_state(start, due, at(2026, 3, 9, 12), 0.2).due_soon
    late = clock_state(start, due, at(2026, 3, 11, 10, 1), 0.2)
    assert late.overdue and not late.due_soon


_starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2040, 6, 30)).map(
    lambda d: d.replace(tzinfo=SH)
)
_units = st.sampled_from(["minutes", "hours", "natural_days", "working_days"])


@given(start=_starts, amount=st.integers(1, 90), unit=_units)
def test_due_is_later_and_monotonic_in_amount(start: datetime, amount: int, unit: str) -> None:
    cal = WorkCalendar(timezone=SH)
    due = compute_due(start, amount, unit, cal)
    assert due > start
    assert compute_due(start, amount + 1, unit, cal) > due


@given(
    start=_starts,
    amount=st.integers(1, 30),
    unit=_units,
    offset=st.integers(0, 20 * 24 * 60),
    length=st.integers(1, 5 * 24 * 60),
)
def test_a_pause_never_brings_the_deadline_forward(
    start: datetime, amount: int, unit: str, offset: int, length: int
) -> None:
    cal = WorkCalendar(timezone=SH)
    p_start = start + timedelta(minutes=offset)
    pause = [(p_start, p_start + timedelta(minutes=length))]
    assert compute_due(start, amount, unit, cal, pause) >= compute_due(start, amount, unit, cal)
