"""Bot benchmark: signed text pushes driving complaint dialogues, beside a bare aiohttp handler.

Three processes besides this one, all on 127.0.0.1 and free ports, in a throw-away directory:

* the real server, ``python -m complaint_desk serve`` over a freshly migrated SQLite store
  (configured through ``COMPLAINT_DESK_*`` variables built from ``load_settings``; the deadline
  worker off, ``[wechat] api_base`` pointing at the fake WeChat below);
* the fake WeChat API (``wechat.simulator``); text dialogues never call it;
* a bare aiohttp server whose POST handler reads the body and returns the constant ``success``;
* then, unless ``--no-postgres``, the real server again with ``serve --workers 2`` on a
  throw-away PostgreSQL database, under the same load (server CPU summed over its processes);
* the no-database path: the bot's own signature check, XML parsing and XML reply
  (``wechat.push``) in a bare aiohttp app, no store, no dialogue — the ceiling of this stack.

This process is the load generator: N virtual citizens (distinct openids, one connection each,
``--concurrency``, default 64) each file complaints by text, over and over: 投诉 → 1 → a
respondent → 跳过 (time) → 跳过 (place) → a description → a demand → 跳过 (photos) → a phone
number → 确认, which files a real case. Before the warm-up citizen i answers i mod 10 steps, so
the citizens are spread over the dialogue instead of all filing at the same moment. Every push
is signed as WeChat signs it (plain mode, current timestamp, unique MsgId) with
``wechat.simulator.PushSigner``. After a warm-up that is not counted, each server gets the same
load for ``--seconds`` (default 20) or ``--max-requests``, whichever ends first; latency is
taken per request, from sending the push to reading the whole reply. An error is a transport failure, a status other than 200, or an
unexpected reply: from the bot, an XML reply with a <Content> that asks the next question of the
dialogue (确认 must answer 已提交,编号 …); from the bare handler, ``success``.

Printed: requests/s of each and the bot's ratios (targets: ≥ 30% of bare, ≥ 40% of the no-DB
path), server CPU per push, the group commit's mean batch size, p50/p95/p99 (target:
bot p99 < 50 ms), errors (target 0), cases filed (checked against the store), the CPU time each
server and this process used, and each dialogue step's latency. Exit status 0 when every target
is met, 1 otherwise. Run from the repository root (not part of CI or plain ``pytest``):

    python -m tests.bench.bench_bot [--seconds N] [--concurrency N]
    python -m tests.bench.bench_bot --seconds 3                 # a quick check
    python -m tests.bench.bench_bot --profile /tmp/bot.prof     # the bot server under cProfile

The server's log goes to ``server.log`` in the temp directory (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import pstats
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
import asyncpg

from cases.store import db
from config.settings import Settings, load_settings
from tests.bench.common import cpu, free_port, ms, percentile, pg_admin, table, with_database
from wechat.simulator import PushSigner, text_xml

ROOT = Path(__file__).resolve().parents[2]
OA_APPID = "wx00000000000000bb"
OA_SECRET = "oa-app-secret-for-bench"
OA_TOKEN = "oa-token-for-bench"
ACCOUNT = "gh_benchaccount"
WEBHOOK = "/wechat/oa"

# Targets of the issue.
MIN_RATIO = 0.30
PG_URL = os.environ.get(
    "COMPLAINT_DESK_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
# Issue 17: the full path against the no-database path (signature + parse + reply).
MIN_NODB_RATIO = 0.40
MODES = ("bot", "nodb", "bare")
MAX_P99_MS = 50.0

BENCH_CASES_PER_DAY = 1_000_000
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0
ERROR_SAMPLES = 5

RESPONDENTS = (
    "城东便民超市",
    "好又多生鲜店",
    "金福珠宝",
    "康宁大药房",
    "小肥羊火锅城关店",
    "鑫达汽车维修厂",
    "美佳美容美发",
    "智联手机专卖",
)
DESCRIPTIONS = (
    "昨天在店里买的牛奶已经过了保质期,要求退货被店员拒绝。",
    "买的手机用了三天就无法开机,商家不给维修也不给换。",
    "结账时实际价格比货架上的标价高,多收了十几块钱。",
    "店里宣传买一送一,付款后却说活动已经结束,不肯兑现。",
    "办的会员卡还有余额,商家突然停业,打电话没人接。",
)
DEMANDS = ("退货并赔偿", "退款", "维修或更换", "退还多收的差价", "依法查处")


@dataclass(frozen=True)
class Step:
    """One push of the dialogue: what the citizen types and what the bot's answer must hold."""

    name: str
    answers: tuple[str, ...]  # cycled by round, so citizens do not all tell the same story
    expect: str


