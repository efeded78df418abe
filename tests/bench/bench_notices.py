"""Outbox benchmark: notices delivered per second against the fake WeChat, one and two workers.

Every run delivers N pending "accepted" notices (``--notices``, default 5,000) to the fake
WeChat API and is timed from starting the worker process(es) to the last one's exit:

* ``baseline``  — the fake's own rate, no database: this process calls
  ``WeChatClient.send_template`` N times, ``CLAIM_BATCH`` (one worker batch) at a time, with the
  same rendered template data the worker sends;
* ``PostgreSQL, 1 worker``  — ``python -m complaint_desk worker --once`` delivers all N;
* ``PostgreSQL, 2 workers`` — the store re-seeded, two ``worker --once`` started together
  (claims use ``FOR UPDATE SKIP LOCKED``);
* ``SQLite, 1 worker`` — for comparison (``--no-sqlite`` skips it).

Seeding: one case is filed and accepted the normal way (``file_case`` + ``perform``), which
writes its citizen, case, events, clocks and notice; its rows are then cloned N-1 times with raw
SQL (asyncpg ``COPY``, sqlite3 ``executemany``), each clone with its own citizen openid, case
number and ids. Once per store an empty ``worker --once`` run is timed as well (process
start-up, connecting, a pass with nothing due): the worker runs' seconds include that much.

The fake WeChat (``wechat.simulator``) runs in its own process, with three endpoints of this
benchmark's own added: ``/bench/count``, ``/bench/record`` (every template-send attempt with the
openid, ``client_msg_id`` and arrival time, before the fake's own de-duplication, and every
message it accepted) and ``/bench/reset``. After each run the record is checked against the
store: a *duplicate* is a second send of the same ``client_msg_id`` (WeChat would swallow it for
10 minutes, but a worker must not send it); a notice is *lost* unless its row is ``sent`` and
the fake accepted its ``client_msg_id`` for its citizen (delivery id = the fake's msgid, the
number in the message = the case's number are checked too).

Printed: for each run the seconds, notices/s, the ratio to the baseline, the time from the first
to the last send, what each worker reported, duplicates and lost; the CPU time the workers, the
fake WeChat, PostgreSQL (every process of the local server, from /proc: other databases' work
counts too), this process and everything else on the machine used, CPU ms per notice and the rate at which that would fill every core;
PostgreSQL transactions per notice (``pg_stat_database``); and the targets (duplicates 0, lost 0,
two workers ≥ one worker's rate on PostgreSQL, the median with ``--rounds``) with "met?". Exit
status 0 when every target is met, 1 otherwise. Run from the repository root (not part of CI or
plain ``pytest``):

    python -m tests.bench.bench_notices                     # 5,000 notices per run
    python -m tests.bench.bench_notices --notices 500       # a quick check
    python -m tests.bench.bench_notices --rounds 3          # 1 + 2 workers three times each
    python -m tests.bench.bench_notices --postgres postgres://user@host:5432/postgres
    python -m tests.bench.bench_notices --profile /tmp/worker.prof   # 1-worker run, cProfile

PostgreSQL: the server at ``--postgres`` (default ``$COMPLAINT_DESK_TEST_POSTGRES_URL`` or
``postgres://postgres@127.0.0.1:5432/test``) gets a throw-away database ``cd_bench_<random>``
that is dropped at the end; when it cannot be reached only the baseline and SQLite run (and the
exit status is 1: the two-worker target is not measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import aiohttp
from tqdm import tqdm

from cases.auth.accounts import staff_actor, sync_departments
from cases.intake.filing import file_case
from cases.rules import Rules
from cases.store import db
from cases.store.models import Citizen, Department, Notice, Role, StaffUser
from cases.store.numbering import format_case_number
from cases.workflow.engine import perform
from cases.workflow.loading import load_rules
from cases.workflow.outbox import CLAIM_BATCH
from cases.workflow.timeline import CITIZEN, Actor
from config.notices import NoticeTemplates, load_notice_templates
from config.settings import Settings, load_settings
from tests.bench.common import cpu, free_port, pg_admin, table, with_database
from wechat.client import MemoryTokenStore, WeChatClient

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PG_URL = os.environ.get(
    "COMPLAINT_DESK_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
OA_APPID = "wx00000000000000cc"
OA_SECRET = "oa-app-secret-for-notice-bench"
KIND = "accepted"
SEND = "/cgi-bin/message/template/send"
TOKEN = "/cgi-bin/stable_token"
START_TIMEOUT = 30.0
POLL_SECONDS = 0.25
COPY_BATCH = 10_000
PG_STATS_DELAY = 1.0
# Tables holding one case's rows, in insertion order (foreign keys point backwards).
CLONED = ("citizen", "case", "case_event", "case_clock", "notice")
# A CPU share of one core above which the fake WeChat may be what limits a run.
FAKE_BUSY = 0.8
# A CPU share of one core used by unrelated processes above which a run is flagged as disturbed.
OTHERS_BUSY = 0.25

FAKE_WECHAT = """
import sys
import time

