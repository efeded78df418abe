"""The statistics dashboard (/staff/dashboard and GET /api/staff/v1/dashboard) and the monthly
report from the console (/staff/reports/monthly).

Handlers read the query and call `cases.views.dashboard`, which decides who sees which unit and
gathers the figures from `cases.views.stats`; the charts are drawn here as inline SVG.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup

from cases.errors import ValidationError
from cases.views import dashboard as dash
from cases.views import report
from cases.views.dashboard import Dashboard, Filters
from cases.views.stats import Bucket, Count, HotSpot, Rate
from staff import json_api
from staff.charts import ALERT_COLOUR, Datum, bar_chart, column_chart
from staff.web import actor_of, render, rules_of

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.S)
# Natural chart sizes: a time series across the page, bar charts two to a row.
SERIES_PX, BARS_PX = 900, 440
OVERDUE_SHOWN = 10  # per unit on the page; the worklist link shows the rest
REPORT_FORMATS = ("html", "xlsx")


def add_routes(router: web.UrlDispatcher) -> None:
    """Register this module's pages."""
    router.add_get("/dashboard", dashboard_page, name="staff_dashboard")
    router.add_get("/reports/monthly", monthly_report, name="staff_monthly_report")


def add_api_routes(router: web.UrlDispatcher) -> None:
    """Register this module's JSON API routes."""
    router.add_get("/dashboard", dashboard_api, name="staff_api_dashboard")


# --- reading the query ------------------------------------------------------------------------


def read_month(value: str, field: str = "month") -> date:
    match = MONTH.match(value.strip())
    # Year 0000 is no date at all (date() raised ValueError: a 500 before this check).
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise ValidationError("月份格式应为 2026-11。", field=field)
    month = date(int(match.group(1)), int(match.group(2)), 1)
    if not dash.EARLIEST <= month <= dash.LATEST:
        earliest, latest = f"{dash.EARLIEST:%Y-%m}", f"{dash.LATEST:%Y-%m}"
        raise ValidationError(f"月份请在 {earliest} 至 {latest} 之间。", field=field)
    return month


def _read_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError("日期格式应为 2026-11-23。", field=field) from None


def read_filters(query: Mapping[str, str], today: date) -> Filters:
    """`month=YYYY-MM`, or `from` and `to` (both included), else this month; `unit`, `grain`."""
    unit, grain = query.get("unit", "").strip(), query.get("grain", "").strip()
    month, first, last = (query.get(k, "").strip() for k in ("month", "from", "to"))
    if month and (first or last):
        raise ValidationError("请选择月份或起止日期,二者不能同时使用。", field="month")
    if first or last:
        if not (first and last):
            raise ValidationError("请同时填写开始日期和结束日期。", field="from" if last else "to")
        return Filters(_read_date(first, "from"), _read_date(last, "to"), unit, grain)
    return Filters.month(read_month(month) if month else today, unit, grain)


def _today(request: web.Request) -> date:
    return datetime.now(rules_of(request).timezone).date()


async def _dashboard(request: web.Request) -> Dashboard:
    filters = read_filters(request.query, _today(request))
    return await dash.build_dashboard(
        rules_of(request), actor_of(request), filters, datetime.now(UTC)
    )


# --- the page ---------------------------------------------------------------------------------


async def dashboard_page(request: web.Request) -> web.Response:
    actor = actor_of(request)
    dash.check_stats_viewer(actor)
    try:
        board = await _dashboard(request)
    except ValidationError as exc:
        # The filters again with the reason, rather than a bare error page.
        return render(
            request,
            "dashboard.html",
            status=exc.status,
            error=exc.message,
            board=None,
            form=request.query,
            may_report=actor.role in dash.STATS_VIEWERS,
            report_month=_today(request),
        )
    return render(
        request,
        "dashboard.html",
        board=board,
        form=request.query,
        charts=_charts(request, board),
        links=_links(request),
        may_report=actor.role in dash.STATS_VIEWERS,
        report_month=board.filters.last,  # the period's (last) month
        overdue_shown=OVERDUE_SHOWN,
        provisional_years=_provisional_years(request),
    )


def _provisional_years(request: web.Request) -> list[int]:
    return rules_of(request).calendar.provisional_years_ahead(datetime.now(UTC))


def _here(request: web.Request, **changes: str) -> str:
    """This page's address with some filters changed ("" drops one)."""
    kept = {k: v for k, v in request.query.items() if k in ("month", "from", "to", "unit", "grain")}
    kept.update(changes)
    return str(request.rel_url.with_query({k: v for k, v in kept.items() if v}))


def _links(request: web.Request) -> dict[str, Any]:
    return {"grains": [(g, label, _here(request, grain=g)) for g, label in dash.GRAINS.items()]}


def _counts(data: list[Count]) -> list[Datum]:
    return [Datum(c.label, c.count) for c in data]


def _series(buckets: list[Bucket], grain: str) -> list[Datum]:
    """Short axis labels (11-02, 2026-11); the tooltip keeps the whole date."""
    short = "%Y-%m" if grain == "month" else "%m-%d"
    tip = {"day": "%Y-%m-%d", "week": "%Y-%m-%d 起一周", "month": "%Y年%m月"}[grain]
    return [Datum(b.start.strftime(short), b.count, tip=b.start.strftime(tip)) for b in buckets]