STEPS = (
    Step("投诉", ("投诉",), "哪一类"),
    Step("category", ("1",), "对象"),
    Step("respondent", RESPONDENTS, "什么时候"),
    Step("time: 跳过", ("跳过",), "在哪里"),
    Step("place: 跳过", ("跳过",), "事情经过"),
    Step("description", DESCRIPTIONS, "怎样处理"),
    Step("demands", DEMANDS, "照片"),
    Step("photos: 跳过", ("跳过",), "手机号"),
    Step("phone", (), "请核对"),  # no answers: each citizen's own number
    Step("确认", ("确认",), "已提交,编号"),  # not the quota's 「您今天已提交 N 件」
)
CONFIRM = len(STEPS) - 1

BARE_SERVER = """
import sys
from aiohttp import web

async def constant(request):
    await request.read()
    return web.Response(text="success")

async def ready(request):
    return web.Response(text="ok")

app = web.Application()
app.router.add_post(sys.argv[2], constant)
app.router.add_get("/healthz", ready)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""

# The no-database path: the bot's own signature check, XML parsing and reply, and nothing else
# (settings from the same COMPLAINT_DESK_* environment as the bot server).
NODB_SERVER = """
import sys
from aiohttp import web
from config.settings import load_settings
from wechat import push

oa = load_settings().wechat.oa

async def receive(request):
    try:
        opened = await push.open_push(request, oa)
    except push.PushRefused as refused:
        return refused.response
    f = opened.fields
    text = push.text_reply(str(f["ToUserName"]), str(f["FromUserName"]), "收到,谢谢。")
    return push.reply(request, opened, text)

async def ready(request):
    return web.Response(text="ok")

app = web.Application()
app.router.add_post(sys.argv[2], receive)
app.router.add_get("/healthz", ready)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

FAKE_WECHAT = """
import sys
from aiohttp import web
from wechat.simulator import FakeWeChat, create_fake_wechat_app

fake = FakeWeChat(apps={sys.argv[2]: sys.argv[3]})
web.run_app(create_fake_wechat_app(fake), host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


# --- processes -------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]
    base: str

    def cpu_seconds(self) -> float | None:
        """User + system CPU time so far of the process and its children (`serve --workers N`
        forks them), from Linux /proc; None elsewhere."""
        total, found = 0, False
        for stat_path in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat_path.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(stat_path.parent.name), int(fields[1])
            if self.proc.pid in (pid, ppid):
                total += int(fields[11]) + int(fields[12])
                found = True
        return total / os.sysconf("SC_CLK_TCK") if found else None

    def tail(self, lines: int = 20) -> str:
        if not self.log.closed:
            self.log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # aiohttp's run_app shuts down cleanly on SIGTERM
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start(name: str, args: Sequence[str], env: dict[str, str], tmp: Path, port: int) -> Server:
    log_path = tmp / f"{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return Server(name, proc, log_path, log, f"http://127.0.0.1:{port}")


async def wait_ready(server: Server, path: str) -> None:
    """Poll `path` until it answers 200; fail with the log's tail if the process dies."""
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            if server.proc.poll() is not None:
                raise SystemExit(
                    f"{server.name} exited ({server.proc.returncode}):\n{server.tail()}"
                )
            try:
                async with session.get(server.base + path) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{server.name} not ready after {START_TIMEOUT:g} s:\n{server.tail()}"
                )
            await asyncio.sleep(0.1)


