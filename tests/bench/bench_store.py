"""Case-store benchmark: seed N cases, then time the read queries staff and reports rely on.

Measured through tortoise with the project's own functions, the staff console's as it calls them:

* ``case_for_staff``  — one case by its number, as the staff console's case pages find it
  (``cases.views.access``; the intake centre, who may see every case; unique index);
* ``worklist_page``   — ``cases.views.worklists``, as ``staff/worklist.py`` and the staff API
  call it: a handler's page of their unit's cases in one open status (earliest due first, 20
  rows), the intake centre's worklist as it opens (no filter), and deep keyset pages that
  follow each page's ``Cursor`` the way the next link carries it (encoded and decoded);
* ``monthly_counts``  — one local (Asia/Shanghai) month's cases counted by category and status
  (``cases.views.queries``).

Every figure is a median and p95 in milliseconds and a multiple of the run's own baseline: a
``SELECT 1`` round trip through the same tortoise connection. SQLite figures are checked against
the targets of the issue (by number < 2 ms, worklist page < 20 ms, monthly counts < 500 ms);
PostgreSQL figures are printed beside them. Both databases get the same rows (fixed random seed),
seeded with raw SQL (sqlite3 ``executemany``, asyncpg ``COPY``), not the ORM, and both must give
the same answers. Run from the repository root (not part of CI or plain ``pytest``):

    python -m tests.bench.bench_store                   # 1,000,000 cases, SQLite + PostgreSQL
    python -m tests.bench.bench_store --cases 20000     # a quick check
    python -m tests.bench.bench_store --no-postgres
    python -m tests.bench.bench_store --postgres postgres://user@host:5432/postgres

PostgreSQL: the server at ``--postgres`` (default ``$COMPLAINT_DESK_TEST_POSTGRES_URL`` or
``postgres://postgres@127.0.0.1:5432/test``) gets a throw-away database ``cd_bench_<random>``
that is dropped at the end; when the server cannot be reached the run goes on with SQLite only.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import logging
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tqdm import tqdm

from cases.auth.accounts import sync_departments
from cases.intake.duplicates import respondent_key
from cases.intake.filing import file_case
from cases.rules import Rules
from cases.store import db
from cases.store.models import Case, Citizen, Department, Role, Status
from cases.store.numbering import format_case_number
from cases.views.access import case_for_staff
from cases.views.queries import monthly_counts
from cases.views.worklists import EPOCH, Cursor, Filters, worklist_page
from cases.workflow.deadlines import WorkCalendar
from cases.workflow.states import FINISHED_STATES, OPEN_STATES
from cases.workflow.timeline import CITIZEN, Actor
from config.catalog import Catalog, load_catalog
from config.survey import load_survey_scale
from tests.bench.common import pg_admin, with_database

PROFILE = "market_regulation"
TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_PG_URL = os.environ.get(
    "COMPLAINT_DESK_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
SEED = 20261123
BATCH = 20_000
HISTORY = timedelta(days=730)  # created_at spread uniformly over the last 24 months

# Calls per operation (after a few warm-up calls that are not counted).
BASELINE_CALLS = 2000
NUMBER_CALLS = 2000
WORKLIST_CALLS = 300
INTAKE_CALLS = 100
DEEP_PAGES = 50
MONTHS = 12
MONTH_ROUNDS = 3
WARMUP = 20

# Operations in table order: key -> (label, SQLite target in ms or None).
OPERATIONS: dict[str, tuple[str, float | None]] = {
    "baseline": ("SELECT 1 (baseline)", None),
    "by_number": ("case_for_staff (by number)", 2.0),
    "worklist": ("worklist_page (unit + status)", 20.0),
    "intake": ("worklist_page (intake's list)", 20.0),
    "deep": ("worklist_page (keyset, deep)", 20.0),
    "monthly": ("monthly_counts (one month)", 500.0),
}

# --- what the seeded store looks like --------------------------------------------------------

KIND_WEIGHTS = {"complaint": 85, "report": 8, "consultation": 5, "suggestion": 2}
CATEGORY_WEIGHTS = {
    "consumer": 45,
    "food": 15,
    "product_quality": 12,
    "price": 10,
    "licensing": 5,
    "drug": 5,
    "advertising": 4,
    "other": 4,
}
CHANNEL_WEIGHTS = {
    "official_account": 40,
    "mini_program": 30,
    "phone": 20,
    "visit": 5,
    "letter": 3,
    "transfer": 2,
}
S = Status
OPEN_WEIGHTS = {
    S.DRAFT: 1,
    S.SUBMITTED: 15,
    S.NEEDS_INFO: 5,
    S.ACCEPTED: 10,
    S.ASSIGNED: 20,
    S.IN_PROGRESS: 40,
    S.REPLIED: 9,
}
FINISHED_WEIGHTS = {
    S.CLOSED: 30,
    S.ARCHIVED: 55,
    S.REJECTED: 6,
    S.REFERRED_OUT: 4,
    S.MERGED: 2,
    S.WITHDRAWN: 3,
}
# Share of open cases among recent filings and older ones: ~10% open overall.
RECENT = timedelta(days=60)
OPEN_SHARE_RECENT, OPEN_SHARE_OLD = 0.70, 0.05
ASSIGNED_ONWARD = {S.ASSIGNED, S.IN_PROGRESS, S.REPLIED, S.CLOSED, S.ARCHIVED}
ACCEPTED_ONWARD = ASSIGNED_ONWARD | {S.ACCEPTED}
RUNNING = OPEN_STATES - {S.DRAFT}  # a draft has no clock yet
UNIT_STATUSES = (S.ASSIGNED, S.IN_PROGRESS, S.REPLIED)

RESPONDENTS = (
    ("城东便民超市", "城关镇东大街12号"),
    ("好又多生鲜店", "城关镇西关路88号"),
    ("金福珠宝", "人民路商业街3号"),
    ("康宁大药房", "健康路17号"),
    ("小肥羊火锅城关店", "滨河路6号"),
    ("鑫达汽车维修厂", "工业园区纬二路"),
    ("美佳美容美发", "新华路21号"),
    ("智联手机专卖", "人民路45号"),
    ("红星家具城", "建设大道99号"),
    ("阳光培训学校", "文化路8号"),
)
GOODS = ("牛奶", "手机", "羽绒服", "保健品", "预付卡", "空调", "面包", "电动车", "化妆品", "课程")
PROBLEMS = (
    "已过保质期,要求退货被拒绝",
    "使用三天即出现故障,商家不予维修",
    "实际价格与标价不符,多收了费用",
    "商家宣传与实际不符,涉嫌虚假宣传",
    "办理的会员卡商家停业后无法退款",
    "食用后出现腹泻,怀疑食品变质",
)
DEMANDS = ("退货并赔偿", "退款", "维修或更换", "依法查处", "赔礼道歉并退还差价")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
REFERRED_TO = ("县人力资源和社会保障局", "县住房和城乡建设局", "县交通运输局")
# Findings recorded at closure, in turn by row number (the random sequence stays unchanged).
FINDINGS = {
    "complaint": ("mediated", "mediated", "mediation_failed", "case_filed", "substantiated"),
    "report": ("substantiated", "partly_substantiated", "unsubstantiated", "case_filed"),
}

COLUMNS = (
    "number",
    "kind",
    "category",
    "channel",
    "severity",
    "status",
    "version",
    "policy",
    "anonymous",
    "contact_name",
    "contact_phone",
    "contact_address",
    "respondent_name",
    "respondent_key",
    "respondent_address",
    "incident_at",
    "incident_place",
    "latitude",
    "longitude",
    "description",
    "demands",
    "reject_reason",
    "referred_to",
    "created_at",
    "updated_at",
    "accepted_at",
    "closed_at",
    "next_due_at",
    "department_id",
    "finding",
    "named_staff",
)
TIME_COLUMNS = tuple(
    COLUMNS.index(c)
    for c in ("incident_at", "created_at", "updated_at", "accepted_at", "closed_at", "next_due_at")
)
ANONYMOUS = COLUMNS.index("anonymous")
Row = tuple[Any, ...]


@dataclass
class SeedInfo:
    """What seeding tells the measurements (identical for every backend: fixed seed)."""

    numbers: list[str] = field(default_factory=list)  # a random sample of existing numbers
    worklists: Counter[tuple[int, str]] = field(default_factory=Counter)  # (unit, status) rows
    counters: dict[str, int] = field(default_factory=dict)  # number_counter: day -> last seq
    open_cases: int = 0


class Weighted:
    """A fixed weighted choice (names missing from `weights` weigh 1)."""

    def __init__(self, names: Iterable[str], weights: Mapping[str, int]) -> None:
        self.names = list(names)
        total = 0
        self.cum: list[int] = []
        for name in self.names:
            total += weights.get(name, 1)
            self.cum.append(total)

    def pick(self, rng: random.Random) -> str:
        return self.names[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


def sqlite_time(value: datetime) -> str:
    """A datetime as tortoise stores it on SQLite (sqlite3 adapter: isoformat with a space)."""
    return value.astimezone(UTC).isoformat(" ")


def generate(
    catalog: Catalog, units: Mapping[str, int], n: int, now: datetime, info: SeedInfo
) -> Iterator[list[Row]]:
    """Batches of `case` rows in COLUMNS order, filed in time order over the last 24 months."""
    rng = random.Random(SEED)
    start = now - HISTORY
    span = HISTORY.total_seconds()
    offsets = sorted(rng.random() * span for _ in range(n))
    sample = set(rng.sample(range(n), min(n, NUMBER_CALLS)))
    kinds = Weighted(catalog.kinds, KIND_WEIGHTS)
    categories = {
        kind: Weighted(
            (c.code for c in catalog.categories.values() if kind in c.kinds), CATEGORY_WEIGHTS
        )
        for kind in catalog.kinds
    }
    channels = Weighted(catalog.channels, CHANNEL_WEIGHTS)
    open_statuses = Weighted(OPEN_WEIGHTS, OPEN_WEIGHTS)
    finished_statuses = Weighted(FINISHED_WEIGHTS, FINISHED_WEIGHTS)
    handling = [units[d.code] for d in catalog.departments.values() if d.role == "handling"]
    home = {
        c.code: units[c.default_department]
        for c in catalog.categories.values()
        if catalog.departments[c.default_department].role == "handling"
    }
    respondents = [(name, respondent_key(name), addr) for name, addr in RESPONDENTS]
    reasons = list(catalog.reasons)
    policies: dict[tuple[str, str], str] = {}
    severity = catalog.default_severity
    digits = catalog.number_seq_digits
    info.counters.clear()
    rows: list[Row] = []
    for i, offset in enumerate(offsets):
        created = start + timedelta(seconds=offset)
        kind = kinds.pick(rng)
        category = categories[kind].pick(rng)
        policy = policies.get((kind, category))
        if policy is None:
            policy = policies[kind, category] = catalog.policy_for(kind, category, severity).name
        open_share = OPEN_SHARE_RECENT if now - created < RECENT else OPEN_SHARE_OLD
        is_open = rng.random() < open_share
        status = S((open_statuses if is_open else finished_statuses).pick(rng))
        # Numbers: kind prefix + local day + the day's sequence (shared by all kinds).
        day = created.astimezone(TZ).date()
        key = f"{day:%Y%m%d}"
        seq = info.counters[key] = info.counters.get(key, 0) + 1
        number = format_case_number(catalog.kinds[kind].number_prefix, day, seq, digits)
        if i in sample:
            info.numbers.append(number)
        unit = None
        if status in ASSIGNED_ONWARD:
            unit = home.get(category) if rng.random() < 0.9 else None
            unit = unit or rng.choice(handling)
        due = created + timedelta(days=rng.uniform(7, 60)) if status in RUNNING else None
        if due is not None and unit is not None:
            info.worklists[unit, status.value] += 1
        info.open_cases += is_open
        accepted = closed = None
        if status in ACCEPTED_ONWARD:
            accepted = min(now, created + timedelta(hours=rng.uniform(2, 168)))
        if status in FINISHED_STATES or status == S.ARCHIVED:
            closed = min(now, (accepted or created) + timedelta(days=rng.uniform(1, 60)))
        respondent, rkey, raddr = rng.choice(respondents)
        anonymous = kind != "complaint" and rng.random() < 0.3
        incident = created - timedelta(hours=rng.uniform(1, 72))
        local = incident.astimezone(TZ)
        description = (
            f"{local.month}月{local.day}日在{respondent}购买{rng.choice(GOODS)},"
            f"{rng.choice(PROBLEMS)}。"
        )
        rows.append(
            (
                number,
                kind,
                category,
                channels.pick(rng),
                severity,
                status.value,
                1,
                policy,
                anonymous,
                "" if anonymous else rng.choice(SURNAMES) + rng.choice(("先生", "女士")),
                "" if anonymous else f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                "",
                respondent,
                rkey,
                raddr,
                incident,
                raddr,
                None,
                None,
                description,
                rng.choice(DEMANDS) if kind == "complaint" else "",
                rng.choice(reasons) if status == S.REJECTED else "",
                rng.choice(REFERRED_TO) if status == S.REFERRED_OUT else "",
                created,
                closed or accepted or created,
                accepted,
                closed,
                due,
                unit,
                _finding(kind, i) if status in (S.CLOSED, S.ARCHIVED) else "",
                "",
            )
        )
        if len(rows) == BATCH:
            yield rows
            rows = []
    if rows:
        yield rows
    if max(info.counters.values(), default=0) >= 10**digits:
        raise SystemExit(f"too many cases per day for {digits}-digit sequences: lower --cases")


def _finding(kind: str, i: int) -> str:
    findings = FINDINGS.get(kind, ())
    return findings[i % len(findings)] if findings else ""


# --- databases -------------------------------------------------------------------------------


async def migrate_and_sync(url: str, catalog: Catalog) -> dict[str, int]:
    """Migrate a fresh store and create the profile's units; returns unit code -> id."""
    EXECUTOR_CACHE.clear()  # tortoise caches compiled SQL per connection name, not dialect
    await db.migrate_store(url)
    await db.open_store(url)
    try:
        await sync_departments(catalog)
        return {d.code: d.id for d in await Department.all()}
    finally:
        await db.close_store()


