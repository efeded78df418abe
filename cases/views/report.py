"""The monthly report: its figures (cases/views/stats.py) and two writers, an Excel workbook
(sheets 汇总, 各单位, 热点, 超期) and a printable HTML page without external resources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

import templates
from cases.rules import Rules
from cases.store.models import Department
from cases.views import stats
from cases.views.stats import Count, HotSpot, Period, Rate
from cases.workflow.deadlines import due_text

TOP = 10
NO_UNIT = "未交办(投诉举报中心)"


@dataclass(frozen=True)
class UnitRow:
    name: str
    filed: int
    rates: dict[str, Rate]
    overdue: int


@dataclass(frozen=True)
class OverdueRow:
    number: str
    kind: str
    category: str
    unit: str
    respondent: str
    due_at: datetime  # local time
    days_overdue: int


@dataclass(frozen=True)
class MonthlyReport:
    title: str
    month: date
    period: Period
    generated_at: datetime  # local time; the overdue list is as of this moment
    filed: int
    rates: list[Rate]
    by_kind: list[Count]
    by_channel: list[Count]
    units: list[UnitRow]
    top_respondents: list[Count]
    top_categories: list[Count]
    rising_respondents: list[HotSpot]
    rising_categories: list[HotSpot]
    overdue: list[OverdueRow]

    @property
    def label(self) -> str:
        return f"{self.month.year}年{self.month.month}月"


async def build_monthly_report(rules: Rules, month: date, now: datetime) -> MonthlyReport:
    """Gather the month's figures: the rates, the per-unit table, the hot spots and the
    open cases overdue as of `now`."""
    with stats.shared_counts():  # the unit table's counts also give the month's totals
        return await _build_monthly_report(rules, month, now)


async def _build_monthly_report(rules: Rules, month: date, now: datetime) -> MonthlyReport:
    tz, catalog = rules.timezone, rules.catalog
    period = Period.month(month, tz)
    before = month.replace(day=1)
    previous = Period.month(
        date(before.year - (before.month == 1), (before.month - 2) % 12 + 1, 1), tz
    )
    units = {d.id: d.name for d in await Department.all().order_by("id")}
    handling = [d.id for d in await Department.filter(role="handling").order_by("id")]

    filed_by_unit = await stats.counts_by("unit", period)
    rates_by_unit = await stats.rates_by_unit(period, now)
    overdue_by_unit = await stats.overdue_by_unit(now)
    unit_ids = [*handling]
    for extra in (*filed_by_unit, *rates_by_unit, *overdue_by_unit):
        if extra not in unit_ids:
            unit_ids.append(extra)
    rows = []
    for unit in unit_ids:
        rates = rates_by_unit.get(unit, {})
        rows.append(
            UnitRow(
                name=NO_UNIT if unit is None else units.get(unit, str(unit)),
                filed=filed_by_unit.get(unit, 0),
                rates={
                    key: rates.get(key) or Rate(key, name, stats.formula_of(func), 0, 0)
                    for key, name, func, _, _ in stats.UNIT_RATES
                },
                overdue=overdue_by_unit.get(unit, 0),
            )
        )

    def name_of(table: dict[str, str], key: str) -> str:
        return table.get(key, key)

    kinds = {k: v.name for k, v in catalog.kinds.items()}
    categories = {k: v.name for k, v in catalog.categories.items()}
    by_category = await stats.counts_by("category", period)
    overdue = [
        OverdueRow(
            number=o.number,
            kind=name_of(kinds, o.kind),
            category=name_of(categories, o.category),
            unit=NO_UNIT if o.department_id is None else units.get(o.department_id, ""),
            respondent=o.respondent_name,
            due_at=o.due_at.astimezone(tz),
            days_overdue=(now - o.due_at).days,
        )
        for o in await stats.overdue_cases(now)
    ]
    return MonthlyReport(
        title=catalog.title,
        month=month.replace(day=1),
        period=period,
        generated_at=now.astimezone(tz),
        filed=sum(by_category.values()),
        rates=await stats.all_rates(period, now=now),
        by_kind=_named(await stats.counts_by("kind", period), kinds),
        by_channel=_named(await stats.counts_by("channel", period), catalog.channels),
        units=rows,
        top_respondents=await stats.top_respondents(period, TOP),
        top_categories=_named(by_category, categories)[:TOP],
        rising_respondents=await stats.hot_spots("respondent", period, previous, TOP),
        rising_categories=[
            HotSpot(s.key, name_of(categories, s.key), s.current, s.previous)
            for s in await stats.hot_spots("category", period, previous, TOP)
        ],
        overdue=overdue,
    )


def _named(counts: dict[str, int], names: dict[str, str]) -> list[Count]:
    return sorted(
        (Count(k, names.get(k, k), n) for k, n in counts.items()), key=lambda c: (-c.count, c.key)
    )


# --- writers --------------------------------------------------------------------------------

BOLD = Font(bold=True)
PERCENT = "0.0%"
# What makes a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_workbook(report: MonthlyReport, path: Path) -> None:
    """The Excel workbook: rates as numbers formatted as percentages (blank + 无数据/— when
    there is none), with numerator, denominator and formula beside each."""
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = "汇总"
    summary.append([f"{report.title} {report.label}投诉举报统计月报"])
    summary.append([f"统计期间 {_period_text(report)};本月登记 {report.filed} 件"])
    summary.append(["指标", "数值", "分子", "分母", "计算公式", "说明"])
    for rate in report.rates:
        summary.append(
            [
                rate.name,
                _cell(rate),
                rate.numerator,
                rate.denominator,
                rate.formula,
                rate.note,
            ]
        )
        summary.cell(summary.max_row, 2).number_format = PERCENT
    summary.append([])
    summary.append(["按类型", "件数"])
    for c in report.by_kind:
        summary.append([c.label, c.count])
    summary.append([])
    summary.append(["按渠道", "件数"])
    for c in report.by_channel:
        summary.append([c.label, c.count])

    units = wb.create_sheet("各单位")
    keys = [key for key, *_ in stats.UNIT_RATES]
    names = [name for _, name, *_ in stats.UNIT_RATES]
    units.append(["单位", "本月登记", *names, "超期在办"])
    for row in report.units:
        values = [_cell(row.rates[k]) for k in keys]
        units.append([row.name, row.filed, *values, row.overdue])
        for i in range(len(keys)):
            units.cell(units.max_row, 3 + i).number_format = PERCENT

    hot = wb.create_sheet("热点")
    hot.append(["被投诉对象", "本月件数"])
    for c in report.top_respondents:
        hot.append([c.label, c.count])
    hot.append([])
    hot.append(["类别", "本月件数"])
    for c in report.top_categories:
        hot.append([c.label, c.count])
    hot.append([])
    hot.append(["上升最快的被投诉对象", "本月", "上月", "增加"])
    for s in report.rising_respondents:
        hot.append([s.label, s.current, s.previous, s.rise])
    hot.append([])
    hot.append(["上升最快的类别", "本月", "上月", "增加"])
    for s in report.rising_categories:
        hot.append([s.label, s.current, s.previous, s.rise])

    late = wb.create_sheet("超期")
    late.append([f"截至 {report.generated_at:%Y-%m-%d %H:%M} 仍在办理且已超期的案件"])
    late.append(["案件编号", "类型", "类别", "承办单位", "被投诉对象", "期限", "超期天数"])
    for o in report.overdue:
        late.append(
            [
                o.number,
                o.kind,
                o.category,
                o.unit,
                o.respondent,
                due_text(o.due_at),
                o.days_overdue,
            ]
        )

    for sheet in wb.worksheets:
        header = 2 if sheet.title == "超期" else (3 if sheet.title == "汇总" else 1)
        for cell in sheet[header]:
            cell.font = BOLD
        sheet.column_dimensions["A"].width = 24
    summary.column_dimensions["E"].width = 80
    summary["A1"].font = Font(bold=True, size=14)
    for sheet in wb.worksheets:
        _text_stays_text(sheet)
    wb.save(path)


def _text_stays_text(sheet: Worksheet) -> None:
    """Every text cell is written as text, never as a formula: openpyxl makes any string that
    starts with `=` a live formula, and a respondent named `=HYPERLINK(...)` would run in the
    reader's Excel. The quote prefix keeps it text when someone edits the cell too; numbers
    are left numbers."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
                if cell.value.startswith(FORMULA_STARTS):
                    cell.quotePrefix = True


