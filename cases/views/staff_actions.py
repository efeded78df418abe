"""Staff input for workflow actions and phone/visit/letter registration, for console and API.

The faces hand over what was typed (form fields or a JSON object); this module keeps only the
fields each action reads, composes a reply from its three parts, and calls the workflow. Any
other key a client sends is dropped: event data is a record, not a place for free input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cases.errors import PermissionDenied, ValidationError
from cases.intake.filing import file_case
from cases.intake.forms import FIELD_LABELS
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Role
from cases.views.tracking import normalize_number
from cases.workflow.actions import ACTIONS
from cases.workflow.engine import perform
from cases.workflow.timeline import Actor


def data_fields(rules: Rules, action: str) -> tuple[str, ...]:
    """The data keys `action` reads (its declaration's `fields`); a telephone return visit
    reads the citizen's verdict on the survey's scale too (its overall level and each
    dimension)."""
    known = ACTIONS.get(action)
    if known is None:
        return ()
    survey = ("overall", *rules.survey.dimensions) if known.reads_survey else ()
    return (*known.fields, *survey)


# A reply states what was found, what was done, and on what basis; the citizen gets them as one
# text in this order.
REPLY_ACTIONS = frozenset({"reply"})
REPLY_PARTS = (("facts", "经查"), ("handling", "处理情况"), ("basis", "处理依据"))
REQUIRED_REPLY_PARTS = ("facts", "handling")
# Channels staff register by hand (the hotline integration uses the same list).
REGISTER_CHANNELS = ("phone", "visit", "letter")
REGISTER_FIELDS = (*FIELD_LABELS, "anonymous")
DEFAULT_NOTE_CHARS = 1000
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LABEL_SEPARATORS = (",", ",", ":", ":", "、", " ")
_TRUE = (True, "1", "on", "true", "yes")  # a tuple: a JSON list must not raise TypeError


def _clean(rules: Rules, value: Any, field: str, label: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int):
        raise ValidationError(f"“{label}”应为文字。", field=field)
    text = _CONTROL_CHARS.sub("", str(value)).strip()
    limit = rules.catalog.limits.max_chars.get("note", DEFAULT_NOTE_CHARS)
    if len(text) > limit:
        raise ValidationError(f"“{label}”最多 {limit} 个字,当前 {len(text)} 个字。", field=field)
    return text


def action_input(
    rules: Rules, action: str, note: Any, fields: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The note and data to hand to `perform`, from what staff typed.

    For a reply, filled-in parts (facts / handling / basis) become the note; without any part,
    a plain note is taken as the whole reply (API clients that compose their own text). Where
    the note is internal, `public_note` is the text the citizen reads.
    """
    data = {
        name: _clean(rules, fields.get(name), name, name) for name in data_fields(rules, action)
    }
    if tells_separately(action):
        data["public_note"] = _clean(rules, fields.get("public_note"), "public_note", "告知市民")
    data = {k: v for k, v in data.items() if v}
    if "into" in data:
        data["into"] = normalize_number(data["into"])
    text = _clean(rules, note, "note", "说明")
    if action in REPLY_ACTIONS:
        parts = {name: _clean(rules, fields.get(name), name, label) for name, label in REPLY_PARTS}
        if any(parts.values()) or not text:
            text = compose_reply(parts)
    return text, data


def tells_separately(action: str) -> bool:
    """The action's note is internal; what the citizen is told is a separate `public_note`."""
    known = ACTIONS.get(action)
    return known is not None and known.public and not known.note_public


def compose_reply(parts: Mapping[str, str]) -> str:
    """'经查:…\\n处理情况:…\\n处理依据:…'; facts and handling must be there."""
    for name in REQUIRED_REPLY_PARTS:
        if not parts.get(name):
            label = dict(REPLY_PARTS)[name]
            raise ValidationError(f"答复需要写明“{label}”。", field=name)
    return "\n".join(
        f"{label}:{_without_label(parts[name], label)}"
        for name, label in REPLY_PARTS
        if parts.get(name)
    )


def _without_label(text: str, label: str) -> str:
    """Staff often start the part with its own label ('经查,…'): say it once."""
    rest = text.removeprefix(label)
    if rest == text or not rest.startswith(_LABEL_SEPARATORS):
        return text  # no label, or a word that merely starts like it ('经查明')
    return rest.lstrip("".join(_LABEL_SEPARATORS)) or text


def expected_version(raw: Any) -> int | None:
    """The version the actor saw (hidden form field or JSON); None when not sent."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not re.fullmatch(r"[0-9]{1,9}", str(raw)):
        raise ValidationError("页面版本号不正确,请刷新后重试。", field="expected_version")
    return int(raw)


async def act_on_case(
    rules: Rules,
    case: Case,
    action: str,
    actor: Actor,
    *,
    note: Any = "",
    fields: Mapping[str, Any] | None = None,
    version: Any = None,
    now: datetime | None = None,
) -> tuple[Case, CaseEvent]:
    """Take a workflow action on a case the actor has already been given (case_for_staff)."""
    text, data = action_input(rules, action, note, fields or {})
    return await perform(
        rules,
        case.id,
        action,
        actor,
        note=text,
        data=data,
        expected_version=expected_version(version),
        now=now,
    )


async def register_case(
    rules: Rules, actor: Actor, raw: Mapping[str, Any], *, now: datetime | None = None
) -> Case:
    """The intake centre registers a case that came by phone, in person or by letter; under
    首诉负责制 a unit registers one made to it and owns it until it settles or hands it over.

    Such cases have no WeChat citizen, so they get no notices: staff answer by the same channel.
    """
    check_may_register(rules, actor)
    channel = raw.get("channel")
    if channel not in REGISTER_CHANNELS or channel not in rules.catalog.channels:
        names = "、".join(rules.catalog.channels.get(c, c) for c in REGISTER_CHANNELS)
        raise ValidationError(f"请选择受理渠道:{names}。", field="channel")
    form: dict[str, Any] = {name: raw.get(name) for name in REGISTER_FIELDS if name in raw}
    form["anonymous"] = raw.get("anonymous") in _TRUE
    owner = actor.department_id if actor.role == Role.HANDLER else None
    return await file_case(rules, form, actor, channel=str(channel), now=now, owner=owner)


def may_register(rules: Rules, actor: Actor) -> bool:
    """Intake registers; a handling unit too where the profile has 首诉负责制."""
    if actor.role == Role.INTAKE:
        return True
    first_receiver = rules.catalog.first_receiver_owns and actor.department_id is not None
    return actor.role == Role.HANDLER and first_receiver


def check_may_register(rules: Rules, actor: Actor) -> None:
    if not may_register(rules, actor):
        raise PermissionDenied("只有投诉举报中心可以登记来电、来访和来信。")


async def duplicate_number(case: Case) -> str | None:
    """The number of the open case the filing check matched, if any (for the hotline)."""
    if case.duplicate_of_id is None:
        return None
    other = await Case.get_or_none(id=case.duplicate_of_id).only("id", "number")
    return other.number if other else None