async def check_time_format(tmp: Path, rules: Rules) -> None:
    """File one case the normal way and check the raw SQLite text matches `sqlite_time`."""
    path = tmp / "probe.sqlite3"
    url = f"sqlite://{path}"
    await migrate_and_sync(url, rules.catalog)
    EXECUTOR_CACHE.clear()
    await db.open_store(url)
    try:
        citizen = await Citizen.create(oa_openid="bench-probe", name="张女士", phone="13800000000")
        form = {
            "kind": "complaint",
            "category": "consumer",
            "respondent_name": RESPONDENTS[0][0],
            "description": "11月20日在该超市购买的牛奶已过保质期,要求退货被拒绝。",
            "demands": "退货并赔偿",
            "contact_phone": "13800000000",
        }
        actor = Actor(kind=CITIZEN, id=citizen.id, name=citizen.name, role=CITIZEN)
        filed_at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
        case = await file_case(rules, form, actor, channel="official_account", now=filed_at)
    finally:
        await db.close_store()
    assert case.next_due_at is not None
    with closing(sqlite3.connect(path)) as con:
        raw = con.execute(
            'SELECT created_at, next_due_at FROM "case" WHERE id = ?', (case.id,)
        ).fetchone()
    ours = (sqlite_time(case.created_at), sqlite_time(case.next_due_at))
    if tuple(raw) != ours:
        raise SystemExit(f"SQLite datetime text differs from tortoise's: {tuple(raw)} != {ours}")


