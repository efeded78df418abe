"""The worklist and search page, the supervision page (催办/督办), and their JSON API; the
worklist shows the latest unread reminders, whose own routes (staff/reminders.py) it registers.

Handlers parse the query or form and call `cases.views.worklists` / `cases.views.supervision`, which apply
the role's view (`cases.views.access.visible_cases`) to every list, search and action.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from yarl import URL

from cases.errors import CaseError, ValidationError
from cases.rules import Rules
from cases.store.models import CaseEvent, Role, Status
from cases.views import supervision, worklists
from cases.views.dashboard import EARLIEST, LATEST
from cases.views.tracking import MAX_NUMBER_CHARS, normalize_number
from cases.views.worklists import ALL, MINE, UNASSIGNED, Cursor, Filters, Page, Row
from cases.workflow import reminders
from cases.workflow.states import STATUS_LABELS
from staff import json_api
from staff import reminders as reminder_pages
from staff.web import actor_of, checked_form, render, rules_of, text

TRUE_WORDS = frozenset({"1", "true", "on", "yes"})
DONE_TEXTS = {"remind": "已催办", "supervise": "已督办"}
# Unread reminders shown on the worklist; the rest are on /staff/reminders.
REMINDER_PANEL_SIZE = 5


def add_routes(router: web.UrlDispatcher) -> None:
    """Register this module's pages."""
    router.add_get("/worklist", worklist_page, name="staff_worklist")
    router.add_get("/supervision", supervision_page, name="staff_supervision")
    router.add_post("/cases/{number}/remind", remind_form, name="staff_remind")
    router.add_post("/cases/{number}/supervise", supervise_form, name="staff_supervise")
    reminder_pages.add_routes(router)


def add_api_routes(router: web.UrlDispatcher) -> None:
    """Register this module's JSON API routes."""
    router.add_get("/cases", cases_api, name="staff_api_cases")
    router.add_get("/supervision", supervision_api, name="staff_api_supervision")
    router.add_post("/cases/{number}/remind", remind_api, name="staff_api_remind")
    router.add_post("/cases/{number}/supervise", supervise_api, name="staff_api_supervise")
    reminder_pages.add_api_routes(router)


# --- reading the query ------------------------------------------------------------------------


def read_filters(query: Mapping[str, str]) -> Filters:
    """The worklist's filters from a query string; ValidationError names a bad one."""
    raw_status = query.get("status", "")
    if raw_status and raw_status not in Status.__members__.values():
        raise ValidationError("筛选条件无效,请重新选择。", field="status")
    words = query.get("q", "").strip()
    if len(words) > worklists.MAX_QUERY_CHARS:
        raise ValidationError(f"查找内容请不超过 {worklists.MAX_QUERY_CHARS} 个字。", field="q")
    # A search looks through every case the user may see unless they narrowed it themselves.
    scope = query.get("scope") or (ALL if words else MINE)
    if scope not in (MINE, ALL):
        raise ValidationError("筛选条件无效,请重新选择。", field="scope")
    return Filters(
        scope=scope,
        status=Status(raw_status) if raw_status else None,
        kind=query.get("kind", ""),
        category=query.get("category", ""),
        unit=query.get("unit", ""),
        channel=query.get("channel", ""),
        filed_from=_date(query, "filed_from"),
        filed_to=_date(query, "filed_to"),
        overdue=query.get("overdue", "").lower() in TRUE_WORDS,
        text=words,
    )


def _date(query: Mapping[str, str], name: str) -> date | None:
    value = query.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError("日期格式应为 2026-11-23。", field=name) from None
    # 0001-01-01 or 9999-12-31 overflowed when turned into the day's bounds in UTC (500).
    if not EARLIEST <= day <= LATEST:
        raise ValidationError(
            f"日期请在 {EARLIEST:%Y-%m-%d} 至 {LATEST:%Y-%m-%d} 之间。", field=name
        )
    return day


def read_cursor(query: Mapping[str, str]) -> Cursor | None:
    value = query.get("cursor", "")
    return Cursor.decode(value) if value else None


def read_size(query: Mapping[str, str]) -> int:
    value = query.get("size", "")
    if not value:
        return worklists.PAGE_SIZE
    if not value.isdigit() or not 1 <= int(value) <= worklists.MAX_PAGE_SIZE:
        raise ValidationError(f"size 应为 1–{worklists.MAX_PAGE_SIZE} 的整数。", field="size")
    return int(value)


def _page_links(request: web.Request, page: Page | None) -> tuple[str, str]:
    """The next page's and the first page's address, keeping the filters."""
    kept = {k: v for k, v in request.query.items() if k not in ("cursor", "done", "case")}
    here = request.rel_url.with_query(kept)
    following = str(here.update_query(cursor=page.next.encode())) if page and page.next else ""
    first = str(here) if "cursor" in request.query else ""
    return following, first


# --- pages ------------------------------------------------------------------------------------


def _choices(rules: Rules) -> dict[str, Any]:
    catalog = rules.catalog
    return {
        "statuses": [(str(s), label) for s, label in STATUS_LABELS.items()],
        "kinds": [(k.code, k.name) for k in catalog.kinds.values()],
        "categories": [(c.code, c.name) for c in catalog.categories.values()],
        "channels": list(catalog.channels.items()),
        "units": [
            *((d.code, d.name) for d in catalog.departments.values() if d.role == "handling"),
            (UNASSIGNED, "未交办"),
        ],
    }


