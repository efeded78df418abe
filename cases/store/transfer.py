"""Moving cases between installations as JSON lines: one case, its clocks and timeline per line."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from cases.errors import ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseClock, CaseEvent, Citizen, Department, Status

FORMAT_VERSION = 1
_CASE_FIELDS = (
    "number",
    "kind",
    "category",
    "channel",
    "severity",
    "status",
    "policy",
    "anonymous",
    "contact_name",
    "contact_phone",
    "contact_address",
    "respondent_name",
    "respondent_key",
    "respondent_address",
    "incident_at",
    "incident_place",
    "latitude",
    "longitude",
    "description",
    "demands",
    "reject_reason",
    "referred_to",
    "created_at",
    "accepted_at",
    "closed_at",
    "next_due_at",
)
_CLOCK_FIELDS = (
    "name",
    "label",
    "amount",
    "unit",
    "rollover_holidays",
    "on_expiry",
    "started_at",
    "due_at",
    "stopped_at",
    "paused_at",
    "pauses",
    "extensions_used",
    "extended_by",
    "expiry_handled",
)
_EVENT_FIELDS = (
    "at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "action",
    "from_status",
    "to_status",
    "note",
    "data",
    "public",
)
_DATETIMES = {
    "incident_at",
    "created_at",
    "accepted_at",
    "closed_at",
    "next_due_at",
    "started_at",
    "due_at",
    "stopped_at",
    "paused_at",
    "at",
}


def _dump(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = (
            value.isoformat()
            if isinstance(value, datetime)
            else (str(value) if name == "status" else value)
        )
    return out


def _load(raw: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = raw.get(name)
        out[name] = datetime.fromisoformat(value) if name in _DATETIMES and value else value
    return out


async def count_cases() -> int:
    return await Case.all().count()


async def export_cases(batch: int = 500) -> AsyncIterator[dict[str, Any]]:
    """Every case in filing order with its unit code, citizen ids, clocks and events."""
    last_id = 0
    while True:
        page = (
            await Case.filter(id__gt=last_id)
            .order_by("id")
            .limit(batch)
            .prefetch_related("department", "citizen")
        )
        if not page:
            return
        for case in page:
            record = _dump(case, _CASE_FIELDS)
            record["format"] = FORMAT_VERSION
            record["department"] = case.department.code if case.department else None
            record["citizen"] = (
                None
                if case.citizen is None
                else {
                    "unionid": case.citizen.unionid,
                    "oa_openid": case.citizen.oa_openid,
                    "mp_openid": case.citizen.mp_openid,
                    "name": case.citizen.name,
                    "phone": case.citizen.phone,
                }
            )
            record["clocks"] = [
                _dump(c, _CLOCK_FIELDS)
                for c in await CaseClock.filter(case_id=case.id).order_by("id")
            ]
            record["events"] = [
                _dump(e, _EVENT_FIELDS)
                for e in await CaseEvent.filter(case_id=case.id).order_by("id")
            ]
            yield record
        last_id = page[-1].id


async def import_case(rules: Rules, record: dict[str, Any]) -> bool:
    """Store one exported case; False if its number exists already (imports can be re-run)."""
    if record.get("format") != FORMAT_VERSION:
        raise ValidationError(f"unsupported export format {record.get('format')!r}", field="format")
    if record.get("kind") not in rules.catalog.kinds:
        raise ValidationError(f"unknown kind {record.get('kind')!r}", field="kind")
    if record.get("category") not in rules.catalog.categories:
        raise ValidationError(f"unknown category {record.get('category')!r}", field="category")
    if record.get("status") not in {s.value for s in Status}:
        raise ValidationError(f"unknown status {record.get('status')!r}", field="status")
    if await Case.exists(number=record["number"]):
        return False
    async with in_transaction() as conn:
        department = None
        if record.get("department"):
            department = await Department.filter(code=record["department"]).using_db(conn).first()
            if department is None:
                raise ValidationError(
                    f"unknown department {record['department']!r}", field="department"
                )
        citizen = None
        if record.get("citizen"):
            citizen = await _find_or_create_citizen(record["citizen"], conn)
        case = Case(**_load(record, _CASE_FIELDS), department=department, citizen=citizen)
        await case.save(using_db=conn)
        for clock in record.get("clocks", ()):
            await CaseClock.create(case_id=case.id, **_load(clock, _CLOCK_FIELDS), using_db=conn)
        for event in record.get("events", ()):
            await CaseEvent.create(case_id=case.id, **_load(event, _EVENT_FIELDS), using_db=conn)
    return True


async def _find_or_create_citizen(raw: dict[str, Any], conn: Any) -> Citizen:
    for key in ("unionid", "oa_openid", "mp_openid"):
        if raw.get(key):
            found = await Citizen.filter(**{key: raw[key]}).using_db(conn).first()
            if found is not None:
                return found
    return await Citizen.create(
        unionid=raw.get("unionid"),
        oa_openid=raw.get("oa_openid"),
        mp_openid=raw.get("mp_openid"),
        name=raw.get("name", ""),
        phone=raw.get("phone", ""),
        using_db=conn,
    )
