"""`complaint-desk`: migrate, serve, demo, staff accounts, import and export."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from tqdm import tqdm

from cases.auth import accounts
from cases.errors import CaseError
from cases.intake.filing import file_case
from cases.store import backup, db, transfer
from cases.store.models import Citizen, StaffUser
from cases.views import report
from cases.workflow.loading import load_rules
from cases.workflow.outbox import deliver_due
from cases.workflow.sweeps import Sweeper
from cases.workflow.timeline import Actor
from complaint_desk.app import DEMO_SIMULATOR_PATH, create_app, notice_channels, run_forever
from complaint_desk.logs import escape_all_log_records
from config.catalog import load_catalog
from config.notices import load_notice_templates
from config.rulebook import rules_table
from config.settings import CONFIG_DIR, ConfigError, Settings, load_settings
from wechat.client import MemoryTokenStore, WeChatClient
from wechat.errors import WeChatError
from wechat.tokens import shared_token_store

log = logging.getLogger("complaint_desk")
T = TypeVar("T")

DEMO_PASSWORD = "demo-password"
RESTART_DELAY_SECONDS = 1.0  # a server process that keeps crashing is not restarted in a loop
MENU_FILE = CONFIG_DIR / "menu.toml"
DEMO_STAFF = (
    ("intake", "intake", "centre", "投诉举报中心 王敏"),
    ("handler", "handler", "consumer", "消保科 李强"),
    ("leader", "leader", "leaders", "分管局长 赵红"),
    ("admin", "admin", "", "系统管理员"),
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    # Servers log their start-up; one-shot commands only warnings, so their output stays clean.
    level = logging.INFO if args.command in ("serve", "demo") else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    escape_all_log_records()
    try:
        settings = load_settings(args.config, demo=args.command == "demo")
        if args.command == "demo":
            settings = _demo_settings(args.config, args.port, settings)
        load_catalog(settings.profile)  # fail fast on a broken profile
        code = args.func(settings, args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        code = 2
    except CaseError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        code = 1
    sys.exit(code)


def _demo_settings(path: str | None, port: int | None, settings: Settings) -> Settings:
    """Demo settings whose WeChat API is the simulator mounted in the demo server itself."""
    port = settings.server.port if port is None else port
    local = f"http://{settings.server.host}:{port}"
    simulator = f"{local}{DEMO_SIMULATOR_PATH}".rstrip("/")
    overrides: dict[str, Any] = {"server.port": port, "wechat.api_base": simulator}
    if not settings.miniprogram.public_url:  # photo links point at the demo server itself
        overrides["miniprogram.public_url"] = local
    return load_settings(path, demo=True, overrides=overrides)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="complaint-desk", description="投诉受理台 Complaint Desk")
    parser.add_argument("--config", help="settings TOML (default: $COMPLAINT_DESK_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database schema migrations").set_defaults(
        func=cmd_migrate
    )
    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (several need PostgreSQL; default 1)",
    )
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="run with SQLite in ./demo-data, demo staff and cases")
    demo.add_argument("--port", type=int, default=None)
    demo.set_defaults(func=cmd_demo, workers=1, reuse_port=False)  # one process on SQLite

    staff = sub.add_parser("staff", help="staff accounts").add_subparsers(
        dest="staff_cmd", required=True
    )
    add = staff.add_parser(
        "add", help="create a staff account (password asked, or $COMPLAINT_DESK_PASSWORD)"
    )
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["intake", "handler", "leader", "admin"])
    add.add_argument("--department", default="", help="unit code from the profile")
    add.add_argument("--name", default="", help="display name")
    add.set_defaults(func=cmd_staff_add)

    worker = sub.add_parser(
        "worker", help="deliver notices and apply deadline rules (a separate process at scale)"
    )
    worker.add_argument(
        "--once", action="store_true", help="one round of each, then exit (for cron or checks)"
    )
    worker.set_defaults(func=cmd_worker)

    wechat = sub.add_parser("wechat", help="WeChat platform tasks").add_subparsers(
        dest="wechat_cmd", required=True
    )
    menu = wechat.add_parser("menu", help="push config/menu.toml as the official account's menu")
    menu.add_argument("--file", default=str(MENU_FILE), help="menu TOML (default: %(default)s)")
    menu.set_defaults(func=cmd_wechat_menu)

    exp = sub.add_parser("export", help="write all cases as JSON lines")
    exp.add_argument("--out", default="-", help="file (default: standard output)")
    exp.set_defaults(func=cmd_export)

    imp = sub.add_parser("import", help="read cases from JSON lines (existing numbers are skipped)")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_import)

    rep = sub.add_parser("report", help="write the monthly report (Excel and printable HTML)")
    rep.add_argument("--month", required=True, help="local month, YYYY-MM")
    rep.add_argument("--out", default=".", help="directory (default: current directory)")
    rep.set_defaults(func=cmd_report)

    bak = sub.add_parser("backup", help="online backup of the SQLite store, checked")
    bak.add_argument("path", help="new file to write")
    bak.set_defaults(func=cmd_backup)
    res = sub.add_parser("restore", help="replace the SQLite store with a checked backup")
    res.add_argument("backup", help="file written by `complaint-desk backup`")
    res.add_argument(
        "--force", action="store_true", help="replace an existing store (stop the server first)"
    )
    res.set_defaults(func=cmd_restore)

    cal = sub.add_parser("calendar", help="a year's days off and 调休 workdays, official or not")
    cal.add_argument("year", type=int, help="e.g. 2027")
    cal.set_defaults(func=cmd_calendar)

    rul = sub.add_parser("rules", help="the profile's timed rules as a Markdown table")
    rul.add_argument("--profile", help="a profile name or TOML path (default: the configured one)")
    rul.set_defaults(func=cmd_rules)
    return parser


def _run(settings: Settings, work: Callable[[], Awaitable[T]], *, store: bool = True) -> T:
    async def wrapper() -> T:
        _ensure_data_dir(settings)
        if not store:
            return await work()
        await db.open_store(settings.database_url)
        try:
            return await work()
        finally:
            await db.close_store()

    return asyncio.run(wrapper())


def _ensure_data_dir(settings: Settings) -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.media_dir.mkdir(parents=True, exist_ok=True)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    async def work() -> int:
        await db.migrate_store(settings.database_url)
        await db.open_store(settings.database_url)
        try:
            created = await accounts.sync_departments(load_catalog(settings.profile))
        finally:
            await db.close_store()
        print(f"database is up to date; {created} new units from profile {settings.profile}")
        return 0

    return _run(settings, work, store=False)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    async def pending() -> list[str]:
        return await db.pending_migrations(settings.database_url)

    missing = _run(settings, pending)
    if missing:
        print(
            f"error: the database lacks {len(missing)} schema migration(s) "
            f"({', '.join(missing)}): run `complaint-desk migrate` first",
            file=sys.stderr,
        )
        return 1
    if args.workers > 1:
        if settings.is_sqlite:
            print(
                "error: several server processes need PostgreSQL: SQLite takes one writer "
                "process (set [database] url to a postgres:// URL)",
                file=sys.stderr,
            )
            return 2
        return _serve_processes(args.config, args.workers)
    app = create_app(settings)
    print(f"Complaint Desk on http://{settings.server.host}:{settings.server.port}/ (Ctrl-C stops)")
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        reuse_port=args.reuse_port or None,
        print=None,
    )
    return 0


def _serve_processes(config: str | None, workers: int) -> int:
    """`workers` server processes on one port (SO_REUSEPORT: the kernel spreads connections).

    Each is a plain `serve` that owns its event loop; they share nothing but the database and
    Redis. A process that dies is started again; SIGTERM or Ctrl-C stops them all.
    """
    command = [sys.executable, "-m", "complaint_desk"]
    if config:
        command += ["--config", config]
    command += ["serve", "--reuse-port"]
    procs = [subprocess.Popen(command) for _ in range(workers)]
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for i, proc in enumerate(procs):
            if proc.poll() is not None and not stopping:
                log.error(
                    "server process %s exited with %s; starting it again", proc.pid, proc.returncode
                )
                time.sleep(RESTART_DELAY_SECONDS)
                procs[i] = subprocess.Popen(command)
        time.sleep(0.2)
    for proc in procs:
        proc.wait()
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    # Demo only: the simulator stays out of every other command's process.
    from complaint_desk.simulator_page import DEMO_CITIZEN_OPENID, SIMULATOR_PAGE_PATH

    async def prepare() -> int:
        await db.migrate_store(settings.database_url)
        await _seed_in_store(settings)
        return 0

    _run(settings, prepare, store=False)
    base = f"http://{settings.server.host}:{settings.server.port}"
    print(
        f"demo data in {settings.data_dir.resolve()}; staff accounts "
        f"{', '.join(u for u, *_ in DEMO_STAFF)} with password {DEMO_PASSWORD!r}\n"
        f"WeChat simulator (chat as the sample citizen {DEMO_CITIZEN_OPENID}): "
        f"{base}{SIMULATOR_PAGE_PATH}\n"
        f"staff console: {base}/staff/",
        flush=True,
    )
    return cmd_serve(settings, args)


async def _seed_in_store(settings: Settings) -> None:
    await db.open_store(settings.database_url)
    try:
        await _seed_demo(settings)
    finally:
        await db.close_store()


async def _seed_demo(settings: Settings) -> None:
    from complaint_desk.simulator_page import DEMO_CITIZEN_OPENID

    rules = load_rules(settings)
    await accounts.sync_departments(rules.catalog)
    for username, role, dept, name in DEMO_STAFF:
        if not await StaffUser.exists(username=username):
            await accounts.create_staff(username, DEMO_PASSWORD, role, dept, name)
    if await transfer.count_cases():
        return
    citizen = await Citizen.create(
        oa_openid=DEMO_CITIZEN_OPENID, name="张女士", phone="13800000000"
    )
    intake = Actor.of_staff(await StaffUser.get(username="intake"))
    citizen_actor = Actor(kind="citizen", id=citizen.id, name=citizen.name, role="citizen")
    now = datetime.now(UTC)
    samples: list[tuple[dict[str, Any], Actor, str, Citizen | None]] = [
        (
            {
                "kind": "complaint",
                "category": "consumer",
                "respondent_name": "城东便民超市",
                "description": "11月20日在该超市购买的牛奶已过保质期,要求退货被拒绝。",
                "demands": "退货并赔偿",
                "contact_name": "张女士",
                "contact_phone": "13800000000",
                "incident_at": (now - timedelta(days=3)).isoformat(),
            },
            citizen_actor,
            "official_account",
            citizen,
        ),
        (
            {
                "kind": "report",
                "category": "food",
                "respondent_name": "老街小吃店",
                "anonymous": True,
                "description": "后厨卫生很差,有老鼠出没,餐具不消毒。",
            },
            intake,
            "phone",
            None,
        ),
        (
            {
                "kind": "consultation",
                "category": "licensing",
                "contact_name": "刘先生",
                "contact_phone": "0571-87654321",
                "description": "请问个体工商户办理营业执照需要哪些材料?",
            },
            intake,
            "phone",
            None,
        ),
    ]
    for form, actor, channel, who in samples:
        await file_case(rules, form, actor, channel=channel, citizen=who, now=now)


def cmd_staff_add(settings: Settings, args: argparse.Namespace) -> int:
    password = os.environ.get("COMPLAINT_DESK_PASSWORD") or getpass.getpass("password: ")

    async def work() -> int:
        user = await accounts.create_staff(
            args.username, password, args.role, args.department, args.name
        )
        print(f"created {user.role} {user.username}")
        return 0

    return _run(settings, work)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run the outbox delivery and the deadline sweep until stopped (several may run on
    PostgreSQL: claims use FOR UPDATE SKIP LOCKED)."""
    rules = load_rules(settings)
    templates = load_notice_templates(settings.notices_file)

    async def work() -> int:
        async with (
            aiohttp.ClientSession() as session,
            shared_token_store(settings.redis_url) as store,
        ):
            channels = notice_channels(
                WeChatClient.for_app(session, settings.wechat, settings.wechat.oa, store),
                WeChatClient.for_app(session, settings.wechat, settings.wechat.mp, store),
                templates,
            )
            if args.once:
                sent = await deliver_due(rules, channels)
                changed = await Sweeper(rules, settings)()
                print(f"{sent} notice(s) sent, {changed} timed rule(s) applied")
                return 0
            print("worker running (Ctrl-C stops)", flush=True)
            await asyncio.gather(
                run_forever(
                    lambda: deliver_due(rules, channels),
                    settings.worker.notice_interval_seconds,
                    "notice delivery",
                ),
                run_forever(
                    Sweeper(rules, settings),
                    settings.worker.sweep_interval_seconds,
                    "deadline sweep",
                ),
            )
        return 0

    try:
        return _run(settings, work)
    except KeyboardInterrupt:
        return 0


