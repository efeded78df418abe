"""The one app factory: the CLI, demo mode, the gunicorn worker and every test call it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from cases import db
from cases.rules import load_rules
from complaint_desk.keys import RULES, SETTINGS
from config.settings import Settings


def create_app(settings: Settings) -> web.Application:
    """Build the root application over one case store; nothing is started before run."""
    app = web.Application(client_max_size=1024**2)
    app[SETTINGS] = settings
    app[RULES] = load_rules(settings)
    app.cleanup_ctx.append(_case_store)
    app.router.add_get("/healthz", healthz, name="healthz")
    return app


async def _case_store(app: web.Application) -> AsyncIterator[None]:
    await db.open_store(app[SETTINGS].database_url)
    yield
    await db.close_store()


async def healthz(_request: web.Request) -> web.Response:
    """200 with {"status": "ok"} when the database answers, 503 otherwise."""
    ok = await db.ping()
    body = {"status": "ok" if ok else "unavailable", "database": "ok" if ok else "unreachable"}
    return web.json_response(body, status=200 if ok else 503)
