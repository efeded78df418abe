"""Due-soon and overdue reminders in the console: the unread list, marking read, the JSON API.

The worklist page shows the latest few (staff/worklist.py, which also registers these routes).
Who sees which reminder is `cases.workflow.reminders`' rule; a reminder outside it is 'not found'.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from cases.store.models import Role
from cases.workflow import reminders
from staff import json_api
from staff.web import actor_of, checked_form, render, rules_of

# An id as the store keeps it (a 32-bit integer); anything else is an unknown page.
REMINDER_ID = r"{id:[1-9][0-9]{0,8}}"
DONE_TEXTS = {"read": "已标为已读。", "all": "已全部标为已读。"}
REMINDED_ROLES = frozenset({Role.HANDLER, Role.INTAKE})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/reminders", reminders_page, name="staff_reminders")
    router.add_post("/reminders/read", read_all_form, name="staff_reminders_read_all")
    router.add_post(f"/reminders/{REMINDER_ID}/read", read_form, name="staff_reminder_read")


def add_api_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/reminders", reminders_api, name="staff_api_reminders")
    router.add_post(f"/reminders/{REMINDER_ID}/read", read_api, name="staff_api_reminder_read")


def _now() -> datetime:
    return datetime.now(UTC)


async def reminders_page(request: web.Request) -> web.Response:
    actor = actor_of(request)
    unread = await reminders.unread_reminders(rules_of(request), actor, _now())
    return render(
        request,
        "reminders.html",
        unread=unread,
        reminded=actor.role in REMINDED_ROLES,
        done=DONE_TEXTS.get(request.query.get("done", ""), ""),
    )


async def read_form(request: web.Request) -> web.Response:
    await checked_form(request)
    reminder_id = int(request.match_info["id"])
    await reminders.mark_read(rules_of(request), actor_of(request), reminder_id, _now())
    raise web.HTTPSeeOther("/staff/reminders?done=read")


async def read_all_form(request: web.Request) -> web.Response:
    await checked_form(request)
    await reminders.mark_all_read(rules_of(request), actor_of(request), _now())
    raise web.HTTPSeeOther("/staff/reminders?done=all")


async def reminders_api(request: web.Request) -> web.Response:
    unread = await reminders.unread_reminders(rules_of(request), actor_of(request), _now())
    return json_api.ok(
        {"count": unread.count, "reminders": [r.as_json() for r in unread.reminders]}
    )


async def read_api(request: web.Request) -> web.Response:
    reminder_id = int(request.match_info["id"])
    item = await reminders.mark_read(rules_of(request), actor_of(request), reminder_id, _now())
    return json_api.ok({"reminder": item.as_json()})