def cmd_wechat_menu(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        with path.open("rb") as f:
            menu = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"error: cannot read menu {path}: {exc}", file=sys.stderr)
        return 1
    if not settings.wechat.oa.appid or not settings.wechat.oa.secret:
        print("error: set [wechat.oa] appid and secret to push the menu", file=sys.stderr)
        return 1

    async def work() -> int:
        async with aiohttp.ClientSession() as session:
            client = WeChatClient.for_app(
                session, settings.wechat, settings.wechat.oa, MemoryTokenStore()
            )
            try:
                await client.create_menu(menu)
            except WeChatError as exc:
                print(f"error: WeChat refused the menu: {exc}", file=sys.stderr)
                return 1
        print(f"menu with {len(menu.get('button', []))} buttons pushed")
        return 0

    return _run(settings, work, store=False)


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> int:
        total = await transfer.count_cases()
        out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
        try:
            with tqdm(total=total, unit="case", file=sys.stderr, disable=None) as bar:
                async for record in transfer.export_cases():
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    bar.update()
        finally:
            if out is not sys.stdout:
                out.close()
        return 0

    return _run(settings, work)


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file {path}", file=sys.stderr)
        return 1
    rules = load_rules(settings)

    async def work() -> int:
        added = skipped = 0
        with (
            path.open(encoding="utf-8") as f,
            tqdm(unit="case", file=sys.stderr, disable=None) as bar,
        ):
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    stored = await transfer.import_case(rules, record)
                except (json.JSONDecodeError, KeyError, TypeError, ValueError, CaseError) as exc:
                    message = exc.message if isinstance(exc, CaseError) else str(exc)
                    print(
                        f"error: {path}:{line_no}: {message}; stopped, earlier lines are stored",
                        file=sys.stderr,
                    )
                    return 1
                added += stored
                skipped += not stored
                bar.update()
        print(f"imported {added} cases, skipped {skipped} already present")
        return 0

    return _run(settings, work)


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Write report-YYYY-MM.xlsx and report-YYYY-MM.html for one local month."""
    try:
        month = datetime.strptime(args.month, "%Y-%m").date()
    except ValueError:
        print(f"error: --month must be YYYY-MM, got {args.month!r}", file=sys.stderr)
        return 2
    rules = load_rules(settings)

    async def work() -> int:
        data = await report.build_monthly_report(rules, month, datetime.now(UTC))
        xlsx, html = report.write_report(data, Path(args.out))
        print(f"wrote {xlsx} and {html}")
        return 0

    return _run(settings, work)


PG_BACKUP = "use pg_dump / pg_restore for PostgreSQL (README: Backups and durability)"


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """Copy the SQLite store while the server runs; exit 1 if the copy fails its checks."""
    if not settings.is_sqlite:
        print(f"error: backup works on SQLite only; {PG_BACKUP}", file=sys.stderr)
        return 2
    try:
        info = backup.backup(backup.sqlite_file(settings.database_url), Path(args.path))
    except (backup.BackupError, sqlite3.Error, OSError) as exc:
        print(f"error: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup {info.path}: {info.size:,} bytes, {info.cases} cases, integrity ok")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Check a backup, then write it over the store (refused while one exists, unless --force)."""
    if not settings.is_sqlite:
        print(f"error: restore works on SQLite only; {PG_BACKUP}", file=sys.stderr)
        return 2
    target = backup.sqlite_file(settings.database_url)
    try:
        info = backup.restore(Path(args.backup), target, force=args.force)
    except (backup.BackupError, sqlite3.Error, OSError) as exc:
        print(f"error: restore refused: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.backup} to {info.path}: {info.cases} cases, integrity ok")
    return 0