def seed_sqlite(path: Path, batches: Iterator[list[Row]], n: int, info: SeedInfo) -> float:
    """Insert the rows (one transaction per batch); returns seconds taken."""
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    sql = f'INSERT INTO "case" ({names}) VALUES ({", ".join("?" * len(COLUMNS))})'

    def to_sqlite(row: Row) -> Row:
        out = list(row)
        for i in TIME_COLUMNS:
            if out[i] is not None:
                out[i] = sqlite_time(out[i])
        out[ANONYMOUS] = int(out[ANONYMOUS])
        return tuple(out)

    started = time.perf_counter()
    with closing(sqlite3.connect(path)) as con:
        with tqdm(total=n, unit="case", unit_scale=True, desc="seed SQLite") as bar:
            for rows in batches:
                con.executemany(sql, [to_sqlite(r) for r in rows])
                con.commit()
                bar.update(len(rows))
        con.executemany(
            'INSERT INTO number_counter ("key", "value") VALUES (?, ?)', info.counters.items()
        )
        con.commit()
    return time.perf_counter() - started


def analyze_sqlite(path: Path) -> float:
    started = time.perf_counter()
    with closing(sqlite3.connect(path)) as con:
        con.execute("ANALYZE")
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # so the file size is the whole store
    return time.perf_counter() - started


