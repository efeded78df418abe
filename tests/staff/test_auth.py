"""Staff sign-in: CSRF on the form, cookie flags, lock-out, sign-out, security headers, API."""

from __future__ import annotations

from datetime import UTC, datetime

from cases.models import StaffSession, StaffUser
from cases.staff_auth import disable_account
from tests.factories import STAFF_PASSWORD, make_staff
from tests.staff.conftest import StaffWorld, sign_in


async def _user(role: str = "intake", department: str = "centre") -> StaffUser:
    actor = await make_staff(role, department)
    return await StaffUser.get(id=actor.id)


async def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(
    staff_world: StaffWorld,
) -> None:
    user = await _user()
    client = await staff_world.new_client()
    resp = await sign_in(client, user.username, STAFF_PASSWORD)
    assert resp.status == 302 and resp.headers["Location"] == "/staff/worklist"
    cookie = resp.cookies["cd_staff"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/staff/"
    session = await StaffSession.get(user_id=user.id)
    assert cookie.value not in session.token_hash and len(cookie.value) >= 43

    page = await client.get("/staff/worklist", allow_redirects=False)
    assert page.status != 302
    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"):
        assert header in page.headers
    assert "no-store" in page.headers["Cache-Control"]

    forged = await client.post("/staff/logout", data={"csrf": "wrong"}, allow_redirects=False)
    assert forged.status == 403 and await StaffSession.exists(user_id=user.id)
    csrf = session.csrf_token
    out = await client.post("/staff/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 302 and not await StaffSession.exists(user_id=user.id)
    again = await client.get("/staff/worklist", allow_redirects=False)
    assert again.status == 302 and again.headers["Location"].startswith("/staff/login")


async def test_the_login_form_needs_its_csrf_token(staff_world: StaffWorld) -> None:
    user = await _user()
    client = await staff_world.new_client()
    resp = await client.post(
        "/staff/login",
        data={"username": user.username, "password": STAFF_PASSWORD},
        allow_redirects=False,
    )
    assert resp.status == 403 and not await StaffSession.exists(user_id=user.id)


async def test_repeated_wrong_passwords_lock_the_account(staff_world: StaffWorld) -> None:
    user = await _user()
    client = await staff_world.new_client()
    failures = staff_world.settings.staff.lockout_failures
    for _ in range(failures - 1):
        resp = await sign_in(client, user.username, "wrong password")
        assert resp.status == 401 and "用户名或密码不正确" in await resp.text()
    resp = await sign_in(client, user.username, "wrong password")
    assert resp.status == 401
    locked = await sign_in(client, user.username, STAFF_PASSWORD)  # right, but too late
    assert locked.status == 429 and "已锁定" in await locked.text()
    assert int(locked.headers["Retry-After"]) > 0
    assert (await StaffUser.get(id=user.id)).locked_until is not None
    unknown = await sign_in(client, "nobody-here", "whatever")
    assert unknown.status == 401 and "用户名或密码不正确" in await unknown.text()


async def test_a_disabled_account_loses_its_sessions(staff_world: StaffWorld) -> None:
    user = await _user()
    client = await staff_world.new_client()
    await sign_in(client, user.username, STAFF_PASSWORD)
    await disable_account(user)
    resp = await client.get("/staff/worklist", allow_redirects=False)
    assert resp.status == 302
    assert (await sign_in(client, user.username, STAFF_PASSWORD)).status == 401


async def test_next_only_leads_inside_the_console(staff_world: StaffWorld) -> None:
    client = await staff_world.new_client()
    page = await client.get("/staff/login?next=https://evil.example/x")
    assert "evil.example" not in await page.text()


async def test_the_api_takes_bearer_tokens_not_cookies(staff_world: StaffWorld) -> None:
    user = await _user()
    client = await staff_world.new_client()
    login = await client.post(
        "/api/staff/v1/auth/login", json={"username": user.username, "password": STAFF_PASSWORD}
    )
    body = await login.json()
    assert login.status == 200 and body["role"] == "intake"
    await sign_in(client, user.username, STAFF_PASSWORD)  # a console cookie is present too
    resp = await client.post("/api/staff/v1/auth/logout")
    assert resp.status == 401  # the cookie is not accepted by the API
    resp = await client.post(
        "/api/staff/v1/auth/logout", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert resp.status == 200
    assert await StaffSession.filter(expires_at__gt=datetime.now(UTC)).count() == 1