from aiohttp import web

from wechat.simulator import FakeWeChat, create_fake_wechat_app


class BenchWeChat(FakeWeChat):
    \"\"\"Also keeps every template send it is asked for, before de-duplication.\"\"\"

    def __init__(self, apps):
        super().__init__(apps)
        self.attempts = []

    def send_template(self, appid, openid, template_id, data, client_msg_id, url):
        self.attempts.append([openid, client_msg_id, time.time()])
        return super().send_template(appid, openid, template_id, data, client_msg_id, url)


appid, secret = sys.argv[2], sys.argv[3]
fake = BenchWeChat({appid: secret})
for template_id in sys.argv[4:]:
    fake.add_template(appid, template_id)


async def count(request):
    return web.json_response({"attempts": len(fake.attempts)})


async def record(request):
    messages = [[m.openid, m.client_msg_id, m.msgid, m.data] for m in fake.template_messages]
    return web.json_response(
        {"attempts": fake.attempts, "messages": messages, "calls": dict(fake.calls)}
    )


async def reset(request):
    fake.attempts.clear()
    fake.template_messages.clear()
    fake.requests.clear()
    fake.calls.clear()
    return web.json_response({"ok": True})


app = create_fake_wechat_app(fake)
app.router.add_get("/bench/count", count)
app.router.add_get("/bench/record", record)
app.router.add_post("/bench/reset", reset)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


# --- processes and CPU time ------------------------------------------------------------------


def proc_stat(pid: int | str) -> tuple[str, list[str]] | None:
    """(command name, fields after it) from /proc/<pid>/stat; None when unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.find("(") + 1 : text.rfind(")")], text.rsplit(")", 1)[1].split()


TICK = os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float | None:
    """CPU seconds of the local PostgreSQL server so far: its live processes plus the backends
    the postmaster has reaped (cutime/cstime); None when no such process can be seen."""
    ticks, found = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(entry.name)
        if stat is None or stat[0] != "postgres":
            continue
        f = stat[1]
        ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        found = True
    return ticks / TICK if found else None


def machine_cpu() -> float:
    """CPU seconds all cores spent busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICK


def children_cpu() -> float:
    """User + system CPU seconds of this process's children that have exited and been reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class FakeServer:
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]
    base: str

    def cpu_seconds(self) -> float | None:
        stat = proc_stat(self.proc.pid)
        return None if stat is None else (int(stat[1][11]) + int(stat[1][12])) / TICK

    def tail(self, lines: int = 20) -> str:
        self.log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    async def get(self, session: aiohttp.ClientSession, path: str) -> dict[str, Any]:
        async with session.get(self.base + path) as resp:
            resp.raise_for_status()
            return dict(await resp.json())

    async def reset(self, session: aiohttp.ClientSession) -> None:
        async with session.post(self.base + "/bench/reset") as resp:
            resp.raise_for_status()


async def start_fake(tmp: Path, env: dict[str, str], templates: NoticeTemplates) -> FakeServer:
    port = free_port()
    log_path = tmp / "fake-wechat.log"
    log = log_path.open("wb")
    template_ids = sorted({spec.template_id for spec in templates.oa.values()})
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_WECHAT, str(port), OA_APPID, OA_SECRET, *template_ids],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    fake = FakeServer(proc, log_path, log, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"fake WeChat exited ({proc.returncode}):\n{fake.tail()}")
            try:
                await fake.get(session, "/bench/count")
                return fake
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"fake WeChat not ready after {START_TIMEOUT:g} s:\n{fake.tail()}")
            await asyncio.sleep(0.1)


# --- stores: template case, clones, what the store says afterwards ---------------------------


async def prepare_store(url: str, rules: Rules) -> Actor:
    """Migrate a fresh store, create the profile's units and an intake clerk (who accepts)."""
    await db.migrate_store(url)
    await db.open_store(url)
    try:
        await sync_departments(rules.catalog)
        centre = await Department.get_or_none(code="centre")
        user = await StaffUser.create(
            username="bench-intake",
            display_name="受理员",
            password_hash="!",  # cannot log in; accepts cases in this benchmark only
            role=Role.INTAKE,
            department=centre,
        )
        return staff_actor(user)
    finally:
        await db.close_store()


