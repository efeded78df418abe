"""Organisation profiles: both load, match policies, and speak only of known actions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from cases.workflow.actions import ACTIONS, unknown_actions
from cases.workflow.loading import load_rules
from config.catalog import PROFILES_DIR, Catalog, load_catalog
from config.settings import ConfigError, Settings

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
    # 004 12312分流: 「接收单位自接到分流任务30分钟内,必须到达现场进行处理」: a duty stopped by
    # the recorded arrival, reminded and flagged overdue, not the unit's return right.
    catalog = load_catalog("market_regulation")
    policy = next(p for p in catalog.policies if p.name == "emergency")
    on_site = next(c for c in policy.clocks if c.name == "on_site")
    assert (on_site.amount, on_site.unit, on_site.starts_on) == (30, "minutes", ("assign",))
    assert "arrive" in on_site.stops_on and "start" not in on_site.stops_on
    assert "30分钟内,必须到达现场" in on_site.source
    assert "on_site" not in catalog.right_clocks | catalog.reminders.skip_clocks
    assert not any(c.name == "return_window" for c in policy.clocks)


# A seed rulebook by its number (000 … 004, ../shared/research/seeds/), or the profile's own choice.
SEED_NUMBER = re.compile(r"(?<![0-9])00[0-4](?![0-9])")
OWN_CHOICE = "本配置取值"


def _rule_sources(catalog: Catalog) -> list[str]:
    """Every source a numbered rule of the profile names (the rule table's rows and more)."""
    return [
        *(p.source for p in catalog.policies),
        *(c.source for p in catalog.policies for c in p.clocks),
        *(c.source for c in catalog.claim_rules),
        *(s for s in (catalog.approval_source, catalog.satisfaction_source) if s),
        *(s for s in (catalog.first_receiver_source, catalog.sanctions_source) if s),
    ]


@pytest.mark.parametrize("profile", ["market_regulation", "hospital"])
def test_no_rule_cites_a_document_outside_the_seed_rulebooks(profile: str) -> None:
    # Beijing's 12345 standard (DB11) and the project's own DESIGN.md are not seeds: a rule
    # names the seed it comes from by number, or says the number is the profile's own choice.
    sources = _rule_sources(load_catalog(profile))
    assert sources
    outside = [s for s in sources if "DB11" in s or "北京12345" in s or "DESIGN.md" in s]
    assert not outside
    unsourced = [s for s in sources if not SEED_NUMBER.search(s) and OWN_CHOICE not in s]
    assert not unsourced


@pytest.mark.parametrize(
    "source",
    [
        "DESIGN.md: 办结后5个工作日内回访",
        "信访制度 第二十二条: 有异议的「由科室领导签名后及时返回」",
        "DB11/T 1625 北京12345: 30分钟",
    ],
)
def test_a_source_without_a_seed_or_the_profiles_own_choice_is_caught(
    source: str, tmp_path: Path
) -> None:
    text = (PROFILES_DIR / "hospital.toml").read_text(encoding="utf-8")
    marked = '(「立即」: 30分钟为本配置取值)"'
    assert marked in text
    broken = tmp_path / "hospital_broken.toml"
    start = text.index('source = "003 医患沟通办制度: 「接待人员应当立即通知')
    end = text.index("\n", start)
    broken.write_text(text[:start] + f'source = "{source}"' + text[end:], encoding="utf-8")
    sources = _rule_sources(load_catalog(str(broken)))
    bad = [
        s
        for s in sources
        if "DESIGN.md" in s or "DB11" in s or (not SEED_NUMBER.search(s) and OWN_CHOICE not in s)
    ]
    assert bad == [source]


def test_a_profile_extends_another_and_writes_only_what_differs(tmp_path: Path) -> None:
    # Issue 16: a new office lays its differences over a shipped profile.
    base = load_catalog("market_regulation")
    district = tmp_path / "district.toml"
    district.write_text(
        'extends = "market_regulation"\n'
        'title = "某区市场监督管理局投诉举报中心"\n'
        "[categories.consumer]\n"
        'name = "消费者权益"\n',
        encoding="utf-8",
    )
    layered = load_catalog(str(district))
    assert layered.name == "district" and layered.title == "某区市场监督管理局投诉举报中心"
    consumer = layered.categories["consumer"]
    assert consumer.name == "消费者权益"
    assert consumer.default_department == base.categories["consumer"].default_department
    assert layered.policies == base.policies and layered.kinds == base.kinds
    assert set(layered.categories) == set(base.categories)


def test_a_profile_that_extends_itself_or_nothing_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\ntitle = "a"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\ntitle = "b"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="extends itself"):
        load_catalog(str(tmp_path / "a.toml"))
    (tmp_path / "c.toml").write_text('extends = "nowhere"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="no profile 'nowhere'"):
        load_catalog(str(tmp_path / "c.toml"))


def test_the_clocks_the_workflow_reads_are_declared_by_the_profile(tmp_path: Path) -> None:
    # Issue 16: the stage clocks are the profile's, checked at load, not strings in the code.
    catalog = load_catalog("hospital")
    assert (catalog.stages.acceptance, catalog.stages.handling) == ("acceptance", "handling")
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(
        'extends = "market_regulation"\n[deadlines.stages]\nhandling = "processing"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="stages.handling: no policy declares clock 'processing'"):
        load_catalog(str(renamed))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(
        'extends = "market_regulation"\n[deadlines.stages]\nsigning = "return_window"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="deadlines.stages: stages are"):
        load_catalog(str(unknown))


def test_a_profile_naming_an_action_that_does_not_exist_is_refused_at_load(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    # A clock stopped by a misspelt action would never stop; an approval of one never applies.
    typo = tmp_path / "typo.toml"
    typo.write_text(
        'extends = "market_regulation"\n[approvals]\nactions = ["reject", "refer_ot"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="names no such action: approvals: refer_ot"):
        load_rules(make_settings(organisation__profile=str(typo)))
    catalog = load_catalog("market_regulation")
    policy = catalog.policies[0]
    clock = replace(policy.clocks[0], stops_on=("acept", "tell_citizen:result", "reply:x"))
    broken = replace(catalog, policies=(replace(policy, clocks=(clock,)), *catalog.policies[1:]))
    # "tell_citizen:result" is known (tell_citizen is qualified by what it told); "reply:x" not.
    assert sorted(unknown_actions(broken)) == [
        f"policy {policy.name} clock {clock.name}: {name}" for name in ("acept", "reply:x")
    ]
    assert unknown_actions(catalog) == []
