"""The one app factory: the CLI, demo mode, the gunicorn worker and every test call it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.webhook import create_bot_app
from cases import db
from cases.accounts import sync_departments
from cases.rules import load_rules
from cases.sweeps import apply_expired_clocks
from complaint_desk.keys import RULES, SETTINGS
from config.settings import Settings, load_settings
from wechat.simulator import FakeWeChat, create_fake_wechat_app

log = logging.getLogger(__name__)
DEMO_SIMULATOR_PATH = "/_wechat-simulator/"


def create_app(settings: Settings) -> web.Application:
    """Build the root application over one case store; nothing is started before run."""
    app = web.Application(client_max_size=1024**2)
    app[SETTINGS] = settings
    app[RULES] = load_rules(settings)
    app.cleanup_ctx.append(_case_store)
    if settings.worker.in_process:
        app.cleanup_ctx.append(_clock_sweeper)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.add_subapp("/wechat/", create_bot_app(settings))
    if settings.demo:
        # Demo mode brings its own WeChat: the bot's outbound calls go to this simulator.
        wechat = settings.wechat
        fake = FakeWeChat(
            apps={wechat.oa.appid: str(wechat.oa.secret), wechat.mp.appid: str(wechat.mp.secret)}
        )
        app.add_subapp(DEMO_SIMULATOR_PATH, create_fake_wechat_app(fake))
    return app


async def _case_store(app: web.Application) -> AsyncIterator[None]:
    await db.open_store(app[SETTINGS].database_url)
    # The profile is the source of the units: a changed profile takes effect on restart.
    try:
        await sync_departments(app[RULES].catalog)
    except Exception as exc:  # start anyway: /healthz reports the database as unreachable
        log.error("could not sync units at start (%s: %s)", exc.__class__.__name__, exc)
    yield
    await db.close_store()


async def _clock_sweeper(app: web.Application) -> AsyncIterator[None]:
    """Apply the deadline rules that act on their own, every sweep interval."""
    task = asyncio.create_task(_sweep_forever(app), name="clock-sweeper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _sweep_forever(app: web.Application) -> None:
    interval = app[SETTINGS].worker.sweep_interval_seconds
    while True:
        try:
            await apply_expired_clocks(app[RULES])
        except Exception:  # a bad sweep must not stop the next one; it is logged
            log.exception("deadline sweep failed")
        await asyncio.sleep(interval)


async def healthz(_request: web.Request) -> web.Response:
    """200 with {"status": "ok"} when the database answers, 503 otherwise."""
    ok = await db.ping()
    body = {"status": "ok" if ok else "unavailable", "database": "ok" if ok else "unreachable"}
    return web.json_response(body, status=200 if ok else 503)


async def gunicorn_app() -> web.Application:
    """For several processes: `gunicorn complaint_desk.app:gunicorn_app
    --worker-class aiohttp.GunicornWebWorker` (settings from $COMPLAINT_DESK_CONFIG and env)."""
    return create_app(load_settings())
