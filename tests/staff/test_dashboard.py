"""The statistics dashboard and the monthly report from the console: who sees which unit, the
period and unit filters on a hand-built month (tests/cases/test_stats.py `Month`), bad
filters, the JSON API and the report downloads."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

from openpyxl import load_workbook

from staff.dashboard import report_policy
from tests.cases.test_stats import OTHER, Month
from tests.staff.conftest import Console, StaffWorld
from tests.staff.test_worklist import api_get, api_headers, due

FIGURE = re.compile(r'<span class="value" id="(filed|closed|overdue-total)">(\d+)</span>')
H1 = re.compile(r"<h1>(.*?)</h1>")


async def overdue_month(world: StaffWorld) -> Month:
    """The hand-built November 2026; C (consumer unit), E and F (not yet assigned) overdue."""
    month = await Month().build(world.rules)
    for case, late in ((month.c, 3), (month.e, 2), (month.f, 1)):
        await due(case, timedelta(days=-late))
    return month


def figures(html: str) -> dict[str, int]:
    return {name: int(n) for name, n in FIGURE.findall(html)}


async def test_november_for_all_units_then_one_unit(staff_world: StaffWorld) -> None:
    month = await overdue_month(staff_world)
    leader = await staff_world.console("leader", "leaders")

    status, html = await leader.get("/staff/dashboard?month=2026-11")
    assert status == 200
    assert H1.findall(html) == ["统计:2026年11月 · 全部单位"]
    assert figures(html) == {"filed": 6, "closed": 3, "overdue-total": 3}
    for text in (
        '<span class="value">80.0%</span>',  # 受理率 4/5
        '<span class="muted">4/5</span>',
        '<span class="value">66.7%</span>',  # 满意率 2/3
        'title="满意率 = 本期收到的已受理投诉办结评价中(满意 + 基本满意)的份数 ÷ 本期收到的已受理投诉办结评价份数"',
        "<title>消费者权益保护科:4 件</title>",
        "<title>未交办:2 件</title>",
        f"<title>{OTHER}:2 件</title>",
        "<title>城东便民超市:4 件</title>",
        "<td>被投诉对象:城东便民超市</td><td>4</td><td>1</td><td>+3</td>",
        "<title>2026-11-02:5 件</title>",
        f'<a href="/staff/cases/{month.c.number}">{month.c.number}</a>',
        f'<a href="/staff/cases/{month.f.number}">{month.f.number}</a>',
        '<h3 data-unit="consumer">消费者权益保护科:1 件</h3>',
        '<h3 data-unit="none">未交办:2 件</h3>',
        '<a href="/staff/reports/monthly?',
    ):
        assert text in html, text
    assert html.count("<svg ") == 7  # series, kind, category, channel, unit, respondents, overdue
    # A unit's bar opens that unit's view, keeping the month.
    assert '<a href="/staff/dashboard?month=2026-11&amp;unit=consumer">' in html

    status, html = await leader.get("/staff/dashboard?month=2026-11&unit=consumer")
    assert status == 200
    assert H1.findall(html) == ["统计:2026年11月 · 消费者权益保护科"]
    assert figures(html) == {"filed": 4, "closed": 3, "overdue-total": 1}
    assert '<span class="muted">3/4</span>' in html  # 办结率
    assert month.c.number in html and month.f.number not in html
    # Rankings of every unit are not shown for one unit.
    assert "选定单位时不显示" in html and 'id="chart-respondents"' not in html

    status, html = await leader.get("/staff/dashboard?month=2026-11&unit=food")
    assert figures(html) == {"filed": 0, "closed": 0, "overdue-total": 0}
    assert "本期没有登记的案件。" in html and "目前没有超期的案件。" in html

    # Other periods and grains.
    _, html = await leader.get("/staff/dashboard?month=2026-10")
    assert figures(html)["filed"] == 1  # F, filed 31 Oct 23:30 local time

    _, html = await leader.get("/staff/dashboard?from=2026-11-01&to=2026-11-05")
    assert H1.findall(html) == ["统计:2026-11-01 至 2026-11-05 · 全部单位"]
    assert figures(html)["filed"] == 5  # E was filed on 10 Nov
    assert html.count('<g class="column">') == 5

    _, html = await leader.get("/staff/dashboard?month=2026-11&grain=week")
    assert html.count('<g class="column">') == 6
    assert "<title>2026-11-02 起一周:5 件</title>" in html
    assert "<strong>按周</strong>" in html


async def test_who_sees_which_unit(staff_world: StaffWorld) -> None:
    await overdue_month(staff_world)
    handler = await staff_world.console("handler", "consumer")

    status, html = await handler.get("/staff/dashboard?month=2026-11")
    assert status == 200
    assert H1.findall(html) == ["统计:2026年11月 · 消费者权益保护科"]
    assert figures(html) == {"filed": 4, "closed": 3, "overdue-total": 1}
    assert '<select name="unit">' not in html and "/staff/reports/monthly" not in html
    assert '<a href="/staff/dashboard">统计</a>' in html

    # Their own unit by name is the same page; another unit is refused, as in supervision.
    status, own = await handler.get("/staff/dashboard?month=2026-11&unit=consumer")
    assert status == 200 and figures(own) == figures(html)
    status, html = await handler.get("/staff/dashboard?month=2026-11&unit=food")
    assert status == 403 and "只能查看本单位的统计。" in html
    headers = await api_headers(handler)
    api = "/api/staff/v1/dashboard?month=2026-11"
    resp = await handler.client.get(f"{api}&unit=food", headers=headers)
    error = (await resp.json())["error"]
    assert (resp.status, error["code"], error["field"]) == (403, "forbidden", "unit")
    resp = await handler.client.get(api, headers=headers)
    assert resp.status == 200
    assert (await resp.json())["unit"] == {"code": "consumer", "name": "消费者权益保护科"}

    status, _, body = await get_report(handler, "month=2026-11")
    assert status == 403 and "月报仅供受理中心、领导和管理员查看。" in body.decode()

    # Intake and admins (leaders: the other tests) see every unit, the report too.
    today = datetime.now(staff_world.rules.timezone)
    for role, unit in (("intake", "centre"), ("admin", "")):
        console = await staff_world.console(role, unit)
        status, html = await console.get("/staff/dashboard?month=2026-11&unit=food")
        assert status == 200 and '<option value="food" selected>' in html, role
        assert '<a href="/staff/dashboard">统计</a>' in html
        status, headers, _ = await get_report(console, "month=2026-11")
        assert status == 200 and "report-2026-11.html" in headers["Content-Disposition"]
        # Without a month: this month, for the page and the report.
        status, html = await console.get("/staff/dashboard")
        assert H1.findall(html) == [f"统计:{today.year}年{today.month}月 · 全部单位"]
        assert f'name="month" value="{today:%Y-%m}"' in html
        status, headers, _ = await get_report(console, "")
        assert f"report-{today:%Y-%m}.html" in headers["Content-Disposition"]


BAD_FILTERS = [
    ("month=2026-13", "month", "月份格式应为 2026-11。"),
    ("month=November", "month", "月份格式应为 2026-11。"),
    ("month=9999-12", "month", "月份请在 1970-01 至 2199-12 之间。"),
    ("from=2026-11-30&to=2026-11-01", "from", "开始日期不能晚于结束日期。"),
    ("from=2026-11-01", "to", "请同时填写开始日期和结束日期。"),
    ("from=2026/11/01&to=2026-11-30", "from", "日期格式应为 2026-11-23。"),
    ("month=2026-11&from=2026-11-01&to=2026-11-02", "month", "二者不能同时使用"),
    ("from=1900-01-01&to=2026-11-30", "from", "日期请在 1970-01-01 至 2199-12-31 之间。"),
    ("from=2020-01-01&to=2026-11-30&grain=day", "grain", "时间段太长"),
    ("grain=hour", "grain", "显示方式应为按日、按周或按月。"),
    ("unit=mars", "unit", "没有这个承办单位"),
]


async def test_bad_filters_are_explained(staff_world: StaffWorld) -> None:
    intake = await staff_world.console("intake", "centre")
    headers = await api_headers(intake)
    for query, field, message in BAD_FILTERS:
        status, html = await intake.get(f"/staff/dashboard?{query}")
        assert status == 422 and message in html, query
        assert '<p class="error" role="alert">' in html and '<form class="filters"' in html
        resp = await intake.client.get(f"/api/staff/v1/dashboard?{query}", headers=headers)
        error = (await resp.json())["error"]
        assert resp.status == 422 and error["field"] == field and message in error["message"]
    for query, message in (
        ("month=2026-13&format=xlsx", "月份格式应为 2026-11。"),
        ("month=2026-11&format=pdf", "格式应为 html 或 xlsx。"),
        ("month=1969-12", "月份请在 1970-01 至 2199-12 之间。"),
    ):
        status, _, body = await get_report(intake, query)
        assert status == 422 and message in body.decode(), query
    # The same requests with the mistake mended are answered.
    status, _ = await intake.get("/staff/dashboard?from=2026-11-01&to=2026-11-30&grain=week")
    assert status == 200


async def test_the_json_api(staff_world: StaffWorld) -> None:
    month = await overdue_month(staff_world)
    intake = await staff_world.console("intake", "centre")
    status, body = await api_get(intake, "/api/staff/v1/dashboard?month=2026-11")
    assert status == 200
    assert body["period"] == {
        "from": "2026-11-01",
        "to": "2026-11-30",
        "month": "2026-11",
        "label": "2026年11月",
        "start": "2026-11-01T00:00:00+08:00",
        "end": "2026-12-01T00:00:00+08:00",
        "grain": "day",
    }
    assert body["unit"] is None and (body["filed"], body["closed"]) == (6, 3)
    rates = {r["key"]: r for r in body["rates"]}
    assert len(rates) == 12
    assert rates["acceptance"] | {"formula": ""} == {
        "key": "acceptance",
        "name": "受理率",
        "formula": "",
        "numerator": 4,
        "denominator": 5,
        "value": 0.8,
        "display": "80.0%",
        "note": "",
    }
    assert rates["resolution"]["display"] == "无数据" and rates["resolution"]["value"] is None
    assert len(body["series"]) == 30 and sum(b["count"] for b in body["series"]) == 6
    assert body["by_category"] == [
        {"key": "consumer", "label": "消费维权", "count": 5},
        {"key": "food", "label": "食品安全", "count": 1},
    ]
    assert body["by_unit"] == [
        {"key": "consumer", "label": "消费者权益保护科", "count": 4},
        {"key": "", "label": "未交办", "count": 2},
    ]
    assert [(r["label"], r["count"]) for r in body["top_respondents"]] == [
        ("城东便民超市", 4),
        (OTHER, 2),
    ]
    assert body["rising_categories"][0] == {
        "key": "consumer",
        "label": "消费维权",
        "current": 5,
        "previous": 1,
    }
    overdue = body["overdue"]
    assert overdue["total"] == 3
    assert [(u["unit"], u["total"]) for u in overdue["units"]] == [(None, 2), ("consumer", 1)]
    c = overdue["units"][1]["cases"][0]
    assert c["number"] == month.c.number and c["days_overdue"] == 3
    assert (c["kind"], c["category"], c["respondent"]) == ("投诉", "消费维权", OTHER)

    _, one = await api_get(intake, "/api/staff/v1/dashboard?month=2026-11&unit=consumer")
    assert one["unit"]["code"] == "consumer" and one["filed"] == 4
    assert one["by_unit"] is None and one["top_respondents"] is None
    resp = await intake.client.get("/api/staff/v1/dashboard")  # the cookie is not enough
    assert resp.status == 401


async def get_report(console: Console, query: str) -> tuple[int, dict[str, str], bytes]:
    resp = await console.client.get(f"/staff/reports/monthly?{query}", allow_redirects=False)
    return resp.status, dict(resp.headers), await resp.read()


async def test_monthly_report_downloads(staff_world: StaffWorld) -> None:
    month = await overdue_month(staff_world)
    leader = await staff_world.console("leader", "leaders")

    status, headers, body = await get_report(leader, "month=2026-11&format=xlsx")
    assert status == 200
    assert headers["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert headers["Content-Disposition"] == 'attachment; filename="report-2026-11.xlsx"'
    wb = load_workbook(io.BytesIO(body))
    assert wb.sheetnames == ["汇总", "各单位", "热点", "超期"]
    summary = wb["汇总"]
    assert summary["A1"].value == "县市场监督管理局投诉举报中心 2026年11月投诉举报统计月报"
    assert (summary["A4"].value, summary["B4"].value) == ("受理率", 0.8)
    assert (summary["C4"].value, summary["D4"].value) == (4, 5)
    assert wb["热点"]["A2"].value == "城东便民超市" and wb["热点"]["B2"].value == 4
    late = {row[0].value for row in wb["超期"].iter_rows(min_row=3)}
    assert late == {month.c.number, month.e.number, month.f.number}

    status, headers, body = await get_report(leader, "month=2026-11&format=html")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Disposition"] == 'inline; filename="report-2026-11.html"'
    page = body.decode()
    assert "2026年11月投诉举报统计月报" in page and month.c.number in page
    # Its inline <style> is allowed by hash; nothing else may load.
    assert headers["Content-Security-Policy"] == report_policy(page)
    assert re.fullmatch(
        r"default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]{44}'; frame-ancestors 'none'; "
        r"form-action 'none'; base-uri 'none'",
        headers["Content-Security-Policy"],
    )
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