async def seed_postgres(url: str, batches: Iterator[list[Row]], n: int, info: SeedInfo) -> float:
    """COPY the rows in batches; returns seconds taken."""
    import asyncpg

    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        with tqdm(total=n, unit="case", unit_scale=True, desc="seed PostgreSQL") as bar:
            for rows in batches:
                await conn.copy_records_to_table("case", records=rows, columns=COLUMNS)
                bar.update(len(rows))
        await conn.executemany(
            'INSERT INTO number_counter ("key", "value") VALUES ($1, $2)',
            list(info.counters.items()),
        )
    finally:
        await conn.close()
    return time.perf_counter() - started


async def analyze_postgres(url: str) -> tuple[float, int]:
    """VACUUM ANALYZE (so autovacuum does not wake up mid-measurement); returns (s, db bytes)."""
    import asyncpg

    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute('VACUUM (ANALYZE) "case"')
        await conn.execute("ANALYZE")
        seconds = time.perf_counter() - started
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return seconds, int(size)


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Run:
    backend: str
    version: str = ""
    seed_seconds: float = 0.0
    analyze_seconds: float = 0.0
    size_bytes: int = 0
    ms: dict[str, list[float]] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)  # compared across backends
    plans: dict[str, list[str]] = field(default_factory=dict)

    def median(self, key: str) -> float:
        return statistics.median(self.ms[key])

    def p95(self, key: str) -> float:
        values = sorted(self.ms[key])
        return values[max(0, math.ceil(0.95 * len(values)) - 1)]