async def file_template(url: str, rules: Rules, intake: Actor, openid: str) -> int:
    """File one complaint by a WeChat citizen and accept it (queues its notice); its case id."""
    await db.open_store(url)
    try:
        citizen = await Citizen.create(oa_openid=openid, name="张女士", phone="13800000000")
        form = {
            "kind": "complaint",
            "category": "consumer",
            "respondent_name": "城东便民超市",
            "respondent_address": "城关镇东大街12号",
            "description": "11月20日在该超市购买的牛奶已过保质期,要求退货被拒绝。",
            "demands": "退货并赔偿",
            "contact_name": "张女士",
            "contact_phone": "13800000000",
        }
        actor = Actor(kind=CITIZEN, id=citizen.id, name=citizen.name, role=CITIZEN)
        case = await file_case(rules, form, actor, channel="official_account", citizen=citizen)
        await perform(rules, case.id, "accept", intake)
        notices = await Notice.filter(case_id=case.id).values_list("kind", "channel", "status")
        if notices != [(KIND, "official_account", "pending")]:
            raise SystemExit(f"accepting the template case queued {notices!r}")
        return case.id
    finally:
        await db.close_store()


Rows = dict[str, list[dict[str, Any]]]


def clone_rows(
    template: Rows, bases: dict[str, int], run: int, rules: Rules, start: int, stop: int
) -> Rows:
    """Copies start..stop-1 (1-based; copy 0 is the template itself) of the template case's
    rows, each with new ids, its own citizen openid and its own case number."""
    [citizen], [case], [notice] = template["citizen"], template["case"], template["notice"]
    catalog = rules.catalog
    prefix, digits = catalog.kinds[case["kind"]].number_prefix, catalog.number_seq_digits
    per_day = 10**digits - 1
    first_day = date(2000, 1, 1) + timedelta(days=1000 * run)  # no clash with real numbers
    events, clocks = template["case_event"], template["case_clock"]
    out: Rows = {table: [] for table in CLONED}
    for i in range(start, stop):
        number = format_case_number(
            prefix, first_day + timedelta(days=(i - 1) // per_day), (i - 1) % per_day + 1, digits
        )
        citizen_id, case_id = bases["citizen"] + i, bases["case"] + i
        out["citizen"].append(
            {
                **citizen,
                "id": citizen_id,
                "oa_openid": f"oBench{run}x{i:07d}",
                "unionid": None,
                "mp_openid": None,
            }
        )
        out["case"].append(
            {
                **case,
                "id": case_id,
                "number": number,
                "citizen_id": citizen_id,
                "duplicate_of_id": None,
                "merged_into_id": None,
                "parent_id": None,
            }
        )
        event_ids = {}
        for j, event in enumerate(events):
            event_ids[event["id"]] = bases["case_event"] + i * len(events) + j
            out["case_event"].append({**event, "id": event_ids[event["id"]], "case_id": case_id})
        for j, clock in enumerate(clocks):
            clock_id = bases["case_clock"] + i * len(clocks) + j
            out["case_clock"].append({**clock, "id": clock_id, "case_id": case_id})
        payload = {**json.loads(notice["payload"]), "number": number}
        out["notice"].append(
            {
                **notice,
                "id": bases["notice"] + i,
                "case_id": case_id,
                "event_id": event_ids[notice["event_id"]],
                "payload": json.dumps(payload, ensure_ascii=False),
            }
        )
    return out


def template_query(table: str, dialect: str) -> str:
    key = "id" if table == "case" else "case_id"
    p = "$1" if dialect == "postgres" else "?"
    if table == "citizen":
        return f'SELECT * FROM citizen WHERE id = (SELECT citizen_id FROM "case" WHERE id = {p})'
    return f'SELECT * FROM "{table}" WHERE {key} = {p} ORDER BY id'


async def clone_postgres(url: str, case_id: int, n: int, run: int, rules: Rules) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        template: Rows = {}
        bases = {}
        for table in CLONED:
            rows = await conn.fetch(template_query(table, "postgres"), case_id)
            template[table] = [dict(r) for r in rows]
            bases[table] = int(await conn.fetchval(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"'))
        with tqdm(total=n, unit="notice", unit_scale=True, desc="seed PostgreSQL") as bar:
            bar.update(1)
            for start in range(1, n, COPY_BATCH):
                stop = min(n, start + COPY_BATCH)
                copies = clone_rows(template, bases, run, rules, start, stop)
                async with conn.transaction():
                    for table in CLONED:
                        rows = copies[table]
                        if rows:
                            columns = list(rows[0])
                            records = [tuple(r[c] for c in columns) for r in rows]
                            await conn.copy_records_to_table(
                                table, records=records, columns=columns
                            )
                bar.update(stop - start)
        for table in CLONED:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'(SELECT MAX(id) FROM "{table}"))'
            )
            await conn.execute(f'VACUUM (ANALYZE) "{table}"')
    finally:
        await conn.close()


def clone_sqlite(path: Path, case_id: int, n: int, run: int, rules: Rules) -> None:
    with closing(sqlite3.connect(path)) as con:
        con.row_factory = sqlite3.Row
        template: Rows = {}
        bases = {}
        for table in CLONED:
            rows = con.execute(template_query(table, "sqlite"), (case_id,)).fetchall()
            template[table] = [dict(r) for r in rows]
            bases[table] = con.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').fetchone()[0]
        with tqdm(total=n, unit="notice", unit_scale=True, desc="seed SQLite") as bar:
            bar.update(1)
            for start in range(1, n, COPY_BATCH):
                stop = min(n, start + COPY_BATCH)
                copies = clone_rows(template, bases, run, rules, start, stop)
                for table in CLONED:
                    rows = copies[table]
                    if rows:
                        columns = list(rows[0])
                        names = ", ".join(f'"{c}"' for c in columns)
                        marks = ", ".join("?" for _ in columns)
                        con.executemany(
                            f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
                            [tuple(r[c] for c in columns) for r in rows],
                        )
                con.commit()
                bar.update(stop - start)
        con.execute("ANALYZE")
        con.commit()


async def empty_postgres(url: str) -> None:
    """Remove the previous run's cases (units, staff and the stored token stay)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "TRUNCATE notice, case_event, case_clock, evidence_file, subscribe_consent, "
            '"case", citizen CASCADE'
        )
    finally:
        await conn.close()


NOTICES_SQL = (
    "SELECT n.id, n.status, n.delivery_id, c.number, z.oa_openid FROM notice n "
    'JOIN "case" c ON c.id = n.case_id JOIN citizen z ON z.id = c.citizen_id'
)


@dataclass(frozen=True)
class StoredNotice:
    id: int
    status: str
    delivery_id: str
    number: str
    openid: str

    @property
    def client_msg_id(self) -> str:
        return f"{self.number}:{self.id}"  # as wechat.notify.OfficialAccountChannel sends it


async def pg_xacts(url: str) -> int:
    """Transactions committed or rolled back in the database so far (its statistics)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                "WHERE datname = current_database()"
            )
        )
    finally:
        await conn.close()