def server_env(settings: Settings) -> dict[str, str]:
    """This process's environment without COMPLAINT_DESK_*, plus the variables for `settings`."""
    ours = {
        "COMPLAINT_DESK_SERVER_HOST": settings.server.host,
        "COMPLAINT_DESK_SERVER_PORT": str(settings.server.port),
        "COMPLAINT_DESK_DATABASE_URL": settings.database_url,
        "COMPLAINT_DESK_STORAGE_DATA_DIR": str(settings.data_dir),
        "COMPLAINT_DESK_STORAGE_MEDIA_DIR": str(settings.media_dir),
        "COMPLAINT_DESK_ORGANISATION_PROFILE": settings.profile,
        "COMPLAINT_DESK_WECHAT_API_BASE": settings.wechat.api_base,
        "COMPLAINT_DESK_WECHAT_OA_APPID": settings.wechat.oa.appid,
        "COMPLAINT_DESK_WECHAT_OA_SECRET": str(settings.wechat.oa.secret),
        "COMPLAINT_DESK_WECHAT_OA_TOKEN": str(settings.wechat.oa.token),
        "COMPLAINT_DESK_WORKER_IN_PROCESS": "true" if settings.worker.in_process else "false",
        "COMPLAINT_DESK_MINIPROGRAM_CASES_PER_DAY": str(settings.miniprogram.cases_per_day),
    }
    if load_settings(env=ours) != settings:
        raise SystemExit("the environment does not reproduce the benchmark's settings")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")}
    return {**env, **ours}


# --- load ------------------------------------------------------------------------------------


@dataclass
class Citizen:
    """One virtual citizen: where they are in the dialogue and how many rounds they did."""

    openid: str
    phone: str
    step: int = 0
    round: int = 0

    def answer(self) -> str:
        answers = STEPS[self.step].answers
        return answers[self.round % len(answers)] if answers else self.phone

    def advance(self) -> None:
        self.step += 1
        if self.step == len(STEPS):
            self.step = 0
            self.round += 1


@dataclass
class Tally:
    """What one phase measured."""

    ms: list[float] = field(default_factory=list)
    step_ms: dict[str, list[float]] = field(default_factory=dict)
    started: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    filed: int = 0
    seconds: float = 0.0
    server_cpu: float | None = None
    client_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.ms) / self.seconds if self.seconds else 0.0

    def error(self, problem: str) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(problem)


class Load:
    """Signed pushes from virtual citizens to one webhook URL."""

    def __init__(self, url: str, mode: str, citizens: list[Citizen]) -> None:
        self.url = url
        self.mode = mode  # "bot", "nodb" (signature + parse + reply) or "bare"
        self.bare = mode == "bare"
        self.citizens = citizens
        self.signer = PushSigner(OA_TOKEN, OA_APPID)
        self.msg_ids = itertools.count(7 * 10**18 + 10**17 * MODES.index(mode))

    def signed(self, citizen: Citizen, text: str) -> tuple[dict[str, str], bytes]:
        xml = text_xml(citizen.openid, ACCOUNT, text, next(self.msg_ids), int(time.time()))
        params, body = self.signer.sign(xml)
        return params, body.encode()

    def problem(self, citizen: Citizen, status: int, reply: str) -> str | None:
        """Why this reply is wrong for the citizen's step (None when it is right)."""
        step = STEPS[citizen.step]
        if status != 200:
            return f"{step.name}: HTTP {status} {reply[:80]!r}"
        if self.bare:
            return None if reply == "success" else f"bare: {reply[:80]!r}"
        if "<Content>" not in reply:
            return f"{step.name}: no <Content> in {reply[:120]!r}"
        if self.mode == "nodb":
            return None
        if "<Content>" not in reply:
            return f"{step.name}: no <Content> in {reply[:120]!r}"
        if step.expect not in reply:
            content = reply.split("<Content>", 1)[1][:120]
            return f"{step.name}: expected {step.expect!r}, got {content!r}"
        return None

    async def spread(self, session: aiohttp.ClientSession, tally: Tally) -> None:
        """Citizen i first answers i mod len(STEPS) steps, so they are not all at one step."""

        async def walk(i: int, citizen: Citizen) -> None:
            for _ in range(i % len(STEPS)):
                await self.push(session, citizen, tally)

        await asyncio.gather(*(walk(i, c) for i, c in enumerate(self.citizens)))

    async def run(
        self, session: aiohttp.ClientSession, seconds: float, max_requests: int, server: Server
    ) -> Tally:
        """Every citizen pushes, one push at a time, until time or the request budget is up."""
        tally = Tally()
        cpu0, server_cpu0 = time.process_time(), server.cpu_seconds()
        end = time.monotonic() + seconds
        started = time.perf_counter()

        async def citizen_loop(citizen: Citizen) -> None:
            while time.monotonic() < end and tally.started < max_requests:
                tally.started += 1
                await self.push(session, citizen, tally)

        await asyncio.gather(*(citizen_loop(c) for c in self.citizens))
        tally.seconds = time.perf_counter() - started
        tally.client_cpu = time.process_time() - cpu0
        server_cpu1 = server.cpu_seconds()
        if server_cpu0 is not None and server_cpu1 is not None:
            tally.server_cpu = server_cpu1 - server_cpu0
        return tally

    async def post(
        self, session: aiohttp.ClientSession, citizen: Citizen, text: str
    ) -> tuple[int, str]:
        """(HTTP status, reply) of one signed push; status 0 when the request failed."""
        params, body = self.signed(citizen, text)
        try:
            async with session.post(
                self.url, params=params, data=body, headers={"Content-Type": "text/xml"}
            ) as resp:
                return resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, f"{type(exc).__name__}: {exc}"

    async def push(self, session: aiohttp.ClientSession, citizen: Citizen, tally: Tally) -> None:
        """The citizen's next answer; timed and checked, and the dialogue moves on if right."""
        step = STEPS[citizen.step]
        text = citizen.answer()
        began = time.perf_counter()
        status, reply = await self.post(session, citizen, text)
        ms = (time.perf_counter() - began) * 1000
        problem = self.problem(citizen, status, reply)
        if problem is None:
            tally.ms.append(ms)
            tally.step_ms.setdefault(step.name, []).append(ms)
            tally.filed += self.mode == "bot" and citizen.step == CONFIRM
            citizen.advance()
            return
        tally.error(problem)
        if self.mode == "bot":  # start over from a clean slate (not counted)
            await self.post(session, citizen, "取消")
            citizen.step = 0
            citizen.round += 1