async def timed(
    call: Callable[[int], Awaitable[object]], count: int, warmup: int = WARMUP
) -> list[float]:
    """Milliseconds of `count` calls `call(0..count-1)`, after `warmup` uncounted ones."""
    for i in range(warmup):
        await call(i)
    out = []
    for i in range(count):
        started = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


class _SqlCapture(logging.Handler):
    """Collects (sql, values) from tortoise's db_client debug log."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.queries: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str):
            self.queries.append((args[0], list(args[1] or [])))


async def query_plan(call: Callable[[], Awaitable[object]], dialect: str) -> list[str]:
    """Run `call` once, capture the SQL it sent and return the database's plan for each query
    (a worklist page is a query per index range, then one that reads the page's rows)."""
    logger = logging.getLogger("tortoise.db_client")
    capture, level = _SqlCapture(), logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        await call()
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)
    conn = connections.get("default")
    lines = []
    for n, (sql, values) in enumerate(capture.queries, 1):
        if len(capture.queries) > 1:
            lines.append(f"query {n} of {len(capture.queries)}:")
        indent = "  " if len(capture.queries) > 1 else ""
        if dialect == "sqlite":
            rows = await conn.execute_query_dict("EXPLAIN QUERY PLAN " + sql, values)
            lines += [indent + str(r["detail"]) for r in rows]
        else:
            rows = await conn.execute_query_dict("EXPLAIN " + sql, values)
            lines += [indent + str(r["QUERY PLAN"]) for r in rows]
    return lines