async def stored_notices(url: str) -> list[StoredNotice]:
    if url.startswith("sqlite://"):
        with closing(sqlite3.connect(url.removeprefix("sqlite://"))) as con:
            return [StoredNotice(*row) for row in con.execute(NOTICES_SQL)]
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [StoredNotice(*row) for row in await conn.fetch(NOTICES_SQL)]
    finally:
        await conn.close()


# --- runs ------------------------------------------------------------------------------------


@dataclass
class Result:
    """One run: timing, what the workers said, CPU, and the check against fake + store."""

    label: str
    backend: str
    workers: int
    notices: int
    seconds: float = 0.0
    first_send: float = 0.0  # seconds after the start
    last_send: float = 0.0
    reported: list[int] = field(default_factory=list)  # "N notice(s) sent" of each worker
    problems: list[str] = field(default_factory=list)
    duplicates: int = 0  # sends of a client_msg_id already sent
    duplicate_messages: int = 0  # messages the fake would have shown twice
    lost: int = 0
    refused: int = 0  # template sends the fake answered with an error
    statuses: Counter[str] = field(default_factory=Counter)
    token_fetches: int = 0
    pg_xacts: int | None = None  # PostgreSQL transactions committed in the run's database
    workers_cpu: float = 0.0
    fake_cpu: float | None = None
    postgres_cpu: float | None = None
    bench_cpu: float = 0.0
    machine_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.notices / self.seconds if self.seconds else 0.0


@dataclass
class Meter:
    """CPU counters at the start of a run."""

    fake: FakeServer
    started: float = field(default_factory=time.perf_counter)
    wall: float = field(default_factory=time.time)
    children: float = field(default_factory=children_cpu)
    bench: float = field(default_factory=time.process_time)
    machine: float = field(default_factory=machine_cpu)
    postgres: float | None = field(default_factory=postgres_cpu)
    fake_cpu: float | None = None

    def __post_init__(self) -> None:
        self.fake_cpu = self.fake.cpu_seconds()

    def stop(self, result: Result) -> None:
        result.seconds = time.perf_counter() - self.started
        result.workers_cpu = children_cpu() - self.children
        result.bench_cpu = time.process_time() - self.bench
        result.machine_cpu = machine_cpu() - self.machine
        fake_cpu, pg_cpu = self.fake.cpu_seconds(), postgres_cpu()
        if fake_cpu is not None and self.fake_cpu is not None:
            result.fake_cpu = fake_cpu - self.fake_cpu
        if pg_cpu is not None and self.postgres is not None:
            result.postgres_cpu = pg_cpu - self.postgres


