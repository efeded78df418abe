"""Organisation profiles: both load, match policies, and speak only of known actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.workflow import ACTIONS
from config.catalog import PROFILES_DIR, load_catalog
from config.settings import ConfigError

PROFILES = sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def test_both_required_profiles_ship() -> None:
    assert {"market_regulation", "hospital"} <= set(PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_profile_is_consistent_with_the_workflow(name: str) -> None:
    catalog = load_catalog(name)
    assert set(catalog.kinds) == {"complaint", "report", "consultation", "suggestion"}
    assert any(d.role == "intake" for d in catalog.departments.values())
    assert any(d.role == "leadership" for d in catalog.departments.values())
    assert catalog.reasons, "rejection needs reason codes"
    for policy in catalog.policies:
        for clock in policy.clocks:
            used = {*clock.starts_on, *clock.stops_on, *clock.pauses_on, *clock.resumes_on}
            # "tell_citizen:result": an action the clocks see with one of its data values.
            qualified = {a.partition(":")[0] for a in used if ":" in a}
            assert all(ACTIONS[a].qualified_by for a in qualified), qualified
            used = {a.partition(":")[0] for a in used}
            unknown = used - set(ACTIONS) - {"file"}
            assert not unknown, f"{name}/{policy.name}/{clock.name}: {unknown}"
            assert clock.source, f"{name}/{policy.name}/{clock.name} names no source rule"
            if clock.max_extensions:
                assert clock.extension_cap > 0


def test_market_regulation_policies_follow_the_rules() -> None:
    catalog = load_catalog("market_regulation")
    food = catalog.policy_for("complaint", "food", "general")
    acceptance = next(c for c in food.clocks if c.name == "acceptance")
    assert (acceptance.amount, acceptance.unit, acceptance.on_expiry) == (
        5,
        "natural_days",
        "deem_accepted",
    )
    consumer = catalog.policy_for("complaint", "consumer", "general")
    acceptance = next(c for c in consumer.clocks if c.name == "acceptance")
    assert (acceptance.amount, acceptance.unit) == (7, "working_days")
    assert catalog.policy_for("report", "food", "emergency").name == "emergency"


def test_hospital_feedback_in_working_days() -> None:
    catalog = load_catalog("hospital")
    general = catalog.policy_for("complaint", next(iter(catalog.categories)), "general")
    handling = next(c for c in general.clocks if c.name == "handling")
    assert handling.unit == "working_days"


def test_broken_profiles_are_refused_with_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no profile 'nowhere'"):
        load_catalog("nowhere")
    text = (PROFILES_DIR / "market_regulation.toml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text(
        text.replace('default_department = "food"', 'default_department = "zoo"'), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="category food: unknown department"):
        load_catalog(str(broken))
    broken.write_text(text.replace('unit = "working_days"', 'unit = "weeks"', 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="unit 'weeks'"):
        load_catalog(str(broken))
    # Screens print "{label}期限": a label that already ends in 期限 would read 期限期限.
    broken.write_text(text.replace('label = "办理"', 'label = "办理期限"', 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="label ends with 期限"):
        load_catalog(str(broken))


def test_emergency_unit_must_be_on_site_within_30_minutes() -> None:
    # 004 12312分流: 「接收单位自接到分流任务30分钟内,必须到达现场进行处理」.
    policy = next(p for p in load_catalog("market_regulation").policies if p.name == "emergency")
    on_site = next(c for c in policy.clocks if c.name == "return_window")
    assert (on_site.amount, on_site.unit, on_site.starts_on) == (30, "minutes", ("assign",))
    assert "30分钟内,必须到达现场" in on_site.source


@pytest.mark.parametrize("profile", ["market_regulation", "hospital"])
def test_no_rule_cites_a_document_outside_the_seed_rulebooks(profile: str) -> None:
    # Beijing's 12345 standard (DB11) is not among the seeds: such numbers are the profile's own.
    catalog = load_catalog(profile)
    sources = [p.source for p in catalog.policies] + [
        c.source for p in catalog.policies for c in p.clocks
    ]
    assert not [s for s in sources if "DB11" in s or "北京12345" in s]