def _cell(rate: Rate) -> float | str:
    """A number Excel can format, or the text 无数据 / — when there is none."""
    return rate.display() if rate.value is None else rate.value


def render_html(report: MonthlyReport) -> str:
    """The printable page (templates/report/monthly.html): inline CSS, no scripts, no fetches."""
    env = Environment(
        loader=FileSystemLoader(Path(templates.__file__).parent / "report"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["due"] = due_text  # deadlines as the console shows them
    return env.get_template("monthly.html").render(
        report=report, unit_rates=stats.UNIT_RATES, period_text=_period_text(report)
    )


def write_report(report: MonthlyReport, out_dir: Path) -> tuple[Path, Path]:
    """Write report-YYYY-MM.xlsx and report-YYYY-MM.html into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"report-{report.month:%Y-%m}"
    xlsx, html = out_dir / f"{stem}.xlsx", out_dir / f"{stem}.html"
    write_workbook(report, xlsx)
    html.write_text(render_html(report), encoding="utf-8")
    return xlsx, html


def _period_text(report: MonthlyReport) -> str:
    tz = report.generated_at.tzinfo
    start = report.period.start.astimezone(tz)
    end = report.period.end.astimezone(tz)
    return f"{start:%Y-%m-%d %H:%M} 至 {end:%Y-%m-%d %H:%M}(不含)"
