"""Stats benchmark: one month's rates, per-unit table, counts, hot spots and series on SQLite.

Seeds N cases with bench_store's generator (same rows, raw SQL), then derives their clock runs
and ratings with INSERT ... SELECT: an acceptance clock for every accepted case, a handling and
a return-window clock for every assigned one, a rating for 60% of closed ones, with a share
late. Times `cases.views.report.build_monthly_report` (every figure of the monthly report) and
`cases.views.stats.all_rates` for the last complete month. Not part of CI:

    python -m tests.bench.bench_stats                  # 1,000,000 cases
    python -m tests.bench.bench_stats --cases 50000
    python -m tests.bench.bench_stats --db /tmp/stats.sqlite3   # seed once, reuse after
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from tortoise.backends.base.executor import EXECUTOR_CACHE

from cases.rules import Rules
from cases.store import db
from cases.views import stats
from cases.views.report import build_monthly_report
from cases.workflow.deadlines import WorkCalendar
from config.catalog import load_catalog
from config.survey import load_survey_scale
from tests.bench.bench_store import (
    PROFILE,
    TZ,
    SeedInfo,
    analyze_sqlite,
    generate,
    last_months,
    migrate_and_sync,
    seed_sqlite,
)

ROUNDS = 5
TARGET_MS = 1000.0

# Clock runs and ratings derived from the seeded cases (times as SQLite text, like tortoise's).
DERIVE = (
    # acceptance: started at filing, due 7 days later; ~10% accepted after the due time.
    """INSERT INTO case_clock (case_id, name, label, amount, unit, rollover_holidays, on_expiry,
        started_at, due_at, stopped_at, pauses, extensions_used, extended_by, expiry_handled)
    SELECT id, 'acceptance', '受理决定', 7, 'working_days', 0, '', created_at,
        CASE WHEN id % 10 = 0 THEN created_at ELSE datetime(created_at, '+7 days') || '+00:00' END,
        accepted_at, '[]', 0, 0, 0 FROM "case" WHERE accepted_at IS NOT NULL""",
    # handling: started at acceptance, stopped (replied) at closure; ~15% late.
    """INSERT INTO case_clock (case_id, name, label, amount, unit, rollover_holidays, on_expiry,
        started_at, due_at, stopped_at, pauses, extensions_used, extended_by, expiry_handled)
    SELECT id, 'handling', '办理', 60, 'natural_days', 1, '', accepted_at,
        CASE WHEN id % 7 = 0 THEN accepted_at ELSE datetime(accepted_at, '+60 days') || '+00:00' END,
        closed_at, '[]', 0, 0, 0 FROM "case" WHERE department_id IS NOT NULL
        AND accepted_at IS NOT NULL""",
    # return window: one per assignment; open ones still running, ~5% answered late.
    """INSERT INTO case_clock (case_id, name, label, amount, unit, rollover_holidays, on_expiry,
        started_at, due_at, stopped_at, pauses, extensions_used, extended_by, expiry_handled)
    SELECT id, 'return_window', '退回期限', 1, 'working_days', 0, '', accepted_at,
        datetime(accepted_at, '+1 day') || '+00:00',
        CASE WHEN status = 'assigned' THEN NULL WHEN id % 20 = 0
            THEN datetime(accepted_at, '+2 days') || '+00:00'
            ELSE datetime(accepted_at, '+2 hours') || '+00:00' END,
        '[]', 0, 0, 0 FROM "case" WHERE department_id IS NOT NULL AND accepted_at IS NOT NULL""",
    """INSERT INTO rating (case_id, closure, overall, scores, comment, source, created_at)
    SELECT id, 1, CASE id % 10 WHEN 0 THEN 'dissatisfied' WHEN 1 THEN 'basic' ELSE 'satisfied' END,
        '{}', '', 'survey', datetime(closed_at, '+3 days') || '+00:00'
    FROM "case" WHERE closed_at IS NOT NULL AND id % 5 < 3""",
)


def derive(path: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(path)) as con:
        for sql in DERIVE:
            con.execute(sql)
        con.commit()
        clocks = con.execute("SELECT COUNT(*) FROM case_clock").fetchone()[0]
        ratings = con.execute("SELECT COUNT(*) FROM rating").fetchone()[0]
    return clocks, ratings


def seeded_at(path: Path) -> tuple[datetime, int, int, int]:
    """A kept file's seeding time (its latest case update) and its cases, clocks, ratings."""
    with closing(sqlite3.connect(path)) as con:
        latest, n = con.execute('SELECT MAX(updated_at), COUNT(*) FROM "case"').fetchone()
        clocks = con.execute("SELECT COUNT(*) FROM case_clock").fetchone()[0]
        ratings = con.execute("SELECT COUNT(*) FROM rating").fetchone()[0]
    return datetime.fromisoformat(latest).astimezone(UTC), n, clocks, ratings


