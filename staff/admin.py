"""Admin pages: units, staff accounts (create, disable), and the profile's categories,
reasons and deadline policies shown with the rule each comes from. The catalogue itself is
configuration (config/profiles/): it is read here, changed there."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from cases.auth.accounts import create_staff, list_departments, list_staff, staff_by_id
from cases.auth.staff_auth import disable_account, unlock_sign_in
from cases.errors import CaseError, NotFound, PermissionDenied, ValidationError
from cases.store.models import Role
from cases.views.accountability import substantiated_by_staff
from staff.web import actor_of, checked_form, render, rules_of, sign_in_guard, signed_in, text

MIN_YEAR, MAX_YEAR = 2000, 2100
UNIT_ROLES = {"intake": "受理", "handling": "承办", "leadership": "领导"}
UNIT_LABELS = {
    "minutes": "分钟",
    "hours": "小时",
    "natural_days": "自然日",
    "working_days": "工作日",
}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin", overview, name="staff_admin")
    router.add_post("/admin/staff", add_staff, name="staff_admin_add")
    router.add_post("/admin/staff/{id}/disable", disable_staff, name="staff_admin_disable")
    router.add_post("/admin/staff/{id}/unlock", unlock_staff, name="staff_admin_unlock")


def _admin_only(request: web.Request) -> None:
    if actor_of(request).role != Role.ADMIN:
        raise PermissionDenied("只有管理员可以打开管理页面。")


async def overview(request: web.Request, *, error: str = "", notice: str = "") -> web.Response:
    _admin_only(request)
    rules = rules_of(request)
    catalog = rules.catalog
    year = _year(request, rules.timezone)
    units = await list_departments()
    people = await list_staff()
    return render(
        request,
        "admin.html",
        status=422 if error else 200,
        catalog=catalog,
        units=units,
        people=people,
        roles=[r.value for r in Role],
        unit_roles=UNIT_ROLES,
        unit_labels=UNIT_LABELS,
        # What each policy applies to, in names (its own name is a code).
        scopes={
            p.name: [
                *(_named(catalog.severities, c) for c in p.severities),
                *(_named(catalog.kinds, c) for c in p.kinds),
                *(_named(catalog.categories, c) for c in p.categories),
            ]
            for p in catalog.policies
        },
        year=year,
        tallies=await substantiated_by_staff(catalog, year, rules.timezone),
        error=error,
        notice=notice or request.query.get("done", ""),
    )


def _named(table: Mapping[str, Any], code: str) -> str:
    return str(table[code].name) if code in table else code


def _year(request: web.Request, tz: ZoneInfo) -> int:
    """?year=2026 (this year by default); anything else is refused in words."""
    raw = request.query.get("year", "")
    if not raw:
        return datetime.now(tz).year
    if not (raw.isdigit() and len(raw) == 4 and MIN_YEAR <= int(raw) <= MAX_YEAR):
        raise ValidationError("年份请写四位数字,例如 2026。", field="year")
    return int(raw)


async def add_staff(request: web.Request) -> web.Response:
    _admin_only(request)
    form = await checked_form(request)
    try:
        user = await create_staff(
            text(form, "username"),
            text(form, "password"),
            text(form, "role"),
            text(form, "department"),
            text(form, "display_name"),
            passwords=sign_in_guard(request).passwords,
        )
    except CaseError as exc:
        return await overview(request, error=exc.message)
    raise web.HTTPFound(f"/staff/admin?done=已创建账号 {user.username}")


async def disable_staff(request: web.Request) -> web.Response:
    _admin_only(request)
    await checked_form(request)
    raw = request.match_info["id"]
    user = await staff_by_id(int(raw)) if raw.isdigit() else None
    if user is None:
        raise NotFound("没有这个账号。")
    if user.id == actor_of(request).id:
        return await overview(request, error="不能停用自己的账号。")
    await disable_account(user)
    raise web.HTTPFound(f"/staff/admin?done=已停用账号 {user.username},其登录已失效")


async def unlock_staff(request: web.Request) -> web.Response:
    """Clear an account's sign-in back-off at once (after a clerk's own mistypes or an attack)."""
    _admin_only(request)
    await checked_form(request)
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 9:
        raise NotFound("没有这个账号。")
    user = await unlock_sign_in(sign_in_guard(request), signed_in(request).user, int(raw))
    raise web.HTTPFound(f"/staff/admin?done=已解除账号 {user.username} 的登录限制")