def staff_actor(role: Role, unit: int | None = None) -> Actor:
    """A signed-in staff member as `Actor.of_staff` makes one: the lists read the role and unit."""
    return Actor(kind="staff", id=0, name=f"bench {role}", role=str(role), department_id=unit)


def listed_order(case: Case) -> tuple[int, datetime, int]:
    """Where a worklist puts a case: by due time then id, then those without a clock, newest
    first."""
    if case.next_due_at is None:
        return (1, EPOCH, -case.id)
    return (0, case.next_due_at, case.id)


def last_months(now: datetime, count: int) -> list[date]:
    """The `count` complete local months before the current one, oldest first."""
    first = now.astimezone(TZ).date().replace(day=1)
    months = []
    for _ in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(first)
    return months[::-1]


async def measure(
    run: Run, url: str, info: SeedInfo, units: Mapping[str, int], rules: Rules, now: datetime
) -> None:
    """Time every operation through tortoise on the seeded store at `url`."""
    EXECUTOR_CACHE.clear()
    await db.open_store(url)
    try:
        conn = connections.get("default")
        dialect = conn.capabilities.dialect
        rng = random.Random(SEED + 1)  # same query sequence on every backend
        catalog = rules.catalog
        handling = [units[d.code] for d in catalog.departments.values() if d.role == "handling"]
        intake = staff_actor(Role.INTAKE)
        handlers = {unit: staff_actor(Role.HANDLER, unit) for unit in handling}

        async def select_one(_: int) -> None:
            await conn.execute_query("SELECT 1")

        numbers = rng.sample(info.numbers, len(info.numbers))

        async def by_number(i: int) -> None:
            number = numbers[i % len(numbers)]
            case = await case_for_staff(intake, number)  # NotFound if it were missing
            assert case.number == number, number

        combos = [(rng.choice(handling), rng.choice(UNIT_STATUSES)) for _ in range(WORKLIST_CALLS)]
        first_pages: list[list[int]] = []

        async def unit_page(i: int) -> None:
            unit, status = combos[i % len(combos)]
            page = await worklist_page(rules, handlers[unit], Filters(status=status), now)
            if len(first_pages) < len(combos):
                first_pages.append([c.id for c in page.cases])

        intake_pages: list[list[int]] = []

        async def intake_page(_: int) -> None:
            page = await worklist_page(rules, intake, Filters(), now)
            if not intake_pages:
                intake_pages.append([c.id for c in page.cases])

        run.ms["baseline"] = await timed(select_one, BASELINE_CALLS)
        run.ms["by_number"] = await timed(by_number, NUMBER_CALLS)
        run.ms["worklist"] = await timed(unit_page, WORKLIST_CALLS, warmup=0)
        run.ms["intake"] = await timed(intake_page, INTAKE_CALLS)
        run.answers["worklist first pages"] = first_pages
        run.answers["intake first page"] = intake_pages

        # Deep keyset pages: walk the busiest unit worklist page by page, each time with the
        # cursor as the next link carries it (encoded into the query string and read back).
        (unit, status), timed_rows = info.worklists.most_common(1)[0]
        handler, only = handlers[unit], Filters(status=S(status))
        page = await worklist_page(rules, handler, only, now)
        walked = list(page.cases)
        run.ms["deep"] = []
        deep_cursor = cursor = page.next
        for _ in range(DEEP_PAGES):
            if cursor is None:
                break
            after = Cursor.decode(cursor.encode())
            started = time.perf_counter()
            page = await worklist_page(rules, handler, only, now, after=after)
            run.ms["deep"].append((time.perf_counter() - started) * 1000)
            walked += page.cases
            cursor = page.next
        order = [listed_order(c) for c in walked]
        if order != sorted(order) or len({c.id for c in walked}) != len(walked):
            raise SystemExit(f"{run.backend}: keyset pages are out of order or repeat rows")
        with_clock = sum(c.next_due_at is not None for c in walked)
        if cursor is None and with_clock != timed_rows:
            raise SystemExit(f"{run.backend}: keyset pages listed {with_clock} of {timed_rows}")
        run.answers["deep pages"] = [c.id for c in walked]

        months = last_months(now, MONTHS)
        counts: dict[str, dict[tuple[str, str], int]] = {}

        async def month(i: int) -> None:
            m = months[i % len(months)]
            result = await monthly_counts(m, TZ)
            counts.setdefault(m.isoformat(), result)

        run.ms["monthly"] = await timed(month, MONTHS * MONTH_ROUNDS, warmup=1)
        run.answers["monthly counts"] = counts

        # Plans for the report (the SQL tortoise actually sent, explained by the database).
        unit0, status0 = combos[0]
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "by_number": lambda: case_for_staff(intake, numbers[0]),
            "worklist": lambda: worklist_page(rules, handlers[unit0], Filters(status=status0), now),
            "intake": lambda: worklist_page(rules, intake, Filters(), now),
            "monthly": lambda: monthly_counts(months[-1], TZ),
        }
        if deep_cursor is not None:
            calls["deep"] = lambda: worklist_page(rules, handler, only, now, after=deep_cursor)
        for key, call in calls.items():
            run.plans[key] = await query_plan(call, dialect)
        if dialect == "sqlite":
            run.version = "SQLite " + sqlite3.sqlite_version
        else:
            rows = await conn.execute_query_dict("SHOW server_version")
            run.version = "PostgreSQL " + str(rows[0]["server_version"]).split()[0]
    finally:
        await db.close_store()


