"""The profile's timed rules as one table: rule source → key → number, unit, start point.

`complaint-desk rules --profile NAME` prints it; config/profiles/README.md carries the table of
each shipped profile, and a test keeps the two equal, so the document cannot drift from the
rules the desk runs by.
"""

from __future__ import annotations

from config.catalog import Catalog

UNITS = {"minutes": "分钟", "hours": "小时", "natural_days": "日", "working_days": "个工作日"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_table(catalog: Catalog) -> str:
    """A Markdown table of every clock of every deadline policy, in the profile's order, then
    the claim thresholds, the decisions that wait for a leader's approval and the kinds that
    close only on the citizen's satisfaction."""
    lines = [
        f"### `{catalog.name}` — {catalog.title}",
        "",
        "| source (seed file and quote, or 本配置取值) | key | number | starts on | extension |",
        "|---|---|---|---|---|",
    ]
    for policy in catalog.policies:
        for clock in policy.clocks:
            unit = UNITS[clock.unit]
            if clock.unit == "natural_days" and clock.rollover_holidays:
                unit += " (末日遇休息日顺延)"
            extension = (
                f"{clock.max_extensions} × ≤ {clock.extension_cap} {UNITS[clock.unit]}"
                if clock.max_extensions
                else "—"
            )
            lines.append(
                f"| {_cell(clock.source or '—')} | `{policy.name}.{clock.name}` ({clock.label}) "
                f"| {clock.amount} {unit} | {', '.join(clock.starts_on)} | {extension} |"
            )
    for i, claim in enumerate(catalog.claim_rules):
        edge = f"≥ {claim.threshold} 元" if claim.inclusive else f"> {claim.threshold} 元"
        lines.append(
            f"| {_cell(claim.source)} | `claims.rules[{i}]` ({_cell(claim.measure)}) "
            f"| {edge} | file | — |"
        )
    if catalog.approval_actions:
        actions = ", ".join(f"`{a}`" for a in sorted(catalog.approval_actions))
        lines.append(
            f"| {_cell(catalog.approval_source or '—')} | `approvals.actions` (领导批准后发出) "
            f"| {actions} | draft → approve_draft | — |"
        )
    if catalog.satisfaction_kinds:
        kinds = ", ".join(f"`{k}`" for k in sorted(catalog.satisfaction_kinds))
        lines.append(
            f"| {_cell(catalog.satisfaction_source)} | `closing.satisfaction_kinds` "
            f"(满意或基本满意方可办结) | {kinds} | close (不满意 → rehandle) | — |"
        )
    return "\n".join(lines) + "\n"
