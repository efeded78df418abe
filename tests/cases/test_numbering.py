"""Case numbers: unique under 200 simultaneous filings, dated in Shanghai, sortable."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from cases.rules import Rules
from cases.store.models import Case
from cases.store.numbering import format_case_number
from tests.factories import make_case, make_citizen


async def test_200_concurrent_filings_get_200_distinct_numbers(store: Rules) -> None:
    citizens = [await make_citizen() for _ in range(200)]
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    cases = await asyncio.gather(*(make_case(store, citizen=c, now=now) for c in citizens))
    numbers = [c.number for c in cases]
    assert len(set(numbers)) == 200
    assert sorted(int(n[-5:]) for n in numbers) == list(range(1, 201))
    assert await Case.all().count() == 200


async def test_number_uses_the_local_date(store: Rules) -> None:
    # 2026-11-23 17:30 UTC is already 24 November in Shanghai.
    case = await make_case(store, now=datetime(2026, 11, 23, 17, 30, tzinfo=UTC))
    assert case.number.startswith("TS20261124")


async def test_kinds_share_the_day_sequence(store: Rules) -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    first = await make_case(store, now=now)
    second = await make_case(store, now=now, kind="report", category="price")
    assert (first.number, second.number) == ("TS2026112300001", "JB2026112300002")


@given(
    day1=st.dates(date(2020, 1, 1), date(2099, 12, 31)),
    day2=st.dates(date(2020, 1, 1), date(2099, 12, 31)),
    seq1=st.integers(1, 99999),
    seq2=st.integers(1, 99999),
)
def test_numbers_sort_by_date_then_sequence(day1: date, day2: date, seq1: int, seq2: int) -> None:
    a = format_case_number("TS", day1, seq1, 5)
    b = format_case_number("TS", day2, seq2, 5)
    assert (a < b) == ((day1, seq1) < (day2, seq2))
