"""Staff sign-in: argon2 passwords, lock-out after repeated failures, sessions with a CSRF
secret. Tokens are 256-bit random and stored only as their SHA-256; disabling an account or
signing out deletes its sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cases.accounts import verify_password
from cases.errors import CaseError, TooManyRequests
from cases.models import StaffSession, StaffUser
from cases.tokens import digest, new_token
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


class AccountLocked(TooManyRequests):
    code = "account_locked"


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    session: StaffSession


async def sign_in(
    username: str, password: str, now: datetime, policy: StaffSettings
) -> tuple[StaffUser, str]:
    """The account and a new session token; one vague refusal for any wrong detail."""
    user = await StaffUser.filter(username=username.strip()[:64]).first()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        wait = int((user.locked_until - now).total_seconds()) + 1
        raise AccountLocked(
            f"密码错误次数过多,账号已锁定,请 {max(wait // 60, 1)} 分钟后再试。", retry_after=wait
        )
    ok = verify_password(user or _UNKNOWN_USER, password)
    if user is None or not user.active or not ok:
        if user is not None and user.active:
            await _count_failure(user, now, policy)
        raise SignInRefused("用户名或密码不正确。")
    user.failed_logins = 0
    user.locked_until = None
    await user.save(update_fields=["failed_logins", "locked_until"])
    token = new_token()
    await StaffSession.create(
        token_hash=digest(token),
        user=user,
        csrf_token=new_token(),
        expires_at=now + timedelta(hours=policy.session_hours),
    )
    return user, token


async def _count_failure(user: StaffUser, now: datetime, policy: StaffSettings) -> None:
    user.failed_logins += 1
    fields = ["failed_logins"]
    if user.failed_logins >= policy.lockout_failures:
        user.locked_until = now + timedelta(minutes=policy.lockout_minutes)
        user.failed_logins = 0
        fields.append("locked_until")
    await user.save(update_fields=fields)


async def signed_in(token: str, now: datetime) -> SignedIn | None:
    """The session behind a token, if it is current and its account still active."""
    if not token or len(token) > 128:
        return None
    session = await StaffSession.filter(token_hash=digest(token), expires_at__gt=now).first()
    if session is None:
        return None
    user = await StaffUser.filter(id=session.user_id, active=True).first()
    return None if user is None else SignedIn(user, session)


async def sign_out(token: str) -> None:
    await StaffSession.filter(token_hash=digest(token)).delete()


async def disable_account(user: StaffUser) -> None:
    """Disable the account and end every session it has."""
    user.active = False
    await user.save(update_fields=["active"])
    await StaffSession.filter(user_id=user.id).delete()