# --- report ----------------------------------------------------------------------------------


def cell(run: Run | None, key: str, which: str) -> str:
    if run is None or not run.ms.get(key):
        return "—"
    value = run.median(key) if which == "median" else run.p95(key)
    return f"{value:.3f} ms ×{value / run.median('baseline'):.1f}"


def print_report(
    sqlite_run: Run, pg_run: Run | None, n: int, info: SeedInfo, units: Mapping[str, int]
) -> None:
    header = ("operation", "SQLite median", "p95", "target", "met?", "PostgreSQL median", "p95")
    lines = []
    for key, (label, target) in OPERATIONS.items():
        met = "—" if target is None else ("yes" if sqlite_run.median(key) < target else "NO")
        lines.append(
            (
                label,
                cell(sqlite_run, key, "median"),
                cell(sqlite_run, key, "p95"),
                "" if target is None else f"< {target:g} ms",
                "" if target is None else met,
                cell(pg_run, key, "median"),
                cell(pg_run, key, "p95"),
            )
        )
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        return " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()

    print()
    versions = ", ".join(r.version for r in (sqlite_run, pg_run) if r is not None)
    print(f"Complaint Desk store benchmark: {n:,} cases, {versions}, {os.cpu_count()} CPUs")
    print("(median/p95 per call in ms; ×N = multiple of the same backend's SELECT 1 median)")
    print(fmt(header))
    print("-+-".join("-" * w for w in widths))
    for row in lines:
        print(fmt(row))
    print()
    for run in (sqlite_run, pg_run):
        if run is None:
            continue
        what = "file" if run.backend == "SQLite" else "database"
        analyze = "ANALYZE" if run.backend == "SQLite" else "VACUUM ANALYZE"
        print(
            f"seeding {run.backend}: {n:,} cases in {run.seed_seconds:.1f} s "
            f"({n / run.seed_seconds:,.0f} cases/s), {analyze} {run.analyze_seconds:.1f} s, "
            f"{what} {run.size_bytes / 2**20:,.1f} MiB"
        )
    (unit, status), rows = info.worklists.most_common(1)[0]
    code = next(c for c, i in units.items() if i == unit)
    print(
        f"data: {info.open_cases / n:.1%} open; busiest unit worklist ({code}, {status}) "
        f"{rows:,} rows; calls: {NUMBER_CALLS} by number, {WORKLIST_CALLS} unit + "
        f"{INTAKE_CALLS} intake pages, {len(sqlite_run.ms['deep'])} deep pages, "
        f"{MONTHS}×{MONTH_ROUNDS} months"
    )
    if pg_run is not None:
        differ = [k for k, v in sqlite_run.answers.items() if pg_run.answers.get(k) != v]
        print(
            "same answers on SQLite and PostgreSQL: "
            + ("yes" if not differ else "NO: " + ", ".join(differ))
        )
    for run in (sqlite_run, pg_run):
        if run is None:
            continue
        print(f"\nquery plans, {run.backend}:")
        for key, plan in run.plans.items():
            print(f"  {OPERATIONS[key][0]}:")
            for line in plan:
                print(f"    {line}")