async def measure(
    name: str,
    server: Server,
    mode: str,
    concurrency: int,
    warmup: float,
    seconds: float,
    max_requests: int,
) -> tuple[Tally, Tally]:
    """(warm-up, measured) tallies of one server under the same load."""
    prefix = mode.capitalize()
    citizens = [Citizen(f"o{prefix}{i:06d}", f"138{i:08d}") for i in range(concurrency)]
    load = Load(server.base + WEBHOOK, mode, citizens)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        print(f"{name}: warm-up {warmup:g} s ...")
        spread = Tally()
        await load.spread(session, spread)
        warm = await load.run(session, warmup, max_requests, server)
        warm.errors += spread.errors
        warm.error_samples[:0] = spread.error_samples
        print(f"{name}: measuring {seconds:g} s at {concurrency} connections ...")
        tally = await load.run(session, seconds, max_requests, server)
    return warm, tally


# --- report ----------------------------------------------------------------------------------


def report(
    bot: Tally,
    nodb: Tally,
    bare: Tally,
    warm: tuple[Tally, ...],
    concurrency: int,
    filed_total: int,
    stored: int,
    profiled: bool,
) -> bool:
    """Print the figures; True when every target is met."""
    print()
    print(
        f"Complaint Desk bot benchmark: {concurrency} connections, SQLite "
        f"{sqlite3.sqlite_version}, Python {sys.version.split()[0]}, aiohttp "
        f"{aiohttp.__version__}, {os.cpu_count()} CPUs"
    )
    header = ["server", "requests", "seconds", "req/s", "p50", "p95", "p99", "max", "errors"]
    header += ["server CPU", "load CPU"]
    rows = []
    for label, t in (("full bot path", bot), ("no-DB path", nodb), ("bare aiohttp handler", bare)):
        rows.append(
            (
                label,
                f"{len(t.ms):,}",
                f"{t.seconds:.1f}",
                f"{t.rate:,.0f}",
                ms(percentile(t.ms, 0.50)),
                ms(percentile(t.ms, 0.95)),
                ms(percentile(t.ms, 0.99)),
                ms(max(t.ms, default=math.nan)),
                f"{t.errors}",
                cpu(t.server_cpu, t.seconds),
                cpu(t.client_cpu, t.seconds),
            )
        )
    table(header, rows)

    ratio = bot.rate / bare.rate if bare.rate else 0.0
    nodb_ratio = bot.rate / nodb.rate if nodb.rate else 0.0
    p99 = percentile(bot.ms, 0.99)
    warm_errors = sum(t.errors for t in warm)
    errors = bot.errors + nodb.errors + bare.errors + warm_errors
    checks = (
        (f"throughput bot/bare: {ratio:.2f}", f"≥ {MIN_RATIO:.2f}", ratio >= MIN_RATIO),
        (
            f"throughput bot/no-DB path: {nodb_ratio:.2f}",
            f"≥ {MIN_NODB_RATIO:.2f}",
            nodb_ratio >= MIN_NODB_RATIO,
        ),
        (f"bot p99: {ms(p99)}", f"< {MAX_P99_MS:g} ms", p99 < MAX_P99_MS),
        (f"errors: {errors} ({warm_errors} in warm-ups)", "0", errors == 0),
        (f"store holds {stored} cases", f"{filed_total} filed", stored == filed_total),
    )
    print()
    table(("figure", "target", "met?"), [(f, t, "yes" if ok else "NO") for f, t, ok in checks])
    print(
        f"cases filed: {bot.filed:,} while measured ({bot.filed / bot.seconds:,.1f}/s), "
        f"{filed_total:,} in all with the warm-up"
    )
    if profiled:
        print("(the bot server ran under cProfile: its figures are slower than without)")

    print("\nbot latency per dialogue step:")
    step_rows = []
    for step in STEPS:
        values = bot.step_ms.get(step.name, [])
        step_rows.append(
            (
                step.name,
                f"{len(values):,}",
                ms(percentile(values, 0.50)),
                ms(percentile(values, 0.95)),
                ms(percentile(values, 0.99)),
            )
        )
    table(("step", "replies", "p50", "p95", "p99"), step_rows)
    labelled = (
        ("bot", bot),
        ("no-DB", nodb),
        ("bare", bare),
        *((f"{name} warm-up", w) for name, w in zip(("bot", "no-DB", "bare"), warm, strict=True)),
    )
    for label, t in labelled:
        for sample in t.error_samples:
            print(f"error ({label}): {sample}")
    return all(ok for _, _, ok in checks)