async def progress(
    session: aiohttp.ClientSession, fake: FakeServer, label: str, n: int, done: asyncio.Event
) -> None:
    """A bar of the sends the fake has seen, until `done`."""
    with tqdm(total=n, unit="notice", unit_scale=True, desc=label, leave=False) as bar:
        while True:
            count = int((await fake.get(session, "/bench/count"))["attempts"])
            bar.update(min(count, n) - bar.n)
            if done.is_set():
                return
            try:
                await asyncio.wait_for(done.wait(), POLL_SECONDS)
            except TimeoutError:
                pass


async def run_baseline(
    session: aiohttp.ClientSession,
    fake: FakeServer,
    settings: Settings,
    rules: Rules,
    templates: NoticeTemplates,
    n: int,
) -> Result:
    """send_template from this process, CLAIM_BATCH at a time, no database."""
    client = WeChatClient(
        session,
        api_base=fake.base,
        appid=OA_APPID,
        secret=OA_SECRET,
        token_store=MemoryTokenStore(),
        timeout_seconds=settings.wechat.timeout_seconds,
    )
    await client.access_token()  # the workers find theirs stored; so does this loop
    await fake.reset(session)
    catalog = rules.catalog
    prefix, digits = catalog.kinds["complaint"].number_prefix, catalog.number_seq_digits
    day = date(1999, 1, 1)
    expected = {}
    values = {"kind": catalog.kinds["complaint"].name, "due": "2026年12月7日"}

    async def send(i: int) -> None:
        number = format_case_number(prefix, day + timedelta(days=i // 9999), i % 9999 + 1, digits)
        notice = templates.render_oa(KIND, {**values, "number": number})
        openid, client_msg_id = f"oBase{i:07d}", f"{number}:{i + 1}"
        expected[client_msg_id] = (openid, number)
        await client.send_template(
            openid, notice.template_id, notice.data, client_msg_id=client_msg_id
        )

    result = Result("baseline: send_template loop", "—", 0, n)
    print(f"baseline: {n:,} send_template calls, {CLAIM_BATCH} at a time, no database ...")
    done = asyncio.Event()
    bar = asyncio.create_task(progress(session, fake, "baseline", n, done))
    meter = Meter(fake)
    for start in range(0, n, CLAIM_BATCH):
        await asyncio.gather(*(send(i) for i in range(start, min(n, start + CLAIM_BATCH))))
    meter.stop(result)
    done.set()
    await bar
    record = await fake.get(session, "/bench/record")
    check_record(result, record, expected, meter.wall)
    result.reported = [n]
    return result


def check_record(
    result: Result,
    record: dict[str, Any],
    expected: dict[str, tuple[str, str]],
    started: float,
    stored: Sequence[StoredNotice] = (),
) -> None:
    """Duplicates, lost notices and disagreements between the fake's record and `expected`
    (client_msg_id -> (openid, number)) and, for worker runs, the store's notice rows."""
    attempts = record["attempts"]
    sent_ids = Counter(str(a[1]) for a in attempts)
    result.duplicates = sum(c - 1 for c in sent_ids.values())
    if attempts:
        result.first_send = min(float(a[2]) for a in attempts) - started
        result.last_send = max(float(a[2]) for a in attempts) - started
    messages = {}
    shown: Counter[tuple[str, str]] = Counter()
    for openid, client_msg_id, msgid, data in record["messages"]:
        shown[openid, client_msg_id] += 1
        messages[client_msg_id] = (openid, int(msgid), data)
    result.duplicate_messages = sum(c - 1 for c in shown.values())
    calls = record["calls"]
    result.refused = int(calls.get(SEND, 0)) - len(attempts)
    result.token_fetches = int(calls.get(TOKEN, 0))
    unexpected = set(messages) - set(expected)
    if unexpected:
        result.problems.append(f"{len(unexpected)} message(s) for no notice of this run")
    wrong = 0
    delivered = {}
    for client_msg_id, (openid, number) in expected.items():
        got = messages.get(client_msg_id)
        if got is None:
            continue
        if got[0] != openid or got[2].get("character_string1") != number:
            wrong += 1
            continue
        delivered[client_msg_id] = got[1]
    if wrong:
        result.problems.append(f"{wrong} message(s) to the wrong citizen or with a wrong number")
    if not stored:
        result.lost = len(expected) - len(delivered)
        return
    result.statuses = Counter(s.status for s in stored)
    ok = mismatched = 0
    for notice in stored:
        msgid = delivered.get(notice.client_msg_id)
        if notice.status != "sent" or msgid is None:
            continue
        if notice.delivery_id != str(msgid):
            mismatched += 1
        ok += 1
    if mismatched:
        result.problems.append(f"{mismatched} notice(s) whose delivery id is not the msgid")
    result.lost = result.notices - ok


def worker_env(settings: Settings, url: str) -> dict[str, str]:
    ours = {
        "COMPLAINT_DESK_DATABASE_URL": url,
        "COMPLAINT_DESK_STORAGE_DATA_DIR": str(settings.data_dir),
        "COMPLAINT_DESK_ORGANISATION_PROFILE": settings.profile,
        "COMPLAINT_DESK_WECHAT_API_BASE": settings.wechat.api_base,
        "COMPLAINT_DESK_WECHAT_OA_APPID": settings.wechat.oa.appid,
        "COMPLAINT_DESK_WECHAT_OA_SECRET": str(settings.wechat.oa.secret),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")}
    return {**env, "PYTHONPATH": str(ROOT), **ours}


async def run_workers(
    session: aiohttp.ClientSession,
    fake: FakeServer,
    label: str,
    backend: str,
    url: str,
    env: dict[str, str],
    workers: int,
    n: int,
    timeout: float,
    profile: Path | None = None,
) -> Result:
    """Start `workers` × `worker --once` together; time them until the last one exits."""
    await fake.reset(session)
    result = Result(label, backend, workers, n)
    postgres = backend == "PostgreSQL"
    xacts = await pg_xacts(url) if postgres else 0
    command = ["-m", "complaint_desk", "worker", "--once"]
    if profile is not None:
        command = ["-m", "cProfile", "-o", str(profile), *command]
    print(f"{label}: {workers} × worker --once, {n:,} notices due ...")
    done = asyncio.Event()
    bar = asyncio.create_task(progress(session, fake, label, n, done))
    meter = Meter(fake)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            *command,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    try:
        outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), timeout)
    except TimeoutError:
        raise SystemExit(f"{label}: the workers did not finish within {timeout:g} s") from None
    finally:
        for p in procs:  # timed out or interrupted: leave no worker behind
            if p.returncode is None:
                p.kill()
        done.set()
    meter.stop(result)
    await bar
    if postgres:
        await asyncio.sleep(PG_STATS_DELAY)  # backends send their statistics as they exit
        result.pg_xacts = await pg_xacts(url) - xacts - 1  # less our own first query
    for p, (out, err) in zip(procs, outputs, strict=True):
        text = out.decode(errors="replace")
        try:
            result.reported.append(int(text.split()[0]))
        except (IndexError, ValueError):
            result.reported.append(0)
        if p.returncode != 0 or not text.strip():
            tail = "\n".join(err.decode(errors="replace").splitlines()[-10:])
            result.problems.append(f"a worker exited with {p.returncode}: {text.strip()}\n{tail}")
    if sum(result.reported) != n:
        result.problems.append(f"workers reported {sum(result.reported)} sent, not {n}")
    record = await fake.get(session, "/bench/record")
    stored = await stored_notices(url)
    if len(stored) != n:
        result.problems.append(f"the store holds {len(stored)} notices, not {n}")
    expected = {s.client_msg_id: (s.openid, s.number) for s in stored}
    check_record(result, record, expected, meter.wall, stored)
    return result


async def empty_pass(env: dict[str, str]) -> float:
    """Seconds of one `worker --once` with nothing due (start-up, connect, an empty pass)."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "complaint_desk",
        "worker",
        "--once",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0 or not out.startswith(b"0 notice(s) sent"):
        raise SystemExit(f"worker --once failed ({proc.returncode}): {out!r}\n{err.decode()}")
    return time.perf_counter() - started


# --- report ----------------------------------------------------------------------------------


def per_notice(r: Result) -> float:
    """CPU milliseconds per notice of the run's own processes (workers or this process, the
    fake WeChat and, on PostgreSQL, the database server)."""
    used = (r.workers_cpu if r.workers else r.bench_cpu) + (r.fake_cpu or 0.0)
    if r.backend == "PostgreSQL":
        used += r.postgres_cpu or 0.0
    return used * 1000 / r.notices


def others(r: Result) -> float:
    """CPU seconds the rest of the machine used during the run."""
    ours = r.workers_cpu + r.bench_cpu + (r.fake_cpu or 0.0) + (r.postgres_cpu or 0.0)
    return max(r.machine_cpu - ours, 0.0)


def report(
    results: list[Result],
    startup: dict[str, float],
    pg_version: str,
    pg_url: str | None,
    profiled: bool,
) -> bool:
    """Print the figures; True when every target is met."""
    baseline = results[0]
    print()
    print(
        f"Complaint Desk notice benchmark: {baseline.notices:,} notices per run, "
        f"{pg_version or 'no PostgreSQL'}, SQLite {sqlite3.sqlite_version}, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, claim batch {CLAIM_BATCH}"
    )
    header = ["run", "workers", "notices", "seconds", "notices/s", "× baseline"]
    header += ["first→last send", "sent by each", "duplicates", "lost"]
    rows = []
    for r in results:
        rows.append(
            (
                r.label,
                str(r.workers) if r.workers else "— (1 process)",
                f"{r.notices:,}",
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                f"{r.rate / baseline.rate:.2f}",
                f"{r.first_send:.2f}–{r.last_send:.2f} s",
                " + ".join(f"{x:,}" for x in r.reported),
                str(r.duplicates),
                str(r.lost),
            )
        )
    table(header, rows)

    cores = os.cpu_count() or 1
    print("\nCPU time during each run (share of the run's wall time; 100% = one core):")
    header = ["run", "workers", "fake WeChat", "PostgreSQL", "this process", "rest of machine"]
    header += ["ms/notice", f"ceiling on {cores} CPUs"]
    cpu_rows = [
        (
            r.label,
            cpu(r.workers_cpu, r.seconds) if r.workers else "—",
            cpu(r.fake_cpu, r.seconds),
            cpu(r.postgres_cpu, r.seconds),
            cpu(r.bench_cpu, r.seconds),
            cpu(others(r), r.seconds),
            f"{per_notice(r):.2f}",
            f"{cores * 1000 / per_notice(r):,.0f}/s",
        )
        for r in results
    ]
    table(header, cpu_rows)
    print(
        "(ms/notice: CPU of the run's processes — workers or this process, fake, PostgreSQL — "
        "per notice; ceiling: the rate at which that much CPU fills every core; rest of machine: "
        "its busy time less the columns before — unrelated processes and kernel time charged to "
        "no process, such as loopback networking)"
    )

    one_rates = [r.rate for r in results if r.backend == "PostgreSQL" and r.workers == 1]
    two_rates = [r.rate for r in results if r.backend == "PostgreSQL" and r.workers == 2]
    duplicates = sum(r.duplicates + r.duplicate_messages for r in results)
    lost = sum(r.lost for r in results)
    problems = [(r.label, p) for r in results for p in r.problems]
    checks: list[tuple[str, str, bool | None]] = [
        (f"duplicates (all runs): {duplicates}", "0", duplicates == 0),
        (f"lost (all runs): {lost}", "0", lost == 0),
        (f"other problems (all runs): {len(problems)}", "0", not problems),
    ]
    if one_rates and two_rates:
        one, two = statistics.median(one_rates), statistics.median(two_rates)
        median = "median " if len(one_rates) > 1 else ""
        checks.append(
            (
                f"PostgreSQL {median}2 workers {two:,.0f}/s vs 1 worker {one:,.0f}/s "
                f"(×{two / one:.2f})",
                "≥ 1 worker",
                two >= one,
            )
        )
    else:
        checks.append(("PostgreSQL 2 workers vs 1 worker: not measured", "≥ 1 worker", None))
    print()
    met = {True: "yes", False: "NO", None: "—"}
    table(("figure", "target", "met?"), [(f, t, met[ok]) for f, t, ok in checks])

    print()
    for backend, seconds in startup.items():
        print(f"worker --once with nothing due ({backend}): {seconds:.2f} s (start-up, included)")
    for r in results:
        statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(r.statuses.items()))
        xacts = (
            "" if r.pg_xacts is None else f", {r.pg_xacts / r.notices:.1f} PG transactions/notice"
        )
        print(
            f"{r.label}: {r.token_fetches} token fetch(es), {r.refused} send(s) refused by the "
            f"fake" + (f", notice rows: {statuses}" if statuses else "") + xacts
        )
    if profiled:
        print("(the first PostgreSQL 1-worker run ran under cProfile: slower than without)")
    busy = [r for r in results if r.fake_cpu is not None and r.fake_cpu / r.seconds > FAKE_BUSY]
    for r in busy:
        assert r.fake_cpu is not None
        print(
            f"note: the fake WeChat used {r.fake_cpu / r.seconds:.0%} of a core in "
            f"'{r.label}': that run may be bounded by the fake, not by the outbox"
        )
    for r in results:
        if others(r) / r.seconds > OTHERS_BUSY:
            print(
                f"note: the rest of the machine used {others(r) / r.seconds:.0%} of a core during "
                f"'{r.label}': if that was unrelated work, its figures are low"
            )
    if pg_url is None:
        print("PostgreSQL was not reachable: the two-worker target is not measured")
    for label, problem in problems:
        print(f"problem ({label}): {problem}")
    return all(ok is True for _, _, ok in checks)


def print_profile(path: Path, top: int = 25) -> None:
    print(f"\nworker profile ({path}, 1 worker on PostgreSQL), top {top} by own time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


# --- main ------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> int:
    n: int = args.notices
    tmp = Path(tempfile.mkdtemp(prefix="cd_bench_notices_"))
    profile = Path(args.profile).resolve() if args.profile else None
    pg_name = f"cd_bench_{uuid.uuid4().hex[:12]}"
    pg_admin_url: str | None = None if args.no_postgres else args.postgres
    pg_url: str | None = None
    fake: FakeServer | None = None
    results: list[Result] = []
    startup: dict[str, float] = {}
    pg_version = ""
    try:
        templates = load_notice_templates()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")}
        fake = await start_fake(tmp, {**base_env, "PYTHONPATH": str(ROOT)}, templates)
        settings = load_settings(
            env={},
            overrides={
                "storage.data_dir": str(tmp),
                "wechat.api_base": fake.base,
                "wechat.oa.appid": OA_APPID,
                "wechat.oa.secret": OA_SECRET,
            },
        )
        rules = load_rules(settings)
        print(f"fake WeChat {fake.base} (pid {fake.proc.pid}), temp dir {tmp}")

        if pg_admin_url is not None:
            try:
                await pg_admin(pg_admin_url, f'CREATE DATABASE "{pg_name}"')
                pg_url = with_database(pg_admin_url, pg_name)
            except Exception as exc:  # unreachable server, wrong credentials, missing driver
                print(f"PostgreSQL not reachable at {pg_admin_url} ({type(exc).__name__}: {exc})")

        async with aiohttp.ClientSession() as session:
            results.append(await run_baseline(session, fake, settings, rules, templates, n))

            if pg_url is not None:
                import asyncpg

                conn = await asyncpg.connect(pg_url)
                version = await conn.fetchval("SHOW server_version")
                await conn.close()
                pg_version = "PostgreSQL " + str(version).split()[0]
                intake = await prepare_store(pg_url, rules)
                env = worker_env(settings, pg_url)
                startup["PostgreSQL"] = await empty_pass(env)
                plan = [(r, w) for r in range(args.rounds) for w in (1, 2)]
                for run, (round_, workers) in enumerate(plan, start=1):
                    if run > 1:
                        await empty_postgres(pg_url)
                    case_id = await file_template(pg_url, rules, intake, f"oBench{run}x0000000")
                    await clone_postgres(pg_url, case_id, n, run, rules)
                    label = f"PostgreSQL, {workers} worker{'s' if workers > 1 else ''}"
                    if args.rounds > 1:
                        label += f" #{round_ + 1}"
                    prof = profile if run == 1 else None
                    result = await run_workers(
                        session,
                        fake,
                        label,
                        "PostgreSQL",
                        pg_url,
                        env,
                        workers,
                        n,
                        args.timeout,
                        prof,
                    )
                    results.append(result)

            if not args.no_sqlite:
                path = tmp / "bench.sqlite3"
                url = f"sqlite://{path}"
                intake = await prepare_store(url, rules)
                env = worker_env(settings, url)
                startup["SQLite"] = await empty_pass(env)
                run = 0
                case_id = await file_template(url, rules, intake, f"oBench{run}x0000000")
                clone_sqlite(path, case_id, n, run, rules)
                results.append(
                    await run_workers(
                        session, fake, "SQLite, 1 worker", "SQLite", url, env, 1, n, args.timeout
                    )
                )
        met = report(results, startup, pg_version, pg_url, profile is not None)
    finally:
        if fake is not None:
            fake.stop()
        if pg_url is not None and pg_admin_url is not None:
            await pg_admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if profile is not None and profile.exists():
        print_profile(profile)
    return 0 if met else 1


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # so that `finally` stops the fake and drops the database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_notices", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--notices", type=int, default=5000, help="notices per run")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--postgres", default=DEFAULT_PG_URL, metavar="URL", help="server for the throw-away db"
    )
    group.add_argument("--no-postgres", action="store_true", help="baseline and SQLite only")
    parser.add_argument(
        "--rounds", type=int, default=1, help="PostgreSQL 1-worker + 2-worker runs to do"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds a worker run may take"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="run the 1-worker PostgreSQL run under cProfile"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (SQLite, logs)")
    args = parser.parse_args(argv)
    if args.notices < 1 or args.timeout <= 0 or args.rounds < 1:
        parser.error("--notices, --rounds and --timeout must be > 0")
    signal.signal(signal.SIGTERM, _terminate)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
