"""The statistics dashboard in headless Chromium: the SVG charts are drawn and visible with
the hand-built month's numbers, a unit filter changes the page, the overdue list links to the
case, the printable report gets its own style, and the console's policy is never violated."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from cases.auth.accounts import create_staff
from complaint_desk.app import create_app
from complaint_desk.keys import RULES
from config.settings import Settings
from tests.cases.test_stats import Month
from tests.staff.test_worklist import due
from tests.test_staff_browser import PASSWORD, sign_in

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage


@pytest.fixture
async def console_server(
    aiohttp_server: AiohttpServer, make_settings: Callable[..., Settings]
) -> TestServer:
    settings = make_settings(worker__in_process=False, staff__secure_cookies=False)
    return await aiohttp_server(create_app(settings))


async def test_dashboard_charts_and_unit_filter(
    console_server: TestServer, screenshots: Browser
) -> None:
    from playwright.async_api import expect

    assert console_server.app is not None
    month = await Month().build(console_server.app[RULES])
    await due(month.c, timedelta(days=-3))
    await create_staff("sun.leader", PASSWORD, "leader", "leaders", "孙局长")

    page = await sign_in(screenshots, console_server, "sun.leader")
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":  # a CSP violation is reported here
            problems.append(message.text)

    page.on("console", on_console)
    await page.get_by_role("link", name="统计", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("全部单位")
    await page.locator("#period-filter input[name=month]").fill("2026-11")
    await page.locator("#period-filter button[type=submit]").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("统计:2026年11月 · 全部单位")

    await expect(page.locator("#filed")).to_have_text("6")
    await expect(page.locator("[data-rate=acceptance] .value")).to_have_text("80.0%")
    series = page.locator("#chart-series svg")
    await expect(series).to_be_visible()
    await expect(series.locator("g.column")).to_have_count(30)
    box = await series.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80
    units = page.locator("#chart-unit svg")
    await expect(units).to_be_visible()
    await expect(units.locator("text.label", has_text="消费者权益保护科")).to_be_visible()
    await expect(units.locator("text.value").first).to_have_text("4")
    # The longest bar is the biggest count, drawn in proportion.
    widths = [
        float(w or 0)
        for w in await units.locator("rect").evaluate_all(
            "rects => rects.map(r => r.getAttribute('width'))"
        )
    ]
    assert widths[0] == max(widths) and widths[1] == pytest.approx(widths[0] / 2, abs=0.02)
    await expect(page.locator("#chart-respondents svg")).to_contain_text("城东便民超市")
    await expect(page.locator("#chart-overdue svg")).to_be_visible()

    # Choosing a unit narrows the page to it.
    await page.locator("#period-filter select[name=unit]").select_option("consumer")
    await page.locator("#period-filter button[type=submit]").click()
    await expect(page).to_have_url(re.compile(r"unit=consumer"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "统计:2026年11月 · 消费者权益保护科"
    )
    await expect(page.locator("#filed")).to_have_text("4")
    await expect(page.locator("#chart-unit")).to_have_count(0)
    await expect(page.locator("#hot-spots")).to_contain_text("选定单位时不显示")
    await page.locator("#overdue").get_by_role("link", name=month.c.number).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(month.c.number)

    # The printable report applies its own inline style (allowed by hash).
    report = await page.context.new_page()
    report.on("console", on_console)
    url = console_server.make_url("/staff/reports/monthly?month=2026-11&format=html")
    await report.goto(str(url))
    await expect(report.get_by_role("heading", level=1)).to_contain_text("2026年11月")
    align = await report.locator("h1").evaluate("h => getComputedStyle(h).textAlign")
    assert align == "center"
    assert problems == []
