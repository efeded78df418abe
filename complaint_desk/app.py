"""The one app factory: the CLI, demo mode, the gunicorn worker and every test call it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from bot.webhook import create_bot_app
from cases.auth.accounts import sync_departments
from cases.auth.passwords import PasswordPool
from cases.auth.sign_in_throttle import SignInThrottle
from cases.auth.staff_auth import SignInGuard
from cases.store import db
from cases.workflow.loading import load_rules
from cases.workflow.outbox import NoticeChannel, deliver_due
from cases.workflow.sweeps import Sweeper
from complaint_desk.keys import (
    MP_CLIENT,
    NOTICE_TEMPLATES,
    OA_CLIENT,
    RULES,
    SETTINGS,
    SIGN_IN,
)
from complaint_desk.logs import escape_all_log_records
from config.notices import NoticeTemplates, load_notice_templates
from config.settings import Settings, load_settings
from miniprogram_api import push as mp_push
from miniprogram_api.app import create_mp_app
from staff.api import create_staff_api
from staff.app import create_staff_app
from wechat.client import WeChatClient
from wechat.notify import MiniProgramChannel, OfficialAccountChannel
from wechat.tokens import shared_token_store

log = logging.getLogger(__name__)
# A query string can carry personal data (the intake's search by phone, ?q=139…): the access
# log keeps the path only (research B.4 A4/A19).
_QUERY = re.compile(r'(?<=[ "])(/[^ "?]*)\?[^ "]*')


class _NoQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = _QUERY.sub(r"\1?…", message), ()
        return True


_ACCESS_FILTER = _NoQueryStrings()
DEMO_SIMULATOR_PATH = "/_wechat-simulator/"


def create_app(settings: Settings) -> web.Application:
    """Build the root application over one case store; nothing is started before run."""
    app = web.Application(client_max_size=1024**2)
    logging.getLogger("aiohttp.access").addFilter(_ACCESS_FILTER)  # once: filters are a set
    escape_all_log_records()
    app[SETTINGS] = settings
    app[RULES] = load_rules(settings)
    app[NOTICE_TEMPLATES] = load_notice_templates(settings.notices_file)
    app.cleanup_ctx.append(_case_store)
    app.cleanup_ctx.append(_wechat_client)
    app.cleanup_ctx.append(_sign_in_guard)
    if settings.worker.in_process:
        app.cleanup_ctx.append(_clock_sweeper)
        app.cleanup_ctx.append(_notice_worker)
    app.router.add_get("/healthz", healthz, name="healthz")
    wechat_pushes = create_bot_app(settings)
    wechat_pushes.router.add_get("/mp", mp_push.verify_url, name="mp_verify")
    wechat_pushes.router.add_post("/mp", mp_push.receive_push, name="mp_push")
    app.add_subapp("/wechat/", wechat_pushes)
    app.add_subapp("/api/mp/v1/", create_mp_app())
    app.add_subapp("/staff/", create_staff_app())
    app.add_subapp("/api/staff/v1/", create_staff_api())
    if settings.demo:
        # Demo mode brings its own WeChat; the simulator is never imported in production.
        from complaint_desk.simulator_page import mount_demo_wechat

        mount_demo_wechat(app, DEMO_SIMULATOR_PATH)
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


async def _sign_in_guard(app: web.Application) -> AsyncIterator[None]:
    """argon2 runs in a few low-priority threads, never on the event loop (issue 15 item 3)."""
    policy = app[SETTINGS].staff
    pool = PasswordPool(policy.password_threads, policy.password_queue_limit)
    app[SIGN_IN] = SignInGuard(pool, SignInThrottle(policy))
    yield
    pool.close()


async def _wechat_client(app: web.Application) -> AsyncIterator[None]:
    """One HTTP session and one client per appid (official account, mini-program)."""
    settings = app[SETTINGS]
    async with (
        aiohttp.ClientSession() as session,
        shared_token_store(settings.redis_url) as store,
    ):
        app[OA_CLIENT] = WeChatClient.for_app(session, settings.wechat, settings.wechat.oa, store)
        app[MP_CLIENT] = WeChatClient.for_app(session, settings.wechat, settings.wechat.mp, store)
        yield


async def _notice_worker(app: web.Application) -> AsyncIterator[None]:
    """Deliver the outbox in this process (at scale: `complaint-desk worker`)."""
    channels = notice_channels(app[OA_CLIENT], app[MP_CLIENT], app[NOTICE_TEMPLATES])
    interval = app[SETTINGS].worker.notice_interval_seconds
    task = asyncio.create_task(
        run_forever(lambda: deliver_due(app[RULES], channels), interval, "notice delivery"),
        name="notice-worker",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def notice_channels(
    oa_client: WeChatClient, mp_client: WeChatClient, templates: NoticeTemplates
) -> dict[str, NoticeChannel]:
    """The outbox's channels, by the channel the case came in through."""
    oa = OfficialAccountChannel(oa_client, templates)
    return {
        "official_account": oa,
        "mini_program": MiniProgramChannel(mp_client, templates, fallback=oa),
    }


async def run_forever(work: Callable[[], Awaitable[object]], interval: float, name: str) -> None:
    """Run `work` every `interval` seconds; a failed round is logged and the next one runs."""
    while True:
        try:
            await work()
        except Exception:  # keep the loop alive; the failure is in the log
            log.exception("%s failed", name)
        await asyncio.sleep(interval)


async def _clock_sweeper(app: web.Application) -> AsyncIterator[None]:
    """Apply the deadline rules that act on their own, every sweep interval."""
    interval = app[SETTINGS].worker.sweep_interval_seconds
    task = asyncio.create_task(
        run_forever(Sweeper(app[RULES], app[SETTINGS]), interval, "deadline sweep"),
        name="clock-sweeper",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def healthz(request: web.Request) -> web.Response:
    """200 with {"status": "ok"} when the database answers, 503 otherwise ("busy" while another
    process holds SQLite's write lock); also names the years (this and next) whose holiday
    schedule is not entered yet, so deadlines are 暂定."""
    ok = await db.ping()
    busy = ok and await db.store_busy(request.app[SETTINGS].database_url)
    calendar = request.app[RULES].calendar
    state = "busy" if busy else "ok" if ok else "unreachable"
    body = {
        "status": "busy" if busy else "ok" if ok else "unavailable",
        "database": state,
        "provisional_years": calendar.provisional_years_ahead(datetime.now(UTC)),
    }
    return web.json_response(body, status=200 if ok and not busy else 503)


async def gunicorn_app() -> web.Application:
    """For several processes: `gunicorn complaint_desk.app:gunicorn_app
    --worker-class aiohttp.GunicornWebWorker` (settings from $COMPLAINT_DESK_CONFIG and env)."""
    return create_app(load_settings())