def _charts(request: web.Request, board: Dashboard) -> dict[str, Markup]:
    charts = {
        "series": column_chart(
            _series(board.series, board.grain),
            title=f"登记件数({dash.GRAINS[board.grain]})",
            empty="本期没有登记的案件。",
            width=SERIES_PX,
        ),
        "kind": bar_chart(_counts(board.by_kind), title="按类型", width=BARS_PX),
        "category": bar_chart(_counts(board.by_category), title="按类别", width=BARS_PX),
        "channel": bar_chart(_counts(board.by_channel), title="按渠道", width=BARS_PX),
        "overdue": bar_chart(
            [
                Datum(g.name, g.total, href=_here(request, unit=g.unit) if g.unit else "")
                for g in board.overdue
            ],
            title="各单位超期在办",
            empty="目前没有超期的案件。",
            colour=ALERT_COLOUR,
        ),
    }
    if board.unit is None:
        # A bar per unit opens that unit's view.
        charts["unit"] = bar_chart(
            [
                Datum(c.label, c.count, href=_here(request, unit=c.key) if c.key else "")
                for c in board.by_unit
            ],
            title="按承办单位",
            width=BARS_PX,
        )
    if board.top_respondents is not None:
        charts["respondents"] = bar_chart(_counts(board.top_respondents), title="被投诉最多的对象")
    return charts


# --- the JSON API -----------------------------------------------------------------------------


async def dashboard_api(request: web.Request) -> web.Response:
    board = await _dashboard(request)
    return json_api.ok({**dashboard_json(board), "provisional_years": _provisional_years(request)})


def _rate_json(rate: Rate) -> dict[str, Any]:
    return {
        "key": rate.key,
        "name": rate.name,
        "formula": rate.formula,
        "numerator": rate.numerator,
        "denominator": rate.denominator,
        "value": rate.value,
        "display": rate.display(),
        "note": rate.note,
    }


def _count_json(counts: list[Count] | None) -> list[dict[str, Any]] | None:
    if counts is None:
        return None
    return [{"key": c.key, "label": c.label, "count": c.count} for c in counts]


def _spots_json(spots: list[HotSpot] | None) -> list[dict[str, Any]] | None:
    if spots is None:
        return None
    return [
        {"key": s.key, "label": s.label, "current": s.current, "previous": s.previous}
        for s in spots
    ]


def dashboard_json(board: Dashboard) -> dict[str, Any]:
    f = board.filters
    return {
        "period": {
            "from": f.first.isoformat(),
            "to": f.last.isoformat(),
            "month": f"{f.first:%Y-%m}" if f.whole_month else None,
            "label": board.label,
            "start": board.period.start.isoformat(),
            "end": board.period.end.isoformat(),
            "grain": board.grain,
        },
        "unit": {"code": board.unit.code, "name": board.unit.name} if board.unit else None,
        "filed": board.filed,
        "closed": board.closed,
        "rates": [_rate_json(r) for r in board.rates],
        "series": [
            {"start": b.start.isoformat(), "label": b.label, "count": b.count} for b in board.series
        ],
        "by_kind": _count_json(board.by_kind),
        "by_category": _count_json(board.by_category),
        "by_channel": _count_json(board.by_channel),
        "by_unit": _count_json(board.by_unit) if board.unit is None else None,
        "top_respondents": _count_json(board.top_respondents),
        "rising_respondents": _spots_json(board.rising_respondents),
        "rising_categories": _spots_json(board.rising_categories),
        "overdue": {
            "as_of": board.as_of.isoformat(),
            "total": board.overdue_total,
            "units": [
                {
                    "unit": g.unit or None,
                    "name": g.name,
                    "total": g.total,
                    "cases": [
                        {
                            "number": o.number,
                            "kind": o.kind,
                            "category": o.category,
                            "respondent": o.respondent,
                            "due_at": o.due_at.isoformat(),
                            "days_overdue": o.days_overdue,
                        }
                        for o in g.cases
                    ],
                }
                for g in board.overdue
            ],
        },
    }


# --- the monthly report -----------------------------------------------------------------------


async def monthly_report(request: web.Request) -> web.StreamResponse:
    """?month=YYYY-MM (this month if absent) &format=html (printable page) or xlsx."""
    actor = actor_of(request)
    dash.check_report_viewer(actor)
    raw = request.query.get("month", "")
    month = read_month(raw) if raw else _today(request).replace(day=1)
    fmt = request.query.get("format", "html")
    if fmt not in REPORT_FORMATS:
        raise ValidationError("格式应为 html 或 xlsx。", field="format")
    data = await dash.monthly_report(rules_of(request), actor, month, datetime.now(UTC))
    name = f"report-{month:%Y-%m}.{fmt}"
    if fmt == "xlsx":
        body = await asyncio.to_thread(_workbook_bytes, data)
        return web.Response(
            body=body,
            content_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    html = report.render_html(data)
    response = web.Response(text=html, content_type="text/html", charset="utf-8")
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers["Content-Security-Policy"] = report_policy(html)
    return response


def _workbook_bytes(data: report.MonthlyReport) -> bytes:
    # openpyxl writes to a path; a private temporary directory keeps requests apart.
    with tempfile.TemporaryDirectory(prefix="cd-report-") as tmp:
        path = Path(tmp) / "report.xlsx"
        report.write_workbook(data, path)
        return path.read_bytes()


def report_policy(html: str) -> str:
    """The printable page's own policy: nothing may load; only its own <style> blocks apply
    (by hash), since the console's policy forbids inline styles."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in STYLE_BLOCK.findall(html)
    )
    sources = hashes or "'none'"
    return (
        f"default-src 'none'; style-src {sources}; "
        "frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
    )