async def bench(n: int, keep: Path | None = None) -> int:
    catalog = load_catalog(PROFILE)
    rules = Rules(catalog=catalog, calendar=WorkCalendar(timezone=TZ), survey=load_survey_scale())
    now = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="cd_bench_stats_"))
    try:
        path = keep or tmp / "bench.sqlite3"
        url = f"sqlite://{path}"
        seeded: float | None = None
        if keep is not None and keep.exists():
            # Reuse: bring the schema up to date (new indexes) and time as of its seeding.
            print(f"reusing {keep}: migrating and analysing ...")
            await db.migrate_store(url)
            now, n, clocks, ratings = seeded_at(path)
        else:
            units = await migrate_and_sync(url, catalog)
            info = SeedInfo()
            seeded = seed_sqlite(path, generate(catalog, units, n, now, info), n, info)
            clocks, ratings = derive(path)
        analyze_sqlite(path)
        month = last_months(now, 1)[0]
        EXECUTOR_CACHE.clear()
        await db.open_store(url)
        try:
            period = stats.Period.month(month, TZ)
            await build_monthly_report(rules, month, now)  # warm the page cache
            report_ms, rates_ms, report_cpu, rates_cpu = [], [], [], []
            for _ in range(ROUNDS):
                started, cpu = time.perf_counter(), time.process_time()
                data = await build_monthly_report(rules, month, now)
                report_ms.append((time.perf_counter() - started) * 1000)
                report_cpu.append((time.process_time() - cpu) * 1000)
                started, cpu = time.perf_counter(), time.process_time()
                rates = await stats.all_rates(period)
                rates_ms.append((time.perf_counter() - started) * 1000)
                rates_cpu.append((time.process_time() - cpu) * 1000)
        finally:
            await db.close_store()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = statistics.median(report_ms)
    print()
    print(
        f"Complaint Desk stats benchmark: {n:,} cases, {clocks:,} clock runs, {ratings:,} "
        f"ratings, SQLite {sqlite3.sqlite_version} "
        + (f"(seeded in {seeded:.0f} s)" if seeded is not None else f"(reused {keep})")
    )
    print(f"month {month:%Y-%m}: {data.filed:,} filed, {len(data.overdue)} overdue listed")
    for rate in rates:
        print(f"  {rate.name}: {rate.display()} ({rate.numerator}/{rate.denominator})")
    # CPU time (this process, SQLite's thread included) says how much of a slow wall-clock
    # figure is the machine being busy with something else.
    print(
        f"all_rates (11 rates):             median {statistics.median(rates_ms):.0f} ms, "
        f"max {max(rates_ms):.0f} ms (CPU median {statistics.median(rates_cpu):.0f} ms)"
    )
    print(
        f"build_monthly_report (everything): median {report:.0f} ms, max {max(report_ms):.0f} ms"
        f" (CPU median {statistics.median(report_cpu):.0f} ms)"
        f" — target < {TARGET_MS:.0f} ms: {'met' if report < TARGET_MS else 'NOT met'}"
    )
    return 0 if report < TARGET_MS else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_stats", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases to seed")
    parser.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help="seed into FILE and keep it; when FILE exists, migrate and reuse it (no seeding)",
    )
    args = parser.parse_args(argv)
    return asyncio.run(bench(args.cases, args.db))


if __name__ == "__main__":
    sys.exit(main())
