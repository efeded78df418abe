"""Staff sign-in: argon2 passwords checked off the event loop, back-off per address and per
username after repeated failures (cases/auth/sign_in_throttle.py), sessions with a CSRF secret.
Tokens are 256-bit random and stored only as their SHA-256; disabling an account or signing
out deletes its sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cases.auth.passwords import PasswordPool
from cases.auth.sign_in_throttle import SignInThrottle, normal_username
from cases.auth.tokens import digest, new_token
from cases.errors import CaseError, NotFound, PermissionDenied
from cases.store.models import Role, StaffSession, StaffUser
from config.settings import StaffSettings

# Verified against when the username is unknown, so both answers take as long.
_UNKNOWN_USER = StaffUser(
    username="",
    password_hash="$argon2id$v=19$m=65536,t=3,p=4$eDR/e0jitEb98n6QB4NvNA$"
    "m4dnt3WfpK8Acj2Pzh7fKZUbrp9xf8SGUDrl6iFHS+Q",
)


class SignInRefused(CaseError):
    code = "sign_in_refused"
    status = 401


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    session: StaffSession


@dataclass(frozen=True)
class SignInGuard:
    """What every sign-in goes through: the hashing pool and the back-off counts."""

    passwords: PasswordPool
    throttle: SignInThrottle


async def sign_in(
    username: str,
    password: str,
    now: datetime,
    policy: StaffSettings,
    *,
    guard: SignInGuard,
    address: str,
) -> tuple[StaffUser, str]:
    """The account and a new session token; one vague refusal for any wrong detail.

    Known and unknown usernames take the same path (an unknown one is checked against a dummy
    hash and counted alike), so neither the answer nor its timing tells whether one exists."""
    guard.throttle.admit(address, username)  # before any hashing
    try:
        user = await StaffUser.filter(username=normal_username(username)).first()
        ok = await guard.passwords.verify((user or _UNKNOWN_USER).password_hash, password)
    finally:
        guard.throttle.release(address)
    if user is None or not user.active or not ok:
        guard.throttle.failed(address, username)
        raise SignInRefused("用户名或密码不正确。")
    guard.throttle.succeeded(username)
    token = new_token()
    await StaffSession.create(
        token_hash=digest(token),
        user=user,
        csrf_token=new_token(),
        expires_at=now + timedelta(hours=policy.session_hours),
    )
    return user, token


async def signed_in(token: str, now: datetime) -> SignedIn | None:
    """The session behind a token, if it is current and its account still active."""
    if not token or len(token) > 128:
        return None
    session = await StaffSession.filter(token_hash=digest(token), expires_at__gt=now).first()
    if session is None:
        return None
    user = await StaffUser.filter(id=session.user_id, active=True).first()
    return None if user is None else SignedIn(user, session)


async def unlock_sign_in(guard: SignInGuard, admin: StaffUser, user_id: int) -> StaffUser:
    """An admin clears the back-off of an account's username at once (console and API)."""
    if admin.role != Role.ADMIN:
        raise PermissionDenied("只有管理员可以解除登录限制。")
    user = await StaffUser.get_or_none(id=user_id)
    if user is None:
        raise NotFound("没有这个账号。")
    guard.throttle.clear(user.username)
    return user


async def sign_out(token: str) -> None:
    await StaffSession.filter(token_hash=digest(token)).delete()


async def disable_account(user: StaffUser) -> None:
    """Disable the account and end every session it has."""
    user.active = False
    await user.save(update_fields=["active"])
    await StaffSession.filter(user_id=user.id).delete()
