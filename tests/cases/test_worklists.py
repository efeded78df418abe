"""The worklist: countdown texts, due-time display, the keyset cursor, and a list's order and
pages on the store (`worklist_page`, as the staff console and API call it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.errors import ValidationError
from cases.rules import Rules
from cases.store.models import Case, Status
from cases.views.worklists import MAX_CASE_ID, Cursor, Filters, countdown, worklist_page
from cases.workflow.deadlines import WorkCalendar, YearTable, due_text
from cases.workflow.timeline import Actor
from tests.factories import department_id, make_case, make_staff

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


async def listed(rules: Rules, actor: Actor, now: datetime, size: int) -> list[int]:
    """Every case id of the actor's list, page by page along the cursor as a link carries it."""
    ids: list[int] = []
    after = None
    for _ in range(20):
        page = await worklist_page(rules, actor, Filters(), now, after=after, size=size)
        assert len(page.cases) <= size
        ids += [c.id for c in page.cases]
        if page.next is None:
            return ids
        after = Cursor.decode(page.next.encode())
    raise AssertionError("the cursor never ended")


async def test_a_list_is_earliest_due_first_and_pages_by_keyset(store: Rules) -> None:
    base = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    cases = [await make_case(store, now=base + timedelta(hours=i)) for i in range(5)]
    # Filed the same day, all five are due at the same midnight: give them other due times,
    # in an order unlike their ids, and two the same (the id breaks the tie) where pages of
    # three split them, so a cursor that skipped or repeated tied rows would show.
    for case, days in zip(cases, (3, 2, 4, 3, 1), strict=True):
        await Case.filter(id=case.id).update(next_due_at=base + timedelta(days=days))
    expected = [cases[i].id for i in (4, 1, 0, 3, 2)]
    intake = await make_staff("intake", "centre")
    now = base + timedelta(hours=5)

    first = await worklist_page(store, intake, Filters(), now, size=3)
    assert [c.id for c in first.cases] == expected[:3] and first.next is not None
    rest = await worklist_page(store, intake, Filters(), now, after=first.next, size=3)
    assert [c.id for c in rest.cases] == expected[3:] and rest.next is None
    seen = [c.id for c in first.cases + rest.cases]
    assert sorted(seen) == sorted(c.id for c in cases) and len(set(seen)) == 5
    dues = [(c.next_due_at, c.id) for c in first.cases + rest.cases]
    assert dues == sorted(dues)
    for size in (1, 2, 5, 6):
        assert await listed(store, intake, now, size) == expected, size
    closed = await worklist_page(store, intake, Filters(status=Status.CLOSED), now)
    assert closed.cases == [] and closed.next is None


async def test_a_units_list_holds_only_its_own_cases(store: Rules) -> None:
    base = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    cases = [await make_case(store, now=base + timedelta(hours=i)) for i in range(3)]
    # Received by the consumer unit itself (首诉负责制): on its list while still submitted.
    await Case.filter(id=cases[1].id).update(department_id=await department_id("consumer"))
    now = base + timedelta(hours=5)
    consumer = await make_staff("handler", "consumer")
    food = await make_staff("handler", "food")
    intake = await make_staff("intake", "centre")
    assert await listed(store, consumer, now, 2) == [cases[1].id]
    assert await listed(store, food, now, 2) == []
    assert await listed(store, intake, now, 2) == [c.id for c in cases]
