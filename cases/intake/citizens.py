"""Citizens as WeChat knows them: one row per person, found by openid or UnionID."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from cases.store import rows
from cases.store.models import Citizen


async def citizen_for_oa_openid(openid: str, unionid: str = "") -> Citizen:
    """The citizen behind an official-account openid, created on first contact.

    `unionid` only from a source WeChat vouches for (the OA user-info API), never a push body.
    """
    return await _citizen_by("oa_openid", openid, unionid)


async def citizen_for_mp_openid(openid: str, unionid: str = "") -> Citizen:
    """The citizen behind a mini-program openid, created on first sign-in; `unionid` is the
    one jscode2session answered, which WeChat vouches for."""
    return await _citizen_by("mp_openid", openid, unionid)


async def _citizen_by(field: str, openid: str, unionid: str) -> Citizen:
    """Found by this channel's openid, else by UnionID — the same person who uses the other
    channel, so both see the same cases — else created."""
    citizen = await rows.citizen_by(field, openid)  # every push asks: plain SQL
    if citizen is not None:
        if unionid and not citizen.unionid and not await Citizen.exists(unionid=unionid):
            citizen.unionid = unionid
            await citizen.save(update_fields=["unionid"])
        return citizen
    if unionid:
        linked = await Citizen.filter(unionid=unionid).first()
        if linked is not None:
            setattr(linked, field, openid)
            await linked.save(update_fields=[field])
            return linked
    values: dict[str, Any] = {field: openid, "unionid": unionid or None}
    try:
        return await Citizen.create(**values)
    except IntegrityError:  # a concurrent first contact from the same person won
        return await Citizen.filter(**{field: openid}).get()


# The last-seen time only needs minute precision: skip the write during a quick dialogue.
SEEN_RESOLUTION = timedelta(minutes=1)


async def seen_on_oa(citizen: Citizen, now: datetime) -> None:
    """The citizen wrote to the official account (opens WeChat's 48-hour service window)."""
    seen = citizen.oa_last_seen_at
    if seen is None or now - seen >= SEEN_RESOLUTION:
        citizen.oa_last_seen_at = now
        await Citizen.filter(id=citizen.id).update(oa_last_seen_at=now)