# --- main ------------------------------------------------------------------------------------


async def bench(n: int, pg_admin_url: str | None, keep: bool) -> int:
    rules = Rules(
        catalog=load_catalog(PROFILE),
        calendar=WorkCalendar(timezone=TZ),
        survey=load_survey_scale(),
    )
    catalog = rules.catalog
    now = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="cd_bench_"))
    pg_name = f"cd_bench_{uuid.uuid4().hex[:12]}"
    pg_url: str | None = None
    if pg_admin_url is not None:
        try:
            await pg_admin(pg_admin_url, f'CREATE DATABASE "{pg_name}"')
            pg_url = with_database(pg_admin_url, pg_name)
        except Exception as exc:  # unreachable server, wrong credentials, missing driver
            print(f"PostgreSQL not reachable at {pg_admin_url} ({type(exc).__name__}: {exc});")
            print("continuing with SQLite only")
    try:
        await check_time_format(tmp, rules)

        sqlite_run = Run("SQLite")
        path = tmp / "bench.sqlite3"
        url = f"sqlite://{path}"
        units = await migrate_and_sync(url, catalog)
        info = SeedInfo()
        sqlite_run.seed_seconds = seed_sqlite(path, generate(catalog, units, n, now, info), n, info)
        sqlite_run.analyze_seconds = analyze_sqlite(path)
        sqlite_run.size_bytes = path.stat().st_size
        print(f"measuring SQLite ({path}) ...")
        await measure(sqlite_run, url, info, units, rules, now)

        pg_run = None
        if pg_url is not None:
            pg_run = Run("PostgreSQL")
            if await migrate_and_sync(pg_url, catalog) != units:
                raise SystemExit("PostgreSQL got other unit ids than SQLite")
            pg_run.seed_seconds = await seed_postgres(
                pg_url, generate(catalog, units, n, now, SeedInfo()), n, info
            )
            pg_run.analyze_seconds, pg_run.size_bytes = await analyze_postgres(pg_url)
            print(f"measuring PostgreSQL ({pg_name}) ...")
            await measure(pg_run, pg_url, info, units, rules, now)

        print_report(sqlite_run, pg_run, n, info, units)
    finally:
        if pg_url is not None and pg_admin_url is not None:
            await pg_admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        if keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_store", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases to seed")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--postgres", default=DEFAULT_PG_URL, metavar="URL", help="server for the throw-away db"
    )
    group.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file afterwards")
    args = parser.parse_args(argv)
    if args.cases < NUMBER_CALLS:
        parser.error(f"--cases must be at least {NUMBER_CALLS}")
    return asyncio.run(bench(args.cases, None if args.no_postgres else args.postgres, args.keep))


if __name__ == "__main__":
    sys.exit(main())
