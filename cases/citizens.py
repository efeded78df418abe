"""Citizens as WeChat knows them: one row per person, found by openid or UnionID."""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from cases.models import Citizen


async def citizen_for_oa_openid(openid: str, unionid: str = "") -> Citizen:
    """The citizen behind an official-account openid, created on first contact.

    With a UnionID the official-account openid is linked to the person who may already use
    the mini-program, so both channels see the same cases.
    """
    citizen = await Citizen.get_or_none(oa_openid=openid)
    if citizen is not None:
        return citizen
    if unionid:
        linked = await Citizen.get_or_none(unionid=unionid)
        if linked is not None:
            linked.oa_openid = openid
            await linked.save(update_fields=["oa_openid"])
            return linked
    try:
        return await Citizen.create(oa_openid=openid, unionid=unionid or None)
    except IntegrityError:
        # A concurrent push from the same person created it first.
        return await Citizen.get(oa_openid=openid)


# The last-seen time only needs minute precision: skip the write during a quick dialogue.
SEEN_RESOLUTION = timedelta(minutes=1)


async def seen_on_oa(citizen: Citizen, now: datetime) -> None:
    """The citizen wrote to the official account (opens WeChat's 48-hour service window)."""
    seen = citizen.oa_last_seen_at
    if seen is None or now - seen >= SEEN_RESOLUTION:
        citizen.oa_last_seen_at = now
        await Citizen.filter(id=citizen.id).update(oa_last_seen_at=now)


async def citizen_for_mp_openid(openid: str, unionid: str = "") -> Citizen:
    """The citizen behind a mini-program openid, created on first sign-in; with a UnionID the
    same person's official-account record is reused, so both channels see the same cases."""
    citizen = await Citizen.get_or_none(mp_openid=openid)
    if citizen is not None:
        if unionid and not citizen.unionid:
            citizen.unionid = unionid
            await citizen.save(update_fields=["unionid"])
        return citizen
    if unionid:
        linked = await Citizen.get_or_none(unionid=unionid)
        if linked is not None:
            linked.mp_openid = openid
            await linked.save(update_fields=["mp_openid"])
            return linked
    try:
        return await Citizen.create(mp_openid=openid, unionid=unionid or None)
    except IntegrityError:
        return await Citizen.get(mp_openid=openid)
