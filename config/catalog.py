"""The organisation's catalogue: kinds, categories, units, reasons, severities, deadline policies.

Loaded from a profile TOML under config/profiles/ (or any path) and validated once at start-up;
the rest of the code reads the domain's rules and numbers only from here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.reminders import Reminders, build_reminders
from config.settings import CONFIG_DIR, ConfigError

PROFILES_DIR = CONFIG_DIR / "profiles"
CLOCK_UNITS = ("minutes", "hours", "natural_days", "working_days")
DEPARTMENT_ROLES = ("intake", "handling", "leadership")
CLOCK_EXPIRY_ACTIONS = ("", "deem_accepted", "raise_severity")
# What handling may find, recorded at closure. A profile names the ones it offers and for
# which kinds; the rates of cases/views/stats.py (查实率, 调解成功率, 投诉转案率) are defined on them.
FINDING_CODES = (
    "substantiated",  # 属实
    "partly_substantiated",  # 部分属实
    "unsubstantiated",  # 不属实 / 查无实据
    "mediated",  # 调解成功
    "mediation_failed",  # 调解不成
    "case_filed",  # 转立案查处
    "answered",  # 解释说明 (nothing to find)
)
# What staff may record having told a citizen themselves (action tell_citizen): a rejection and
# its reasons, or the result of the handling. A profile names them in [told].
TOLD_SUBJECTS = ("rejected", "result")
DEFAULT_DIALOGUE = (
    "category",
    "anonymous",
    "respondent_name",
    "incident_at",
    "incident_place",
    "description",
    "demands",
    "photos",
    "contact_name",  # asked only when the kind requires it (real-name complaints)
    "contact_phone",
    "confirm",
)


@dataclass(frozen=True)
class Kind:
    code: str
    name: str
    number_prefix: str
    anonymous_allowed: bool
    # The person who filed it is shown to the intake centre only (reports / 举报).
    confidential: bool
    answer_at_intake: bool
    required_fields: tuple[str, ...]
    # The chat-bot's questions for this kind, in order (see bot/handlers/filing.py).
    dialogue: tuple[str, ...] = DEFAULT_DIALOGUE


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    kinds: tuple[str, ...]
    default_department: str


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    role: str


@dataclass(frozen=True)
class Reason:
    code: str
    text: str
    basis: str


@dataclass(frozen=True)
class Finding:
    code: str  # one of FINDING_CODES
    name: str
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class Sanction:
    """The measure for the count-th substantiated complaint against one staff member in a year."""

    count: int
    measure: str


@dataclass(frozen=True)
class Severity:
    code: str
    name: str
    rank: int


@dataclass(frozen=True)
class ClockRule:
    """One clock of a policy: how long, in which unit, started and stopped by which actions."""

    name: str
    label: str
    amount: int
    unit: str
    starts_on: tuple[str, ...]
    stops_on: tuple[str, ...]
    pauses_on: tuple[str, ...] = ()
    resumes_on: tuple[str, ...] = ()
    max_extensions: int = 0
    extension_cap: int = 0
    rollover_holidays: bool = False
    on_expiry: str = ""
    # With on_expiry = "deem_accepted" on a clock that does not start at receipt (the rejection
    # notice): the acceptance is dated at the due time of this clock of the policy, counted from
    # receipt (000 第十五条 「未按前款规定告知的……自…收到之日起第5日即为受理」), and the clocks it
    # starts (handling, transfer) run from that day, not from the day the expiry was noticed.
    deemed_as_of: str = ""
    # With on_expiry = "raise_severity": the severity to raise to (default: the next one up).
    expiry_severity: str = ""
    # Not started when the case has no way to reach the citizen (no WeChat, phone or address);
    # the starting event says why with `no_contact_note`.
    needs_contact: bool = False
    no_contact_note: str = ""
    # Not started when the citizen did not give their real name (anonymous or no name); the
    # starting event says why with `no_real_name_note`.
    needs_real_name: bool = False
    no_real_name_note: str = ""
    # A duty that outlives the case's closure (telling the result): only archiving stops it
    # unless the clock's own stop list does.
    runs_past_closure: bool = False
    # The date a stage promises the citizen (acceptance decision, handling): the only clocks
    # any citizen surface shows; the others are the office's own.
    citizen_facing: bool = False
    source: str = ""


@dataclass(frozen=True)
class ClockStages:
    """The clocks the workflow itself reads, by the stage each times (the profile's
    `[deadlines.stages]`): the acceptance decision, which the centre may ask to extend while it
    decides; the handling, which the unit may ask to extend and whose length the rates measure;
    and the window in which a unit may return a case that is not its own. Checked at load to
    name clocks the profile declares."""

    acceptance: str = "acceptance"
    handling: str = "handling"
    return_window: str = "return_window"


@dataclass(frozen=True)
class ClaimRule:
    """A sum claimed over a threshold calls for a measure beyond the office (a report to the
    claims centre, mediation by the dispute board); staff see it from filing on.

    The rules' own words decide the edge: 「超过一万元」 is `over = 10000` (more than),
    「2万元以上」 is `at_least = 20000` (以上 includes the sum itself).
    """

    threshold: int
    inclusive: bool
    measure: str
    source: str

    def applies(self, amount: int) -> bool:
        return amount >= self.threshold if self.inclusive else amount > self.threshold


@dataclass(frozen=True)
class DeadlinePolicy:
    name: str
    kinds: tuple[str, ...]
    categories: tuple[str, ...]
    severities: tuple[str, ...]
    clocks: tuple[ClockRule, ...]
    source: str

    def matches(self, kind: str, category: str, severity: str) -> bool:
        return (
            (not self.kinds or kind in self.kinds)
            and (not self.categories or category in self.categories)
            and (not self.severities or severity in self.severities)
        )


@dataclass(frozen=True)
class Limits:
    """Field limits for intake; characters unless the name says otherwise."""

    max_chars: dict[str, int]
    min_description_chars: int
    max_photos: int
    incident_future_skew_minutes: int


@dataclass(frozen=True)
class DuplicateRule:
    similarity: float
    window_days: int


@dataclass(frozen=True)
class Catalog:
    name: str
    title: str
    kinds: dict[str, Kind]
    categories: dict[str, Category]
    departments: dict[str, Department]
    reasons: dict[str, Reason]
    severities: dict[str, Severity]
    default_severity: str
    policies: tuple[DeadlinePolicy, ...]
    limits: Limits
    duplicates: DuplicateRule
    due_soon_ratio: float
    number_seq_digits: int
    channels: dict[str, str] = field(default_factory=dict)
    findings: dict[str, Finding] = field(default_factory=dict)
    # Ascending by count; empty when the profile sets no thresholds.
    sanctions: tuple[Sanction, ...] = ()
    claim_rules: tuple[ClaimRule, ...] = ()
    # 首诉负责制: a unit that registers a complaint it received owns it (settles it on the spot
    # or hands it over to the complaint office); the rule it comes from.
    first_receiver_owns: bool = False
    first_receiver_source: str = ""
    sanctions_source: str = ""
    reminders: Reminders = field(default_factory=Reminders)
    # Ways staff may tell a citizen of a decision themselves (code → name).
    notify_means: dict[str, str] = field(default_factory=dict)
    # Why a mediation was ended (终止调解), code → name.
    mediation_end_reasons: dict[str, str] = field(default_factory=dict)
    # What staff may record having told a citizen (code in TOLD_SUBJECTS → name).
    told: dict[str, str] = field(default_factory=dict)
    # Clocks that are a unit's right, not a duty (the return window): never a row's headline.
    right_clocks: frozenset[str] = frozenset()
    stages: ClockStages = field(default_factory=ClockStages)
    # Actions whose decision goes out only after a leader approves it (staff draft them); the
    # rule it comes from.
    approval_actions: frozenset[str] = frozenset()
    approval_source: str = ""
    # Kinds whose closing needs the citizen's satisfaction with the result (满意 / 基本满意,
    # recorded at closure; 不满意 sends the case back for handling); the rule it comes from.
    satisfaction_kinds: frozenset[str] = frozenset()
    satisfaction_source: str = ""

    def findings_for(self, kind: str) -> list[Finding]:
        return [f for f in self.findings.values() if kind in f.kinds]

    def policy_for(self, kind: str, category: str, severity: str) -> DeadlinePolicy:
        """The first policy in file order that matches; profiles end with a catch-all."""
        for policy in self.policies:
            if policy.matches(kind, category, severity):
                return policy
        raise LookupError(f"no deadline policy for {kind}/{category}/{severity}")


def load_catalog(profile: str) -> Catalog:
    """Load a profile by name (config/profiles/<name>.toml) or by path.

    A profile may start with `extends = "<profile>"`: it is laid over that base as settings
    files are laid over default.toml: tables merge key by key, anything else (a string, a list
    such as `policies`) replaces the base's value whole. A new office writes what differs."""
    path = _profile_path(profile, PROFILES_DIR)
    raw = _read_layered(path, ())
    try:
        return _build(raw, path.stem)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path.name}", f"invalid catalogue: {exc}") from None


