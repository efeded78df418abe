"""Worklist order and keyset paging; monthly counts in local months."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cases.rules import Rules
from cases.store.models import Case, Status
from cases.views.queries import WorklistCursor, case_by_number, monthly_counts, worklist_page
from tests.factories import make_case


async def test_worklist_orders_by_due_time_and_pages_by_keyset(store: Rules) -> None:
    base = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    cases = [await make_case(store, now=base + timedelta(hours=i)) for i in range(5)]
    # Same due time for two cases: the id breaks the tie, so paging never skips or repeats.
    await Case.filter(id=cases[4].id).update(next_due_at=cases[0].next_due_at)
    first = await worklist_page(department_id=None, statuses=[Status.SUBMITTED], size=3)
    last = first[-1]
    assert last.next_due_at is not None
    rest = await worklist_page(
        department_id=None,
        statuses=[Status.SUBMITTED],
        size=3,
        after=WorklistCursor(last.next_due_at, last.id),
    )
    seen = [c.id for c in first + rest]
    assert sorted(seen) == sorted(c.id for c in cases) and len(set(seen)) == 5
    dues = [(c.next_due_at, c.id) for c in first + rest]
    assert dues == sorted(dues)
    assert await worklist_page(department_id=None, statuses=[Status.CLOSED]) == []


async def test_case_by_number(store: Rules) -> None:
    case = await make_case(store)
    found = await case_by_number(case.number)
    assert found is not None and found.id == case.id
    assert await case_by_number("TS0000") is None


async def test_monthly_counts_use_local_months(store: Rules) -> None:
    # 2026-10-31 16:30 UTC is 1 November 00:30 in Shanghai.
    await make_case(store, now=datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    await make_case(store, now=datetime(2026, 10, 31, 15, 30, tzinfo=UTC))
    await make_case(store, now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC), category="food")
    november = await monthly_counts(date(2026, 11, 1), store.timezone)
    assert november == {("consumer", "submitted"): 1, ("food", "submitted"): 1}
    october = await monthly_counts(date(2026, 10, 1), store.timezone)
    assert october == {("consumer", "submitted"): 1}
