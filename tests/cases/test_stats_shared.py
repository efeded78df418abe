"""`stats.shared_counts()`, as the monthly report uses it: once the unit rates are counted by
unit, the totals and one unit's figures come from those counts without another query, and
they are the figures a fresh query gives (SQLite and PostgreSQL via the `store` fixture)."""

from __future__ import annotations

from typing import Any

import pytest

from cases.rules import Rules
from cases.store.models import Department
from cases.views import stats
from cases.views.stats import Period
from tests.cases.test_stats import NOVEMBER, Month


def count_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    queries: list[str] = []
    rows = stats._Sql.rows

    async def counted(self: stats._Sql, sql: str, params: Any) -> list[dict[str, Any]]:
        queries.append(sql)
        return await rows(self, sql, params)

    monkeypatch.setattr(stats._Sql, "rows", counted)
    return queries


async def test_shared_unit_counts_give_the_same_figures(
    store: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    await Month().build(store)
    period = Period.month(NOVEMBER, store.timezone)
    consumer = (await Department.get(code="consumer")).id
    food = (await Department.get(code="food")).id
    units = (None, consumer, food)
    queries = count_queries(monkeypatch)

    alone = [await stats.all_rates(period, unit) for unit in units]
    alone_by_unit = await stats.rates_by_unit(period)
    per_call = (len(queries) - len(stats.UNIT_RATES)) // len(units)

    with stats.shared_counts():
        by_unit = await stats.rates_by_unit(period)
        queries.clear()
        shared = [await stats.all_rates(period, unit) for unit in units]
        assert len(queries) == len(units) * (per_call - len(stats.UNIT_RATES))
        assert await stats.rates_by_unit(period) == by_unit
        assert len(queries) == len(units) * (per_call - len(stats.UNIT_RATES))

    assert shared == alone and by_unit == alone_by_unit
    queries.clear()
    await stats.all_rates(period)  # outside the block every rate is queried again
    assert len(queries) == per_call