def _profile_path(profile: str, beside: Path) -> Path:
    path = Path(profile)
    if not path.suffix:
        path = PROFILES_DIR / f"{profile}.toml"
    elif not path.is_absolute():
        path = beside / path
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise ConfigError("organisation.profile", f"no profile {profile!r} (known: {known})")
    return path


def _read_layered(path: Path, below: tuple[Path, ...]) -> dict[str, Any]:
    """The profile's table with every profile it extends laid underneath."""
    if path.resolve() in below:
        raise ConfigError(
            path.name, "extends itself (through " + " → ".join(p.stem for p in below) + ")"
        )
    with path.open("rb") as f:
        try:
            raw = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML ({exc})") from None
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base:
        raise ConfigError(path.name, "extends must name a profile")
    layered = _read_layered(_profile_path(base, path.parent), (*below, path.resolve()))
    _lay_over(layered, raw)
    return layered


def _lay_over(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _lay_over(base[key], value)
        else:
            base[key] = value


def _build(raw: dict[str, Any], name: str) -> Catalog:
    kinds = {
        code: Kind(
            code=code,
            name=v["name"],
            number_prefix=v["number_prefix"],
            anonymous_allowed=bool(v.get("anonymous_allowed", False)),
            confidential=bool(v.get("confidential", False)),
            answer_at_intake=bool(v.get("answer_at_intake", False)),
            required_fields=tuple(v.get("required_fields", ())),
            dialogue=tuple(v.get("dialogue", DEFAULT_DIALOGUE)),
        )
        for code, v in raw["kinds"].items()
    }
    for kind in kinds.values():
        _check(
            set(kind.dialogue) <= set(DEFAULT_DIALOGUE) and kind.dialogue[-1:] == ("confirm",),
            f"kind {kind.code}: dialogue steps must come from {DEFAULT_DIALOGUE} and end in confirm",
        )
    departments = {
        code: Department(code=code, name=v["name"], role=v["role"])
        for code, v in raw["departments"].items()
    }
    for dept in departments.values():
        _check(dept.role in DEPARTMENT_ROLES, f"department {dept.code}: role {dept.role!r}")
    categories = {
        code: Category(
            code=code,
            name=v["name"],
            kinds=tuple(v.get("kinds", kinds.keys())),
            default_department=v["default_department"],
        )
        for code, v in raw["categories"].items()
    }
    for cat in categories.values():
        _check(cat.default_department in departments, f"category {cat.code}: unknown department")
        _check(set(cat.kinds) <= set(kinds), f"category {cat.code}: unknown kind")
    severities = {
        code: Severity(code=code, name=v["name"], rank=int(v["rank"]))
        for code, v in raw["severities"].items()
    }
    reasons = {
        code: Reason(code=code, text=v["text"], basis=v.get("basis", ""))
        for code, v in raw["rejection_reasons"].items()
    }
    # 民法典 第二百零三条: a natural-day period whose last day is a day off ends on the next
    # working day, unless the profile (or one clock) says its rule counts otherwise.
    roll_over = bool(raw["deadlines"].get("natural_days_roll_over", True))
    policies = tuple(
        _build_policy(p, kinds, categories, severities, roll_over) for p in raw["policies"]
    )
    _check(
        bool(policies)
        and not any((policies[-1].kinds, policies[-1].categories, policies[-1].severities)),
        "the last deadline policy must be a catch-all (no kinds, categories or severities)",
    )
    intake = raw["intake"]
    limits = Limits(
        max_chars={k: int(v) for k, v in intake["max_chars"].items()},
        min_description_chars=int(intake["min_description_chars"]),
        max_photos=int(intake["max_photos"]),
        incident_future_skew_minutes=int(intake["incident_future_skew_minutes"]),
    )
    dup = raw["duplicates"]
    catalog = Catalog(
        name=name,
        title=raw["title"],
        kinds=kinds,
        categories=categories,
        departments=departments,
        reasons=reasons,
        severities=severities,
        default_severity=raw["default_severity"],
        policies=policies,
        limits=limits,
        duplicates=DuplicateRule(
            similarity=float(dup["similarity"]), window_days=int(dup["window_days"])
        ),
        due_soon_ratio=float(raw["deadlines"]["due_soon_ratio"]),
        right_clocks=frozenset(raw["deadlines"].get("right_clocks", ())),
        stages=_stages(raw["deadlines"].get("stages", {})),
        number_seq_digits=int(raw["numbering"]["seq_digits"]),
        channels=dict(raw["channels"]),
        findings=_findings(raw.get("findings", {}), kinds),
        sanctions=_sanctions(raw.get("accountability", {})),
        claim_rules=_claim_rules(raw.get("claims", {})),
        first_receiver_owns=bool(intake.get("first_receiver_owns", False)),
        first_receiver_source=str(intake.get("first_receiver_source", "")),
        sanctions_source=str(raw.get("accountability", {}).get("source", "")),
        reminders=build_reminders(
            raw.get("reminders", {}), {c.name for p in policies for c in p.clocks}
        ),
        notify_means={str(k): str(v) for k, v in raw.get("notify_means", {}).items()},
        told={str(k): str(v) for k, v in raw.get("told", {}).items()},
        mediation_end_reasons={
            str(k): str(v["name"]) for k, v in raw.get("mediation_end_reasons", {}).items()
        },
        approval_actions=frozenset(str(a) for a in raw.get("approvals", {}).get("actions", ())),
        approval_source=str(raw.get("approvals", {}).get("source", "")),
        satisfaction_kinds=frozenset(
            str(k) for k in raw.get("closing", {}).get("satisfaction_kinds", ())
        ),
        satisfaction_source=str(raw.get("closing", {}).get("source", "")),
    )
    _check(
        catalog.satisfaction_kinds <= set(kinds),
        "closing.satisfaction_kinds: unknown kind",
    )
    _check(
        not catalog.satisfaction_kinds or bool(catalog.satisfaction_source),
        "closing: satisfaction_kinds needs the rule's source",
    )
    _check(set(catalog.told) <= set(TOLD_SUBJECTS), f"told: codes are {TOLD_SUBJECTS}")
    declared = {c.name for p in policies for c in p.clocks}
    for stage, clock in vars(catalog.stages).items():
        _check(clock in declared, f"deadlines.stages.{stage}: no policy declares clock {clock!r}")
    for clock in catalog.right_clocks:
        _check(clock in declared, f"deadlines.right_clocks: no policy declares clock {clock!r}")
    _check(catalog.default_severity in severities, "default_severity is not a severity")
    _check(0 < catalog.duplicates.similarity <= 1, "duplicates.similarity must be in (0, 1]")
    _check(0 <= catalog.due_soon_ratio < 1, "deadlines.due_soon_ratio must be in [0, 1)")
    return catalog


def _stages(raw: dict[str, Any]) -> ClockStages:
    known = set(vars(ClockStages()))
    _check(set(raw) <= known, f"deadlines.stages: stages are {', '.join(sorted(known))}")
    return ClockStages(**{k: str(v) for k, v in raw.items()})


def _findings(raw: dict[str, Any], kinds: dict[str, Kind]) -> dict[str, Finding]:
    found = {}
    for code, v in raw.items():
        _check(code in FINDING_CODES, f"findings.{code}: must be one of {', '.join(FINDING_CODES)}")
        found[code] = Finding(code=code, name=v["name"], kinds=tuple(v.get("kinds", kinds.keys())))
        _check(set(found[code].kinds) <= set(kinds), f"findings.{code}: unknown kind")
    return found


def _claim_rules(raw: dict[str, Any]) -> tuple[ClaimRule, ...]:
    rules = []
    for r in raw.get("rules", ()):
        _check(("over" in r) != ("at_least" in r), "claims.rules: give `over` or `at_least`")
        rules.append(
            ClaimRule(
                threshold=int(r.get("over", r.get("at_least", 0))),
                inclusive="at_least" in r,
                measure=str(r.get("measure", "")),
                source=str(r.get("source", "")),
            )
        )
    _check(all(r.threshold > 0 for r in rules), "claims.rules: thresholds must be positive")
    _check(all(r.measure and r.source for r in rules), "claims.rules: measure and source needed")
    return tuple(rules)


def _sanctions(raw: dict[str, Any]) -> tuple[Sanction, ...]:
    sanctions = tuple(
        Sanction(count=int(t["count"]), measure=str(t["measure"]))
        for t in raw.get("thresholds", ())
    )
    counts = [s.count for s in sanctions]
    _check(
        all(c > 0 for c in counts) and counts == sorted(set(counts)),
        "accountability.thresholds: counts must be positive and ascending",
    )
    return sanctions


def _build_policy(
    raw: dict[str, Any],
    kinds: dict[str, Kind],
    categories: dict[str, Category],
    severities: dict[str, Severity],
    roll_over: bool,
) -> DeadlinePolicy:
    name = raw["name"]
    policy = DeadlinePolicy(
        name=name,
        kinds=tuple(raw.get("kinds", ())),
        categories=tuple(raw.get("categories", ())),
        severities=tuple(raw.get("severities", ())),
        clocks=tuple(
            ClockRule(
                name=c["name"],
                label=c["label"],
                amount=int(c["amount"]),
                unit=c["unit"],
                starts_on=tuple(c["starts_on"]),
                stops_on=tuple(c["stops_on"]),
                pauses_on=tuple(c.get("pauses_on", ())),
                resumes_on=tuple(c.get("resumes_on", ())),
                max_extensions=int(c.get("max_extensions", 0)),
                extension_cap=int(c.get("extension_cap", 0)),
                rollover_holidays=bool(c.get("rollover_holidays", roll_over)),
                on_expiry=c.get("on_expiry", ""),
                deemed_as_of=str(c.get("deemed_as_of", "")),
                expiry_severity=c.get("expiry_severity", ""),
                needs_contact=bool(c.get("needs_contact", False)),
                no_contact_note=str(c.get("no_contact_note", "")),
                needs_real_name=bool(c.get("needs_real_name", False)),
                no_real_name_note=str(c.get("no_real_name_note", "")),
                runs_past_closure=bool(c.get("runs_past_closure", False)),
                citizen_facing=bool(c.get("citizen_facing", False)),
                source=c.get("source", ""),
            )
            for c in raw["clocks"]
        ),
        source=raw.get("source", ""),
    )
    _check(set(policy.kinds) <= set(kinds), f"policy {name}: unknown kind")
    _check(set(policy.categories) <= set(categories), f"policy {name}: unknown category")
    _check(set(policy.severities) <= set(severities), f"policy {name}: unknown severity")
    for clock in policy.clocks:
        _check(clock.unit in CLOCK_UNITS, f"policy {name} clock {clock.name}: unit {clock.unit!r}")
        _check(clock.amount > 0, f"policy {name} clock {clock.name}: amount must be > 0")
        # Screens say "{label}期限": a label ending in 期限 would read 期限期限.
        _check(not clock.label.endswith("期限"), f"clock {clock.name}: label ends with 期限")
        _check(clock.on_expiry in CLOCK_EXPIRY_ACTIONS, f"clock {clock.name}: on_expiry")
        if clock.deemed_as_of:
            _check(
                clock.on_expiry == "deem_accepted",
                f'clock {clock.name}: deemed_as_of needs on_expiry = "deem_accepted"',
            )
            dated_by = next((c for c in policy.clocks if c.name == clock.deemed_as_of), None)
            _check(
                dated_by is not None and "file" in dated_by.starts_on,
                f"clock {clock.name}: deemed_as_of must name a clock of policy {name} "
                "started at filing",
            )
        _check(
            not clock.expiry_severity or clock.expiry_severity in severities,
            f"clock {clock.name}: unknown expiry_severity",
        )
    return policy


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
