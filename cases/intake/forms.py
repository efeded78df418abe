"""A filing's form, checked against the catalogue: each rule it breaks raises ValidationError
naming the field, before anything is written (cases/intake/filing.py then stores it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cases.errors import ValidationError
from cases.rules import Rules
from cases.text import plain_input, without_format_chars

TEXT_FIELDS = (
    "contact_name",
    "contact_address",
    "respondent_name",
    "respondent_address",
    "incident_place",
    "description",
    "demands",
)
FIELD_LABELS = {
    "kind": "类型",
    "category": "类别",
    "channel": "渠道",
    "severity": "等级",
    "contact_name": "姓名",
    "contact_phone": "联系电话",
    "contact_address": "联系地址",
    "respondent_name": "被投诉(举报)对象",
    "respondent_address": "对象地址",
    "incident_at": "发生时间",
    "incident_place": "发生地点",
    "description": "事情经过",
    "demands": "诉求",
    "latitude": "纬度",
    "longitude": "经度",
    "claim_amount": "索赔金额",
}
# ASCII digits only: `\d` would also take Arabic-Indic or Devanagari digits into the store.
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Area codes: 010 and 02X are three digits, every other starts 0 and has four.
_LANDLINE = re.compile(r"(010|02[0-9]|0[3-9][0-9]{2})([0-9]{7,8})")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class CaseForm:
    """A validated filing, ready to be stored."""

    kind: str
    category: str
    channel: str
    severity: str
    anonymous: bool
    contact_name: str
    contact_phone: str
    contact_address: str
    respondent_name: str
    respondent_address: str
    incident_at: datetime | None
    incident_place: str
    latitude: float | None
    longitude: float | None
    description: str
    demands: str
    claim_amount: int | None = None  # 索赔金额 in whole yuan, where the citizen names one


def normalize_phone(text: str) -> str:
    """A Chinese mobile as 11 digits, a landline as 'area-number'; ValueError otherwise."""
    digits = re.sub(r"[\s\-()]", "", plain_input(text))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if _MOBILE.fullmatch(digits):
        return digits
    match = _LANDLINE.fullmatch(digits)
    if match:
        return f"{match.group(1)}-{match.group(2)}"
    raise ValueError(text)


def validate_form(
    rules: Rules, raw: Mapping[str, Any], *, channel: str, staff: bool, now: datetime
) -> CaseForm:
    """Check a submitted form; raise ValidationError for the first field that is wrong.

    Only staff may set the severity; citizens' cases start at the catalogue's default.
    """
    catalog = rules.catalog
    kind = _text(raw, "kind")
    if kind not in catalog.kinds:
        names = "、".join(k.name for k in catalog.kinds.values())
        raise ValidationError(f"请选择类型:{names}。", field="kind")
    category = _text(raw, "category")
    cat = catalog.categories.get(category)
    if cat is None or kind not in cat.kinds:
        raise ValidationError("请选择一个有效的类别。", field="category")
    if channel not in catalog.channels:
        raise ValidationError("未知的受理渠道。", field="channel")
    severity = _text(raw, "severity") if staff else ""
    severity = severity or catalog.default_severity
    if severity not in catalog.severities:
        raise ValidationError("未知的案件等级。", field="severity")

    texts = {name: _clean(_text(raw, name)) for name in TEXT_FIELDS}
    for name, value in texts.items():
        limit = catalog.limits.max_chars.get(name)
        if limit is not None and len(value) > limit:
            raise ValidationError(
                f"“{FIELD_LABELS[name]}”最多 {limit} 个字,当前 {len(value)} 个字。", field=name
            )
    # A boolean only: bool("false") is True, and anonymity drops the contact for good.
    anonymous = raw.get("anonymous", False)
    if not isinstance(anonymous, bool):
        raise ValidationError("“是否匿名”请填 true 或 false。", field="anonymous")
    kind_rule = catalog.kinds[kind]
    if anonymous and not kind_rule.anonymous_allowed:
        raise ValidationError(f"“{kind_rule.name}”需要实名,请留下姓名和电话。", field="anonymous")

    phone_text = _text(raw, "contact_phone")
    phone = ""
    if phone_text and not anonymous:
        try:
            phone = normalize_phone(phone_text)
        except ValueError:
            raise ValidationError(
                "请填写有效的手机号(11位)或带区号的固定电话。", field="contact_phone"
            ) from None
    if anonymous:
        # Anonymity means we keep nothing that identifies the reporter.
        texts["contact_name"] = texts["contact_address"] = ""
    values = {**texts, "contact_phone": phone}
    for name in kind_rule.required_fields:
        if anonymous and name.startswith("contact_"):
            continue
        if not values.get(name):
            raise ValidationError(f"请填写“{FIELD_LABELS[name]}”。", field=name)
    if len(texts["description"]) < catalog.limits.min_description_chars:
        raise ValidationError(
            f"“事情经过”请至少写 {catalog.limits.min_description_chars} 个字,说明时间、地点和经过。",
            field="description",
        )

    incident_at = _incident_time(rules, raw.get("incident_at"), now)
    latitude = _coordinate(raw.get("latitude"), "latitude", 90)
    longitude = _coordinate(raw.get("longitude"), "longitude", 180)
    if (latitude is None) != (longitude is None):
        raise ValidationError(
            "经纬度需同时填写。", field="latitude" if latitude is None else "longitude"
        )
    return CaseForm(
        claim_amount=_claim_amount(raw.get("claim_amount")),
        kind=kind,
        category=category,
        channel=channel,
        severity=severity,
        anonymous=anonymous,
        contact_phone=phone,
        incident_at=incident_at,
        latitude=latitude,
        longitude=longitude,
        **texts,
    )


def _text(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"“{FIELD_LABELS.get(name, name)}”应为文字。", field=name)
    return value.strip()


def _clean(text: str) -> str:
    return without_format_chars(_CONTROL_CHARS.sub("", text))


def _incident_time(rules: Rules, value: Any, now: datetime) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationError(
                "发生时间格式不对,请用 2026-11-23 14:30 这样的格式。", field="incident_at"
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=rules.timezone)
    try:
        when = when.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range
        raise ValidationError("发生时间不在有效范围内。", field="incident_at") from None
    skew = timedelta(minutes=rules.catalog.limits.incident_future_skew_minutes)
    if when > now + skew:
        raise ValidationError("发生时间不能晚于现在。", field="incident_at")
    return when


MAX_CLAIM_YUAN = 1_000_000_000


def _claim_amount(value: Any) -> int | None:
    """Whole yuan: 15000, '15000', '１５,０００', '15000元'; None when not given."""
    if value in (None, ""):
        return None
    text = plain_input(str(value)).replace(",", "").strip().removesuffix("元").strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) > MAX_CLAIM_YUAN:
        raise ValidationError("索赔金额请填写整数元,例如 15000。", field="claim_amount")
    return int(text)


def _coordinate(value: Any, name: str, bound: float) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"“{FIELD_LABELS[name]}”应为数字。", field=name) from None
    if not -bound <= number <= bound:
        raise ValidationError(f"“{FIELD_LABELS[name]}”超出范围。", field=name)
    return number
