"""The worklist's pure parts: countdown texts, due-time display, the keyset cursor."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.errors import ValidationError
from cases.views.worklists import MAX_CASE_ID, Cursor, countdown
from cases.workflow.deadlines import WorkCalendar, YearTable, due_text

SH = ZoneInfo("Asia/Shanghai")
# 2031 as a complete table: Monday–Friday, with Wednesday 5 March made a holiday.
CALENDAR = WorkCalendar(
    timezone=SH, overrides={2031: YearTable(holidays=frozenset({date(2031, 3, 5)}))}
)
MONDAY_10AM = datetime(2031, 3, 3, 10, tzinfo=SH)


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SH) + timedelta(days=1)


@pytest.mark.parametrize(
    ("unit", "due", "expected"),
    [
        # Tuesday and Thursday count; the Wednesday holiday and the rest of today do not.
        ("working_days", end_of(date(2031, 3, 6)), "剩 2 个工作日"),
        ("working_days", end_of(date(2031, 3, 10)), "剩 4 个工作日"),  # over the weekend
        ("working_days", end_of(date(2031, 3, 3)), "剩 14 小时"),  # ends tonight
        ("natural_days", MONDAY_10AM + timedelta(days=2, hours=5), "剩 2 天"),
        ("hours", MONDAY_10AM + timedelta(minutes=59, seconds=59), "剩 59 分钟"),
        ("minutes", MONDAY_10AM + timedelta(seconds=20), "剩 1 分钟"),
        ("working_days", MONDAY_10AM - timedelta(days=3, hours=2), "已超期 3 天"),
        ("hours", MONDAY_10AM - timedelta(hours=5, minutes=59), "已超期 5 小时"),
        ("hours", MONDAY_10AM, "已超期 1 分钟"),  # due now is due
    ],
)
def test_countdown_speaks_in_the_clocks_unit(unit: str, due: datetime, expected: str) -> None:
    assert countdown(CALENDAR, unit, due, MONDAY_10AM) == expected


def test_a_day_deadline_shows_as_24_00_of_its_last_day() -> None:
    assert due_text(end_of(date(2031, 3, 6))) == "2031-03-06 24:00"
    assert due_text(datetime(2031, 3, 6, 14, 30, tzinfo=SH)) == "2031-03-06 14:30"


@given(
    st.one_of(
        st.none(),
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ),
    ),
    st.integers(min_value=1, max_value=MAX_CASE_ID),
)
def test_a_cursor_survives_the_query_string(due: datetime | None, case_id: int) -> None:
    cursor = Cursor(due, case_id)
    text = cursor.encode()
    assert Cursor.decode(text) == cursor
    assert text.replace(".", "").replace("n", "").isdigit()  # nothing to escape in a URL
    # An id the store cannot hold is refused in words, not passed on to the query.
    with pytest.raises(ValidationError, match="翻页参数无效"):
        Cursor.decode(Cursor(due, case_id + MAX_CASE_ID).encode())


@pytest.mark.parametrize("text", ["", "n", "1.x", "abc.5", "n.", "9" * 400 + ".1"])
def test_a_garbled_cursor_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Cursor.decode(text)
    assert exc.value.field == "cursor"
