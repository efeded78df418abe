"""Load benchmark (issue 8, targets L1 and L2): a large city hotline's peak hour, sustained.

Beijing's 12345 took about 11 million cases in 2020, some 30,000 a day; a peak hour at ten times
the daily average is 300,000 a day's pace, about 3.5 filings a second (`--rate`). Citizens arrive
at that pace (open loop: an arrival does not wait for the previous one), alternately by chat
(a whole signed dialogue, ten pushes) and by the mini-program (login, then one filing with an
Idempotency-Key), for `--seconds`. Two deployments on 127.0.0.1, one after the other:

* SQLite, one `complaint-desk serve` process with the in-process worker (the default);
* PostgreSQL, `complaint-desk serve --workers 2` plus two `complaint-desk worker` processes,
  Redis for the shared access token (PostgreSQL at $COMPLAINT_DESK_TEST_POSTGRES_URL's server,
  Redis at $COMPLAINT_DESK_BENCH_REDIS_URL, default redis://127.0.0.1:6379/13, flushed).

Each runs against its own fake WeChat process. Printed side by side: filings, requests,
latency percentiles per request, 5xx, other errors, and whether the store holds exactly one
case per filing with distinct numbers. Targets: p99 < 1 s, zero 5xx, zero duplicates; exit
status 1 when one is missed. Not part of `pytest`:

    python -m tests.bench.bench_load                  # 60 s per deployment at 3.5 filings/s
    python -m tests.bench.bench_load --seconds 10 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from cases.store import db
from tests.bench.bench_bot import Server, start, wait_ready
from tests.bench.common import free_port, ms, percentile, pg_admin, table, with_database
from wechat.simulator import PushSigner, text_xml

DAILY_CASES = 30_000  # Beijing 12345, 2020: ~11 million a year
PEAK_FACTOR = 10
PEAK_RATE = DAILY_CASES * PEAK_FACTOR / 86_400  # filings per second
MAX_P99_MS = 1000.0
OA = ("wx00000000000000load", "oa-load-secret", "oa-load-token")
MP = ("wx0000000000000mload", "mp-load-secret", "mp-load-token")
ACCOUNT = "gh_loadbench"
TEMPLATES = ("demo-case-accepted",)
PG_URL = os.environ.get(
    "COMPLAINT_DESK_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("COMPLAINT_DESK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DIALOGUE = (
    "投诉",
    "1",
    "城东便民超市",
    "跳过",
    "跳过",
    "买到过期牛奶,商家拒绝退货。",
    "退货",
    "跳过",
)
FILED = re.compile(r"已提交,编号\s*([A-Za-z0-9-]+)")
REQUEST_TIMEOUT = 10.0

FAKE_WECHAT = """
import sys
from aiohttp import web
from wechat.simulator import FakeWeChat, create_fake_wechat_app

oa, mp = sys.argv[2:4], sys.argv[4:6]
fake = FakeWeChat(apps={oa[0]: oa[1], mp[0]: mp[1]})
for template in sys.argv[6:]:
    fake.add_template(oa[0], template)
app = create_fake_wechat_app(fake)

async def login_code(request):
    return web.Response(text=fake.login_code(mp[0], request.query["openid"]))

app.router.add_post("/_bench/login_code", login_code)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


@dataclass
class Tally:
    name: str
    ms: list[float] = field(default_factory=list)
    server_errors: int = 0
    errors: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    filings_started: int = 0
    seconds: float = 0.0
    stored: int = -1

    def error(self, problem: str) -> None:
        self.errors.append(problem)