async def worklist_page(request: web.Request) -> web.Response:
    actor, rules, now = actor_of(request), rules_of(request), _now()
    rows: list[Row] = []
    page: Page | None = None
    error, status = "", 200
    scope = request.query.get("scope") or (ALL if request.query.get("q") else MINE)
    try:
        filters = read_filters(request.query)
        page = await worklists.worklist_page(
            rules, actor, filters, now, after=read_cursor(request.query)
        )
        rows = await worklists.rows_of(rules, page.cases, now)
    except CaseError as exc:
        # Show the form again with the reason, rather than a bare error page.
        error, status = exc.message, exc.status
    following, first = _page_links(request, page)
    return render(
        request,
        "worklist.html",
        status=status,
        title="待我处理" if scope == MINE else "全部案件",
        form=request.query,
        rows=rows,
        error=error,
        next_url=following,
        first_url=first,
        show_unit=actor.role != Role.HANDLER,
        phone_search=actor.role == Role.INTAKE,
        reminders=await reminders.unread_reminders(rules, actor, now, REMINDER_PANEL_SIZE),
        **_choices(rules),
    )


async def supervision_page(request: web.Request) -> web.Response:
    actor, rules, now = actor_of(request), rules_of(request), _now()
    supervision.check_viewer(actor)
    unit, only = request.query.get("unit", ""), request.query.get("only", "")
    page = await supervision.supervision_page(
        rules, actor, now, unit=unit, only=only, after=read_cursor(request.query)
    )
    rows = await worklists.rows_of(rules, page.cases, now)
    following, first = _page_links(request, page)
    kept = {k: v for k, v in request.query.items() if k not in ("done", "case")}
    return render(
        request,
        "supervision.html",
        counts=await supervision.unit_counts(rules, actor, now),
        rows=rows,
        form=request.query,
        done=_done_text(request.query),
        can_press=actor.role in supervision.SUPERVISORS,
        back=str(request.rel_url.with_query(kept)),
        next_url=following,
        first_url=first,
        units=_choices(rules)["units"],
    )


def _done_text(query: Mapping[str, str]) -> str:
    done, number = query.get("done", ""), normalize_number(query.get("case", ""))
    if done not in DONE_TEXTS or not number.isalnum() or len(number) > MAX_NUMBER_CHARS:
        return ""
    return f"{DONE_TEXTS[done]} {number},已记入案件时间线。"


async def remind_form(request: web.Request) -> web.Response:
    return await _press_form(request, "remind")


async def supervise_form(request: web.Request) -> web.Response:
    return await _press_form(request, "supervise")


async def _press_form(request: web.Request, action: str) -> web.Response:
    form = await checked_form(request)
    number = request.match_info["number"]
    press = supervision.remind if action == "remind" else supervision.supervise
    await press(rules_of(request), actor_of(request), number, text(form, "note"), _now())
    back = URL(_inside_console(text(form, "back")))
    raise web.HTTPSeeOther(str(back.update_query(done=action, case=normalize_number(number))))


def _inside_console(path: str) -> str:
    """Only a page of the console; never another site."""
    if path.startswith("/staff/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/staff/supervision"


def _now() -> datetime:
    return datetime.now(UTC)


# --- JSON API ---------------------------------------------------------------------------------


async def cases_api(request: web.Request) -> web.Response:
    actor, rules, now = actor_of(request), rules_of(request), _now()
    query = request.query
    page = await worklists.worklist_page(
        rules, actor, read_filters(query), now, after=read_cursor(query), size=read_size(query)
    )
    return json_api.ok(await _listing(rules, page, now))


async def supervision_api(request: web.Request) -> web.Response:
    actor, rules, now = actor_of(request), rules_of(request), _now()
    supervision.check_viewer(actor)
    query = request.query
    page = await supervision.supervision_page(
        rules,
        actor,
        now,
        unit=query.get("unit", ""),
        only=query.get("only", ""),
        after=read_cursor(query),
        size=read_size(query),
    )
    counts = await supervision.unit_counts(rules, actor, now)
    return json_api.ok(
        {
            "units": [
                {
                    "unit": c.unit or None,
                    "name": c.name,
                    "overdue": c.overdue,
                    "due_soon": c.due_soon,
                }
                for c in counts
            ],
            **await _listing(rules, page, now),
        }
    )


async def _listing(rules: Rules, page: Page, now: datetime) -> dict[str, Any]:
    rows = await worklists.rows_of(rules, page.cases, now)
    return {
        "cases": [row.as_json() for row in rows],
        "next": page.next.encode() if page.next else None,
    }


async def remind_api(request: web.Request) -> web.Response:
    return await _press_api(request, "remind")


async def supervise_api(request: web.Request) -> web.Response:
    return await _press_api(request, "supervise")


async def _press_api(request: web.Request, action: str) -> web.Response:
    data = await json_api.read_json(request) if request.can_read_body else {}
    note = data.get("note", "")
    if not isinstance(note, str):
        raise ValidationError("note 应为文字。", field="note")
    number = request.match_info["number"]
    press = supervision.remind if action == "remind" else supervision.supervise
    event = await press(rules_of(request), actor_of(request), number, note, _now())
    return json_api.ok({"case": normalize_number(number), "event": _event_json(event)}, status=201)


def _event_json(event: CaseEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "action": event.action,
        "label": supervision.supervision_label(event.action),
        "at": event.at.isoformat(),
        "note": event.note,
        "public": event.public,
    }