WEEKDAYS = "一二三四五六日"


def cmd_calendar(settings: Settings, args: argparse.Namespace) -> int:
    """Print the year as deadlines count it, and whether its schedule is official."""
    if not 1950 <= args.year <= 2200:
        print("error: year must be between 1950 and 2200", file=sys.stderr)
        return 2
    year = load_rules(settings).calendar.year_calendar(args.year)
    status = "official" if year.official else "PROVISIONAL (暂定)"
    print(f"{year.year}: {status} — {year.source}")
    if not year.official:
        print(
            "  The State Council schedule is not known yet: statutory holidays and their 补假"
            " count, 调休 workdays are missing, deadlines in this year are shown as 暂定."
            f" Add [years.{year.year}] to [organisation] holidays_file when it is published."
        )
    print("non-working days (放假):")
    for day, name in year.days_off.items():
        print(f"  {day.isoformat()} 周{WEEKDAYS[day.weekday()]} {name}")
    print("working weekends (调休上班):" + ("" if year.workdays else " none"))
    for day in sorted(year.workdays):
        print(f"  {day.isoformat()} 周{WEEKDAYS[day.weekday()]}")
    return 0


def cmd_rules(settings: Settings, args: argparse.Namespace) -> int:
    """Print every clock of the profile with its source, for config/profiles/README.md."""
    print(rules_table(load_catalog(args.profile or settings.profile)), end="")
    return 0
