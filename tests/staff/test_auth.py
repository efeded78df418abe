"""Staff sign-in: CSRF on the form, cookie flags, lock-out, sign-out, security headers, API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pytest_aiohttp import AiohttpClient

from cases.auth.staff_auth import disable_account
from cases.store.models import StaffSession, StaffUser
from complaint_desk.app import create_app
from complaint_desk.keys import SIGN_IN
from config.settings import Settings
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


async def _api_login(client: Any, username: str, password: str) -> tuple[int, Any, str]:
    resp = await client.post(
        "/api/staff/v1/auth/login", json={"username": username, "password": password}
    )
    return resp.status, await resp.json(), resp.headers.get("Retry-After", "")


async def test_wrong_passwords_slow_the_source_down_but_never_lock_the_clerk_out(
    aiohttp_client: AiohttpClient, make_settings: Callable[..., Settings]
) -> None:
    """Issue 15 item 6: known and unknown usernames answer alike; after `free_failures` the
    source waits (a short, doubling back-off), then the right password works; no 15-minute
    lock-out, and an admin can clear the back-off at once."""
    settings = make_settings(
        worker__in_process=False, staff__free_failures=3, staff__backoff_seconds=0.3
    )
    client = await aiohttp_client(create_app(settings))
    user = await _user()
    refused = {"error": {"code": "sign_in_refused", "message": "用户名或密码不正确。", "field": ""}}
    for name in (user.username, "nobody-here"):
        for _ in range(3):
            assert await _api_login(client, name, "wrong password") == (401, refused, "")
        client.server.app[SIGN_IN].throttle._counts.pop("a:127.0.0.1")  # type: ignore[union-attr]
    # Four failures for one username (any address): the next try waits, known or not.
    for name in (user.username, "nobody-here"):
        await _api_login(client, name, "wrong password")
        client.server.app[SIGN_IN].throttle._counts.pop("a:127.0.0.1")  # type: ignore[union-attr]
        status, body, retry = await _api_login(client, name, STAFF_PASSWORD)
        assert (status, body["error"]["code"], retry) == (429, "sign_in_throttled", "1")
        assert body["error"]["message"] == "尝试次数过多,请 1 秒后再试。"
    assert (await StaffUser.get(id=user.id)).locked_until is None  # nothing stored per account
    await asyncio.sleep(0.65)  # 0.3 s doubled once
    status, body, _ = await _api_login(client, user.username, STAFF_PASSWORD)
    assert status == 200 and body["role"] == "intake"


async def test_an_admin_clears_the_back_off_in_the_console_and_the_api(
    staff_world: StaffWorld,
) -> None:
    user = await _user()
    admin = await staff_world.console("admin")
    client = await staff_world.new_client()
    free = staff_world.settings.staff.free_failures
    for _ in range(free + 1):
        await _api_login(client, user.username, "wrong password")
    throttle = staff_world.app[SIGN_IN].throttle
    throttle._counts.pop("a:127.0.0.1")
    assert (await _api_login(client, user.username, STAFF_PASSWORD))[0] == 429
    status, _ = await admin.post(f"/staff/admin/staff/{user.id}/unlock", {})
    assert status == 302
    assert (await _api_login(client, user.username, STAFF_PASSWORD))[0] == 200

    for _ in range(free + 1):
        await _api_login(client, user.username, "wrong password")
    throttle._counts.pop("a:127.0.0.1")
    status, body, _ = await _api_login(client, admin.username, STAFF_PASSWORD)
    auth = {"Authorization": f"Bearer {body['token']}"}
    resp = await client.post(f"/api/staff/v1/staff/{user.id}/unlock", headers=auth)
    assert resp.status == 200
    assert await resp.json() == {"username": user.username, "unlocked": True}
    assert (await _api_login(client, user.username, STAFF_PASSWORD))[0] == 200
    status, body, _ = await _api_login(client, user.username, STAFF_PASSWORD)
    mine = {"Authorization": f"Bearer {body['token']}"}
    resp = await client.post(f"/api/staff/v1/staff/{user.id}/unlock", headers=mine)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"


async def test_sign_ins_from_one_address_are_limited_before_any_hashing(
    staff_world: StaffWorld,
) -> None:
    """60 concurrent bad sign-ins from one address: only `address_concurrent_checks` reach
    argon2, the rest are answered 429 at once (issue 15 item 3)."""
    guard = staff_world.app[SIGN_IN]
    hashed = 0
    verify = guard.passwords.verify

    async def counting(password_hash: str, password: str) -> bool:
        nonlocal hashed
        hashed += 1
        return await verify(password_hash, password)

    guard.passwords.verify = counting  # type: ignore[method-assign]
    client = await staff_world.new_client()
    answers = await asyncio.gather(
        *(_api_login(client, f"nobody{n}", "wrong password") for n in range(60))
    )
    statuses = sorted(status for status, _, _ in answers)
    limit = staff_world.settings.staff.address_concurrent_checks
    assert statuses == [401] * limit + [429] * (60 - limit)
    assert hashed == limit


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
