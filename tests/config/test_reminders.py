"""The profiles' [reminders] section: both profiles ship points, and mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.catalog import PROFILES_DIR, load_catalog
from config.reminders import DUE_DAY, DUE_SOON, OVERDUE
from config.settings import ConfigError


@pytest.mark.parametrize("name", ["market_regulation", "hospital"])
def test_both_profiles_remind_before_on_and_after_the_due_day(name: str) -> None:
    reminders = load_catalog(name).reminders
    at = {(p.at, p.working_days) for p in reminders.points}
    assert {(DUE_SOON, 0), (DUE_DAY, 0), (OVERDUE, 0)} <= at
    assert any(p.at == OVERDUE and p.working_days > 0 for p in reminders.points)
    assert set(reminders.intake_points) == {p.key for p in reminders.points if p.at == OVERDUE}
    assert "triage" in reminders.intake_clocks and "return_window" in reminders.skip_clocks


OVERDUE_3 = """key = "overdue_3wd"
label = "超期3个工作日"
at = "overdue"
working_days = 3
"""


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (OVERDUE_3, OVERDUE_3.replace("= 3", "= -1"), "point overdue_3wd: working_days must be"),
        (OVERDUE_3, OVERDUE_3.replace('"overdue"', '"late"'), "point overdue_3wd: at must be"),
        (OVERDUE_3, OVERDUE_3.replace('"overdue"', '"due_day"'), "working_days goes with"),
        (OVERDUE_3, OVERDUE_3 + 'clocks = ["nap"]\n', "clocks names unknown clocks nap"),
        (OVERDUE_3, OVERDUE_3 + "intkae = true\n", "point overdue_3wd: unknown key intkae"),
        (OVERDUE_3, OVERDUE_3.replace('label = "超期3个工作日"', 'label = ""'), "label must be"),
        (OVERDUE_3, OVERDUE_3.replace('"overdue_3wd"', '"overdue"'), "key 'overdue' is used twice"),
        (OVERDUE_3, OVERDUE_3.replace('"overdue_3wd"', '"Overdue 3"'), r"points\[3\].key"),
        ("intake_clocks = [", 'intake_clocks = ["nap", ', "intake_clocks names unknown clocks"),
        ("[reminders]\n", "[reminders]\nsoon = 2\n", "reminders: unknown key soon"),
    ],
)
def test_a_bad_reminder_point_is_refused_by_name(
    tmp_path: Path, old: str, new: str, error: str
) -> None:
    text = (PROFILES_DIR / "market_regulation.toml").read_text(encoding="utf-8")
    assert text.count(old) == 1
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        load_catalog(str(broken))
