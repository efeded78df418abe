"""The assembled application: health check over a real store, the in-process sweeper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pytest_aiohttp import AiohttpClient

from cases.auth.accounts import sync_departments
from cases.store import db
from cases.store.models import Case, Status
from cases.workflow.loading import load_rules
from complaint_desk.app import create_app, gunicorn_app
from complaint_desk.keys import SETTINGS
from config.settings import Settings, load_settings
from tests.factories import make_case

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_healthz_reports_a_reachable_database(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    this_year = datetime.now(SHANGHAI).year
    assert body.pop("provisional_years") in ([], [this_year + 1], [this_year, this_year + 1])
    assert body == {"status": "ok", "database": "ok"}


async def test_healthz_names_no_provisional_year_once_both_are_entered(
    aiohttp_client: AiohttpClient, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    this_year = datetime.now(SHANGHAI).year
    table = tmp_path / "holidays.toml"
    table.write_text(
        "".join(f'[years.{y}]\nholidays = ["{y}-01-01"]\n' for y in (this_year, this_year + 1)),
        encoding="utf-8",
    )
    client = await aiohttp_client(create_app(make_settings(organisation__holidays_file=str(table))))
    resp = await client.get("/healthz")
    assert (await resp.json())["provisional_years"] == []


async def test_healthz_is_503_when_the_database_is_down(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    settings = load_settings(
        env={},
        overrides={
            "database.url": "postgres://postgres@127.0.0.1:1/nowhere",
            "storage.data_dir": str(tmp_path),
        },
    )
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    body.pop("provisional_years")
    assert body == {"status": "unavailable", "database": "unreachable"}


async def test_in_process_sweeper_applies_expired_clocks(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    url = f"sqlite://{tmp_path / 'app.sqlite3'}"
    settings = load_settings(
        env={},
        overrides={
            "database.url": url,
            "storage.data_dir": str(tmp_path),
            "worker.sweep_interval_seconds": 0.05,
        },
    )
    await db.migrate_store(url)
    await db.open_store(url)
    rules = load_rules(settings)
    await sync_departments(rules.catalog)
    # A food complaint filed 10 days ago and never decided: deemed accepted on day 5.
    case = await make_case(rules, now=datetime.now(UTC) - timedelta(days=10), category="food")
    await db.close_store()

    await aiohttp_client(create_app(settings))
    for _ in range(100):
        if (await Case.get(id=case.id)).status == Status.ACCEPTED:
            break
        await asyncio.sleep(0.05)
    assert (await Case.get(id=case.id)).status == Status.ACCEPTED


async def test_gunicorn_entry_builds_the_app_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COMPLAINT_DESK_ORGANISATION_PROFILE", "hospital")
    monkeypatch.setenv("COMPLAINT_DESK_STORAGE_DATA_DIR", str(tmp_path))
    app = await gunicorn_app()
    assert app[SETTINGS].profile == "hospital"
