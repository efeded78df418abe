"""config/profiles/README.md lists every timed rule the shipped profiles run by, as they are."""

from __future__ import annotations

import pytest

from config.catalog import PROFILES_DIR, load_catalog
from config.rulebook import rules_table

README = PROFILES_DIR / "README.md"


@pytest.mark.parametrize("profile", ["market_regulation", "hospital"])
def test_the_profiles_readme_carries_the_current_rule_table(profile: str) -> None:
    table = rules_table(load_catalog(profile))
    assert table in README.read_text(encoding="utf-8"), (
        f"config/profiles/README.md is out of date: paste `complaint-desk rules --profile {profile}`"
    )


def test_every_clock_is_a_row_with_its_number_and_source() -> None:
    catalog = load_catalog("market_regulation")
    table = rules_table(catalog)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    # One row per clock, and one for the decisions that wait for a leader's approval.
    assert len(rows) == sum(len(p.clocks) for p in catalog.policies) + 1
    assert rows[-1].startswith("| 000 县局规范 第十八条:")
    assert (
        "| `approvals.actions` (领导批准后发出) | `decline_case`, `refer_out`, `reject` |"
        in rows[-1]
    )
    assert (
        "| 004 12312分流: 「在承诺区域范围内,接收单位自接到分流任务30分钟内,必须到达现场进行处理」 "
        "| `emergency.on_site` (到达现场) | 30 分钟 | assign | — |"
    ) in rows
