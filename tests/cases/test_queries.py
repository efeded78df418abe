"""Monthly counts in local months."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cases.rules import Rules
from cases.views.queries import monthly_counts
from tests.factories import make_case


async def test_monthly_counts_use_local_months(store: Rules) -> None:
    # 2026-10-31 16:30 UTC is 1 November 00:30 in Shanghai.
    await make_case(store, now=datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    await make_case(store, now=datetime(2026, 10, 31, 15, 30, tzinfo=UTC))
    await make_case(store, now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC), category="food")
    november = await monthly_counts(date(2026, 11, 1), store.timezone)
    assert november == {("consumer", "submitted"): 1, ("food", "submitted"): 1}
    october = await monthly_counts(date(2026, 10, 1), store.timezone)
    assert october == {("consumer", "submitted"): 1}