class Citizens:
    """Open-loop arrivals: each one a whole filing by chat or by the mini-program."""

    def __init__(self, base: str, fake: str, tally: Tally) -> None:
        self.base, self.fake, self.tally = base, fake, tally
        self.signer = PushSigner(OA[2], OA[0])
        self.msg_ids = itertools.count(8 * 10**18)
        self.ids = itertools.count()

    async def timed(
        self, session: aiohttp.ClientSession, method: str, url: str, **kw: object
    ) -> tuple[int, str]:
        began = time.perf_counter()
        try:
            async with session.request(method, url, **kw) as resp:  # type: ignore[arg-type]
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.tally.error(f"{url}: {type(exc).__name__}")
            return 0, ""
        self.tally.ms.append((time.perf_counter() - began) * 1000)
        if status >= 500:
            self.tally.server_errors += 1
        return status, text

    async def by_chat(self, session: aiohttp.ClientSession) -> None:
        i = next(self.ids)
        openid, phone = f"oLoad{i:07d}", f"137{i:08d}"
        reply = ""
        for text in (*DIALOGUE, phone, "确认"):
            xml = text_xml(openid, ACCOUNT, text, next(self.msg_ids), int(time.time()))
            params, body = self.signer.sign(xml)
            status, reply = await self.timed(
                session, "POST", f"{self.base}/wechat/oa", params=params, data=body.encode()
            )
            if status != 200:
                self.tally.error(f"chat {text!r}: HTTP {status}")
                return
        found = FILED.search(reply)
        if found is None:
            self.tally.error(f"chat: no case number in {reply[:120]!r}")
            return
        self.tally.numbers.append(found.group(1))

    async def by_miniprogram(self, session: aiohttp.ClientSession) -> None:
        i = next(self.ids)
        async with session.post(f"{self.fake}/_bench/login_code?openid=oMpLoad{i:07d}") as resp:
            code = await resp.text()
        api = f"{self.base}/api/mp/v1"
        status, text = await self.timed(session, "POST", f"{api}/auth/login", json={"code": code})
        if status != 200:
            self.tally.error(f"mp login: HTTP {status} {text[:120]}")
            return
        token = json.loads(text)["token"]
        form = {
            "kind": "complaint",
            "category": "consumer",
            "respondent_name": "好又多生鲜店",
            "description": "结账时实际价格比货架标价高,多收了十几块钱。",
            "demands": "退还差价",
            "contact_name": "李先生",
            "contact_phone": f"136{i:08d}",
        }
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
        status, text = await self.timed(session, "POST", f"{api}/cases", json=form, headers=headers)
        if status != 201:
            self.tally.error(f"mp filing: HTTP {status} {text[:120]}")
            return
        self.tally.numbers.append(json.loads(text)["number"])

    async def run(self, rate: float, seconds: float) -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            tasks = []
            began = time.perf_counter()
            for n in itertools.count():
                due = began + n / rate
                if due - began >= seconds:
                    break
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                self.tally.filings_started += 1
                filing = self.by_chat if n % 2 == 0 else self.by_miniprogram
                tasks.append(asyncio.create_task(filing(session)))
            await asyncio.gather(*tasks)
            self.tally.seconds = time.perf_counter() - began


async def _stored_cases(url: str) -> int:
    if url.startswith("sqlite://"):
        with closing(sqlite3.connect(url.removeprefix("sqlite://"))) as con:
            return int(con.execute('SELECT COUNT(*) FROM "case"').fetchone()[0])
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval('SELECT COUNT(*) FROM "case"'))
    finally:
        await conn.close()


def _flush_redis() -> None:
    from redis import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


