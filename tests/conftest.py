"""Test fixtures: a real case store on SQLite (a fresh file per test) and on PostgreSQL.

PostgreSQL comes from $COMPLAINT_DESK_TEST_POSTGRES_URL (default: the local `test` database,
trust auth). A throw-away database is created for the session and dropped afterwards. If the
server cannot be reached, PostgreSQL tests fail when CI=true and are skipped (with the reason)
on a developer machine.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from cases.rules import Rules
from cases.store import db
from cases.workflow.loading import load_rules
from config.settings import Settings, load_settings

if TYPE_CHECKING:
    from playwright.async_api import Browser

PG_URL = os.environ.get(
    "COMPLAINT_DESK_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
TABLES = (
    "push_receipt",
    "wechat_token",
    "subscribe_consent",
    "mp_session",
    "staff_session",
    "idempotency_record",
    "survey",
    "rating",
    "notice",
    "reminder",
    "case_event",
    "case_clock",
    "evidence_file",
    '"case"',
    "citizen",
    "staff_user",
    "department",
    "conversation_state",
    "number_counter",
)


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(db.migrate_store(f"sqlite://{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"cd_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server, wrong credentials, missing driver
        reason = f"PostgreSQL not reachable at {PG_URL} ({exc.__class__.__name__}: {exc})"
        if os.environ.get("CI"):
            pytest.fail(reason + " — CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(reason + "; set COMPLAINT_DESK_TEST_POSTGRES_URL to run them")
    url = _with_db(PG_URL, name)
    asyncio.run(db.migrate_store(url))
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "cases.sqlite3"
        shutil.copy(template, path)
        return f"sqlite://{path}"
    url = request.getfixturevalue("postgres_url")
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    """Settings on this test's database; keyword overrides use dotted keys with '__'."""

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "database.url": database_url,
            "storage.data_dir": str(tmp_path / "data"),
            "server.port": 0,
        }
        base.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_settings(env={}, overrides=base)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def rules(settings: Settings) -> Rules:
    return load_rules(settings)


@pytest.fixture
async def store(settings: Settings, rules: Rules) -> AsyncIterator[Rules]:
    """An open case store with the profile's units; yields its rules."""
    from cases.auth.accounts import sync_departments

    await db.open_store(settings.database_url)
    await sync_departments(rules.catalog)
    yield rules
    await db.close_store()


# --- a real browser: Debian's chromium driven by Playwright (never `playwright install`) ---

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTEFACTS = Path(__file__).resolve().parent / "artefacts"


def _browser_problem() -> str:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)"
    return ""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    problem = _browser_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem + " — CI must run the browser tests", pytrace=False)
        pytest.skip(problem)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
async def screenshots(request: pytest.FixtureRequest, browser: Browser) -> AsyncIterator[Browser]:
    """The browser; when the test fails, every open page is saved under tests/artefacts/."""
    yield browser
    if not request.node.stash.get(_FAILED, False):
        return
    ARTEFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    for c, context in enumerate(browser.contexts):
        for p, page in enumerate(context.pages):
            await page.screenshot(path=str(ARTEFACTS / f"{name}-{c}-{p}.png"), full_page=True)
