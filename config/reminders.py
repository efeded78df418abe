"""A profile's [reminders] section: the points at which a running deadline clock reminds the
unit in charge of its case (and the intake centre), checked when the profile loads.

The points and their texts are the profile's; cases/workflow/reminders.py raises them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# When a point is reached (the sweep raises it only while it is current):
DUE_SOON = "due_soon"  # the worklists' "due soon": less than [deadlines] due_soon_ratio left
DUE_DAY = "due_day"  # from 00:00 of the clock's last day until it runs out
OVERDUE = "overdue"  # once run out; with working_days = N, N working days after the last day
REMINDER_AT = (DUE_SOON, DUE_DAY, OVERDUE)
SECTION_KEYS = frozenset({"points", "intake_clocks", "skip_clocks"})
POINT_KEYS = frozenset({"key", "label", "at", "working_days", "intake", "clocks"})
POINT_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")  # stored in reminder.point (32 characters)
MAX_LABEL_CHARS = 20


@dataclass(frozen=True)
class ReminderPoint:
    key: str
    label: str
    at: str
    working_days: int = 0
    # The intake centre is reminded too (it sees the unit's reminder until someone reads it).
    intake: bool = False
    clocks: tuple[str, ...] = ()  # clock names; empty: every clock

    def applies_to(self, clock: str) -> bool:
        return not self.clocks or clock in self.clocks


@dataclass(frozen=True)
class Reminders:
    points: tuple[ReminderPoint, ...] = ()
    # The intake centre's own clocks (triage, acceptance, …): reminded to intake, not the unit.
    intake_clocks: frozenset[str] = frozenset()
    # Clocks nobody is reminded of (a window to return a case is a right, not a duty).
    skip_clocks: frozenset[str] = frozenset()

    def point(self, key: str) -> ReminderPoint | None:
        return next((p for p in self.points if p.key == key), None)

    @property
    def intake_points(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.points if p.intake)

    def clocks_of(self, point: ReminderPoint, names: set[str]) -> set[str]:
        """The clock names among `names` that `point` reminds of."""
        return {n for n in names if point.applies_to(n) and n not in self.skip_clocks}


def build_reminders(raw: Any, clock_names: set[str]) -> Reminders:
    """Read and check [reminders]; ValueError names the bad key. No section: no reminders."""
    _require(isinstance(raw, dict), "reminders: must be a table")
    _unknown(raw, SECTION_KEYS, "reminders")
    raw_points = raw.get("points", [])
    _require(
        isinstance(raw_points, list), "reminders.points: must be a list of [[reminders.points]]"
    )
    points = tuple(_point(p, i, clock_names) for i, p in enumerate(raw_points))
    keys = [p.key for p in points]
    for key in keys:
        _require(keys.count(key) == 1, f"reminders.points: key {key!r} is used twice")
    return Reminders(
        points=points,
        intake_clocks=frozenset(_clocks(raw, "intake_clocks", "reminders", clock_names)),
        skip_clocks=frozenset(_clocks(raw, "skip_clocks", "reminders", clock_names)),
    )


def _point(raw: Any, index: int, clock_names: set[str]) -> ReminderPoint:
    where = f"reminders.points[{index}]"
    _require(isinstance(raw, dict), f"{where}: must be a table")
    key = raw.get("key")
    _require(
        isinstance(key, str) and bool(POINT_KEY.fullmatch(key)),
        f"{where}.key: lower-case letters, digits and _, at most 32 characters",
    )
    where = f"reminders point {key}"
    _unknown(raw, POINT_KEYS, where)
    label = raw.get("label")
    _require(
        isinstance(label, str) and 0 < len(label.strip()) <= MAX_LABEL_CHARS,
        f"{where}: label must be a text of 1–{MAX_LABEL_CHARS} characters",
    )
    at = raw.get("at")
    _require(at in REMINDER_AT, f"{where}: at must be one of {', '.join(REMINDER_AT)}")
    days = raw.get("working_days", 0)
    _require(
        isinstance(days, int) and not isinstance(days, bool) and days >= 0,
        f"{where}: working_days must be a whole number >= 0",
    )
    _require(days == 0 or at == OVERDUE, f'{where}: working_days goes with at = "{OVERDUE}"')
    intake = raw.get("intake", False)
    _require(isinstance(intake, bool), f"{where}: intake must be true or false")
    return ReminderPoint(
        key=key,
        label=label.strip(),
        at=at,
        working_days=days,
        intake=intake,
        clocks=_clocks(raw, "clocks", where, clock_names),
    )


def _clocks(raw: dict[str, Any], name: str, where: str, known: set[str]) -> tuple[str, ...]:
    value = raw.get(name, [])
    _require(
        isinstance(value, list) and all(isinstance(v, str) for v in value),
        f"{where}: {name} must be a list of clock names",
    )
    unknown = sorted(set(value) - known)
    _require(not unknown, f"{where}: {name} names unknown clocks {', '.join(unknown)}")
    return tuple(value)


def _unknown(raw: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(raw) - allowed)
    _require(not extra, f"{where}: unknown key {', '.join(extra)}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
