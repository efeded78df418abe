"""Mini-program sign-in sessions: 256-bit bearer tokens, stored only as their SHA-256."""

from __future__ import annotations

from datetime import datetime, timedelta

from cases.auth.tokens import digest, new_token
from cases.store.models import Citizen, MpSession


async def open_session(citizen: Citizen, now: datetime, hours: float) -> tuple[str, datetime]:
    """A new token for the citizen and when it expires; the token itself is not kept."""
    token = new_token()
    expires_at = now + timedelta(hours=hours)
    await MpSession.create(token_hash=digest(token), citizen=citizen, expires_at=expires_at)
    return token, expires_at


async def citizen_for_token(token: str, now: datetime) -> Citizen | None:
    """The signed-in citizen, or None for a missing, unknown or expired token."""
    if not token or len(token) > 128:
        return None
    session = await MpSession.filter(token_hash=digest(token), expires_at__gt=now).first()
    if session is None:
        return None
    return await Citizen.get_or_none(id=session.citizen_id)


async def close_session(token: str) -> None:
    await MpSession.filter(token_hash=digest(token)).delete()


async def purge_expired_sessions(now: datetime) -> int:
    return await MpSession.filter(expires_at__lte=now).delete()