async def deployment(name: str, postgres: bool, args: argparse.Namespace) -> Tally:
    tmp = Path(tempfile.mkdtemp(prefix="cd_bench_load_"))
    servers: list[Server] = []
    pg_name = ""
    try:
        if postgres:
            pg_name = f"cd_bench_load_{uuid.uuid4().hex[:8]}"
            await pg_admin(PG_URL, f'CREATE DATABASE "{pg_name}"')
            url = with_database(PG_URL, pg_name)
            _flush_redis()
        else:
            url = f"sqlite://{tmp / 'load.sqlite3'}"
        await db.migrate_store(url)
        wechat_port, app_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")}
        env.update(
            {
                "COMPLAINT_DESK_SERVER_HOST": "127.0.0.1",
                "COMPLAINT_DESK_SERVER_PORT": str(app_port),
                "COMPLAINT_DESK_DATABASE_URL": url,
                "COMPLAINT_DESK_STORAGE_DATA_DIR": str(tmp / "data"),
                "COMPLAINT_DESK_WECHAT_API_BASE": f"http://127.0.0.1:{wechat_port}",
                "COMPLAINT_DESK_WECHAT_OA_APPID": OA[0],
                "COMPLAINT_DESK_WECHAT_OA_SECRET": OA[1],
                "COMPLAINT_DESK_WECHAT_OA_TOKEN": OA[2],
                "COMPLAINT_DESK_WECHAT_MP_APPID": MP[0],
                "COMPLAINT_DESK_WECHAT_MP_SECRET": MP[1],
                "COMPLAINT_DESK_WECHAT_MP_TOKEN": MP[2],
                "COMPLAINT_DESK_WORKER_IN_PROCESS": "false" if postgres else "true",
                "COMPLAINT_DESK_MINIPROGRAM_CASES_PER_DAY": "1000",
            }
        )
        if postgres:
            env["COMPLAINT_DESK_REDIS_URL"] = REDIS_URL
        fake_args = ["-c", FAKE_WECHAT, str(wechat_port), *OA[:2], *MP[:2], *TEMPLATES]
        fake = start("fake-wechat", fake_args, env, tmp, wechat_port)
        servers.append(fake)
        serve = ["-m", "complaint_desk", "serve"] + (["--workers", "2"] if postgres else [])
        app = start("server", serve, env, tmp, app_port)
        servers.append(app)
        if postgres:
            for i in range(2):
                servers.append(start(f"worker{i}", ["-m", "complaint_desk", "worker"], env, tmp, 0))
        await wait_ready(fake, "/cgi-bin/token")
        await wait_ready(app, "/healthz")
        await asyncio.sleep(1.0)  # every server process listening
        tally = Tally(name)
        print(f"{name}: {args.rate:.2f} filings/s for {args.seconds:g} s ...", flush=True)
        await Citizens(app.base, fake.base, tally).run(args.rate, args.seconds)
        tally.stored = await _stored_cases(url)
        return tally
    finally:
        for server in reversed(servers):
            server.stop()
        if pg_name:
            await pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def report(tallies: list[Tally], rate: float) -> bool:
    print(
        f"\nComplaint Desk load benchmark: {rate:.2f} filings/s "
        f"({DAILY_CASES:,} a day x {PEAK_FACTOR} as a peak hour), half by chat (10 pushes), "
        f"half by the mini-program (login + filing), {os.cpu_count()} CPUs"
    )
    header = ["deployment", "filings", "requests", "req/s", "p50", "p95", "p99", "max"]
    header += ["5xx", "errors", "stored", "distinct numbers"]
    rows = []
    met = True
    for t in tallies:
        p99 = percentile(t.ms, 0.99)
        distinct = len(set(t.numbers))
        rows.append(
            [
                t.name,
                f"{len(t.numbers):,}/{t.filings_started:,}",
                f"{len(t.ms):,}",
                f"{len(t.ms) / t.seconds:,.1f}" if t.seconds else "—",
                ms(percentile(t.ms, 0.50)),
                ms(percentile(t.ms, 0.95)),
                ms(p99),
                ms(max(t.ms, default=math.nan)),
                str(t.server_errors),
                str(len(t.errors)),
                f"{t.stored:,}",
                f"{distinct:,}",
            ]
        )
        met &= (
            p99 < MAX_P99_MS
            and t.server_errors == 0
            and not t.errors
            and t.stored == len(t.numbers) == distinct == t.filings_started
        )
    table(header, rows)
    print(f"\ntargets: p99 < {MAX_P99_MS:g} ms, zero 5xx, every filing stored once: ", end="")
    print("met" if met else "NOT met")
    for t in tallies:
        for problem in t.errors[:5]:
            print(f"error ({t.name}): {problem}")
    return met


async def bench(args: argparse.Namespace) -> int:
    tallies = [await deployment("SQLite, 1 process", False, args)]
    if not args.no_postgres:
        tallies.append(await deployment("PostgreSQL, 2 servers + 2 workers", True, args))
    return 0 if report(tallies, args.rate) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rate", type=float, default=PEAK_RATE, help="filings per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="per deployment")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be > 0")
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
