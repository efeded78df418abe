"""The assembled application: health check over a real store."""

from __future__ import annotations

from pathlib import Path

from pytest_aiohttp import AiohttpClient

from complaint_desk.app import create_app
from config.settings import Settings, load_settings


async def test_healthz_reports_a_reachable_database(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "database": "ok"}


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
    assert await resp.json() == {"status": "unavailable", "database": "unreachable"}