def print_profile(path: Path, top: int = 25) -> None:
    print(f"\nbot server profile ({path}), top {top} by own time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


# --- main ------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="cd_bench_bot_"))
    servers: list[Server] = []
    profile = Path(args.profile).resolve() if args.profile else None
    try:
        db_path = tmp / "bench.sqlite3"
        wechat_port, bot_port, bare_port = free_port(), free_port(), free_port()
        nodb_port = free_port()
        settings = load_settings(
            env={},
            overrides={
                "server.host": "127.0.0.1",
                "server.port": bot_port,
                "database.url": f"sqlite://{db_path}",
                "storage.data_dir": str(tmp),
                "wechat.api_base": f"http://127.0.0.1:{wechat_port}",
                "wechat.oa.appid": OA_APPID,
                "wechat.oa.secret": OA_SECRET,
                "wechat.oa.token": OA_TOKEN,
                "worker.in_process": False,
                # A benchmark citizen files far more than a real one may in a day.
                "miniprogram.cases_per_day": BENCH_CASES_PER_DAY,
            },
        )
        await db.migrate_store(settings.database_url)
        env = server_env(settings)

        fake_args = ["-c", FAKE_WECHAT, str(wechat_port), OA_APPID, OA_SECRET]
        servers.append(start("fake-wechat", fake_args, env, tmp, wechat_port))
        serve = ["-m", "complaint_desk", "serve"]
        if profile is not None:
            serve = ["-m", "cProfile", "-o", str(profile), *serve]
        bot = start("server", serve, env, tmp, bot_port)
        servers.append(bot)
        bare = start("bare", ["-c", BARE_SERVER, str(bare_port), WEBHOOK], env, tmp, bare_port)
        servers.append(bare)
        nodb_env = {**env, "COMPLAINT_DESK_SERVER_PORT": str(nodb_port)}
        nodb_args = ["-c", NODB_SERVER, str(nodb_port), WEBHOOK]
        nodb = start("nodb", nodb_args, nodb_env, tmp, nodb_port)
        servers.append(nodb)
        await wait_ready(servers[0], "/cgi-bin/token")
        await wait_ready(bot, "/healthz")
        await wait_ready(bare, "/healthz")
        await wait_ready(nodb, "/healthz")
        print(f"bot server {bot.base} (pid {bot.proc.pid}), bare {bare.base}, store {db_path}")

        common = (args.concurrency, args.warmup, args.seconds, args.max_requests)
        bot_warm, bot_tally = await measure("full bot path", bot, "bot", *common)
        nodb_warm, nodb_tally = await measure("no-DB path", nodb, "nodb", *common)
        bare_warm, bare_tally = await measure("bare aiohttp handler", bare, "bare", *common)
        with closing(sqlite3.connect(db_path)) as con:
            stored = int(con.execute('SELECT COUNT(*) FROM "case"').fetchone()[0])
        filed_total = bot_warm.filed + bot_tally.filed
        warm = (bot_warm, nodb_warm, bare_warm)
        met = report(
            bot_tally,
            nodb_tally,
            bare_tally,
            warm,
            args.concurrency,
            filed_total,
            stored,
            bool(profile),
        )
        for label, t in (("full bot path", bot_tally), ("no-DB path", nodb_tally)):
            if t.server_cpu is not None and t.ms:
                print(f"server CPU per push, {label}: {t.server_cpu / len(t.ms) * 1e6:,.0f} µs")
        bot.stop()  # it logs its group commit's batches as it closes the store
        print(next((line for line in bot.tail(50).splitlines() if "group commit:" in line), ""))
        if not args.no_postgres:
            pg_met = await postgres_beside(bot_tally, env, tmp, common)
            met = met and pg_met
    finally:
        for server in reversed(servers):
            server.stop()
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if profile is not None:
        print_profile(profile)
    return 0 if met else 1


async def postgres_beside(
    sqlite: Tally, env: dict[str, str], tmp: Path, common: tuple[int, float, float, int]
) -> bool:
    """The same load on PostgreSQL with `serve --workers 2`, in a throw-away database; issue 17
    asks it to answer at least as many pushes as the one SQLite process."""
    name = f"cd_bench_bot_{uuid.uuid4().hex[:8]}"
    await pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    url = with_database(PG_URL, name)
    try:
        await db.migrate_store(url)
        port = free_port()
        pg_env = {
            **env,
            "COMPLAINT_DESK_DATABASE_URL": url,
            "COMPLAINT_DESK_SERVER_PORT": str(port),
        }
        server = start(
            "server-pg", ["-m", "complaint_desk", "serve", "--workers", "2"], pg_env, tmp, port
        )
        try:
            await wait_ready(server, "/healthz")
            await asyncio.sleep(1.0)  # both processes listening
            warm, tally = await measure(
                "full bot path, PostgreSQL, 2 processes", server, "bot", *common
            )
        finally:
            server.stop()
        conn = await asyncpg.connect(url, timeout=5)
        try:
            stored = int(await conn.fetchval('SELECT COUNT(*) FROM "case"'))
        finally:
            await conn.close()
    finally:
        await pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    filed = warm.filed + tally.filed
    per_push = tally.server_cpu / len(tally.ms) * 1e6 if tally.server_cpu and tally.ms else math.nan
    print()
    table(
        ("PostgreSQL, serve --workers 2", "req/s", "p50", "p99", "errors", "server CPU per push"),
        [
            (
                "full bot path",
                f"{tally.rate:,.0f}",
                ms(percentile(tally.ms, 0.50)),
                ms(percentile(tally.ms, 0.99)),
                f"{tally.errors + warm.errors}",
                f"{per_push:,.0f} µs",
            )
        ],
    )
    checks = (
        (
            f"PostgreSQL ×2 / SQLite ×1: {tally.rate / sqlite.rate if sqlite.rate else 0:.2f}",
            "≥ 1.00",
            tally.rate >= sqlite.rate,
        ),
        (f"PostgreSQL store holds {stored} cases", f"{filed} filed", stored == filed),
        (f"PostgreSQL errors: {tally.errors + warm.errors}", "0", tally.errors + warm.errors == 0),
    )
    table(("figure", "target", "met?"), [(f, t, "yes" if ok else "NO") for f, t, ok in checks])
    return all(ok for _, _, ok in checks)


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # so that `finally` stops the servers on SIGTERM as on Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_bot", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per server")
    parser.add_argument("--concurrency", type=int, default=64, help="citizens = connections")
    parser.add_argument("--warmup", type=float, default=3.0, help="uncounted seconds first")
    parser.add_argument(
        "--max-requests", type=int, default=500_000, help="request budget per phase"
    )
    parser.add_argument("--profile", metavar="FILE", help="run the bot server under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (store, logs)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0 or args.concurrency < 1 or args.max_requests < 1:
        parser.error("--seconds, --concurrency, --max-requests must be > 0, --warmup ≥ 0")
    signal.signal(signal.SIGTERM, _terminate)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
