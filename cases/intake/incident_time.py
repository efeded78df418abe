"""When did it happen: the answers citizens type ('昨天下午', '上周五', '前天三点', '11月20日')
turned into a local time, and that time shown back the way they said it ('11月24日下午').

Pure functions; the caller passes the moment the message was sent, in the organisation's
timezone, so that '昨天' means the day before the message, not before the server read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cases.text import plain_input

_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"[0-9]{1,2}|[零一二两三四五六七八九十]{1,3}"
_TIME = re.compile(rf"({_NUM})\s*[:：点时]\s*(半|一刻|三刻|{_NUM})?\s*分?")
_FULL_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?")
_SHORT_DATE = re.compile(r"(\d{1,2})[-/.月](\d{1,2})[日号]?")
_WEEKDAY = re.compile(r"(上上|上|这|本)?(?:周|星期|礼拜)([一二三四五六日天1-7])")
_DAYS_AGO = re.compile(rf"({_NUM})\s*天(?:以)?前")
# Words for a day relative to the message, longest first ('大前天' before '前天').
_RELATIVE_DAYS = (
    ("大前天", 3),
    ("前天", 2),
    ("昨天", 1),
    ("昨日", 1),
    ("昨晚", 1),
    ("今天", 0),
    ("今日", 0),
    ("今早", 0),
    ("今晚", 0),
)
# Parts of the day: (word, hours to add to a named hour below 12, hour when none is named).
# '下午' alone is taken as 15:00 so that the time is stored; it is shown back as '下午'.
_PARTS = (
    ("凌晨", 0, 3),
    ("半夜", 0, 0),
    ("早上", 0, 8),
    ("早晨", 0, 8),
    ("今早", 0, 8),
    ("上午", 0, 10),
    ("中午", 12, 12),
    ("下午", 12, 15),
    ("傍晚", 12, 18),
    ("晚上", 12, 20),
    ("夜里", 12, 22),
    ("昨晚", 12, 20),
    ("今晚", 12, 20),
)
# A bare '三点' with no part of the day: people mean the afternoon for 1–6 o'clock.
_AFTERNOON_BARE_HOURS = range(1, 7)


@dataclass(frozen=True)
class IncidentTime:
    """A time the citizen named, and how precisely they named it."""

    at: datetime
    has_clock: bool  # an hour was named
    part: str = ""  # a part of the day named without an hour ('下午'), else ''

    def label(self) -> str:
        """'11月20日', '11月20日 15:00' or '11月24日下午' — the way the citizen said it."""
        day = f"{self.at.month}月{self.at.day}日"
        if self.has_clock:
            return f"{day} {self.at:%H:%M}"
        return day + self.part


def understand_incident_time(text: str, sent_local: datetime) -> IncidentTime | None:
    """The local time `text` names, relative to `sent_local` (aware); None if not understood.

    Takes relative days (今天, 昨天, 前天, 大前天, 三天前), weekdays (周五, 上周五, 上星期五,
    本周一), dates (11月20日, 2026-11-20) and a time of day (14:30, 下午3点, 三点半, 晚上8点).
    A weekday without 上/本 is the latest such day up to today. The result may lie after
    `sent_local`; refusing it is the caller's choice.
    """
    text = re.sub(r"\s+", "", plain_input(text))  # full-width digits and colons, invisibles
    today = sent_local.date()
    day, rest = _day_of(text, today)
    if day is None:
        return None
    part = next((p for p in _PARTS if p[0] in text), None)
    match = _TIME.search(rest)
    if match is None:
        if part is None:
            return IncidentTime(_at(day, 0, 0, sent_local), has_clock=False)
        return IncidentTime(_at(day, part[2], 0, sent_local), has_clock=False, part=part[0])
    hour, minute = _number(match[1]), _minutes(match[2])
    if hour is None or minute is None or hour > 23 or minute > 59:
        return None
    if part is not None:
        if hour < 12:
            hour += part[1]
        return IncidentTime(_at(day, hour, minute, sent_local), has_clock=True)
    when = _at(day, hour, minute, sent_local)
    if hour in _AFTERNOON_BARE_HOURS:
        afternoon = when + timedelta(hours=12)
        if afternoon <= sent_local or when > sent_local:
            when = afternoon
    return IncidentTime(when, has_clock=True)


def parse_incident_time(text: str, sent_local: datetime) -> datetime | None:
    """Just the time of `understand_incident_time`."""
    understood = understand_incident_time(text, sent_local)
    return None if understood is None else understood.at


def _day_of(text: str, today: date) -> tuple[date | None, str]:
    """The day `text` names and the text after it (where a time of day may follow)."""
    for word, back in _RELATIVE_DAYS:
        if text.startswith(word):
            return today - timedelta(days=back), text[len(word) :]
    if (ago := _DAYS_AGO.search(text)) is not None:
        days = _number(ago[1])
        return (None if days is None else today - timedelta(days=days)), text[ago.end() :]
    if (week := _WEEKDAY.search(text)) is not None:
        index = "一二三四五六日".find(week[2]) if not week[2].isdigit() else int(week[2]) - 1
        index = 6 if week[2] == "天" else index
        monday = today - timedelta(days=today.weekday())
        back = {"上上": 2, "上": 1}.get(week[1] or "", 0)
        day = monday + timedelta(days=index - 7 * back)
        if week[1] is None and day > today:
            day -= timedelta(days=7)
        return day, text[week.end() :]
    try:
        if (full := _FULL_DATE.search(text)) is not None:
            return date(int(full[1]), int(full[2]), int(full[3])), text[full.end() :]
        if (short := _SHORT_DATE.search(text)) is not None:
            day = date(today.year, int(short[1]), int(short[2]))
            if day > today:
                day = day.replace(year=day.year - 1)  # "12月30日" typed in January
            return day, text[short.end() :]
    except ValueError:
        return None, text
    return None, text


def _number(word: str) -> int | None:
    """'3', '十', '十二', '二十三', '两' → int; None for anything else."""
    if word.isdigit():
        return int(word)
    if "十" in word:
        tens, _, ones = word.partition("十")
        high = _DIGITS.get(tens, -1) if tens else 1
        low = _DIGITS.get(ones, -1) if ones else 0
        return None if high < 0 or low < 0 else high * 10 + low
    return _DIGITS.get(word) if len(word) == 1 else None


def _minutes(word: str | None) -> int | None:
    if not word:
        return 0
    return {"半": 30, "一刻": 15, "三刻": 45}.get(word) or _number(word)


def _at(day: date, hour: int, minute: int, sent_local: datetime) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=sent_local.tzinfo)
