"""Every staff and mini-program route × every role: allowed, refused, or hidden (A8, A9).

The routes are read from the aiohttp routers themselves, so a new route without a row in
MATRIX fails `test_every_route_has_a_row`. One world serves the whole walk: one case of
citizen A in the consumer unit, one sign-in per role. Where a role must not know a case (or a
reminder) exists, its answer is compared byte for byte with the answer for one that does not
exist (A9: "cross-citizen 404 identical to non-existent"). Session tokens, logout and disabled
accounts are covered in tests/staff/test_auth.py and tests/miniprogram/test_api.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from cases.store.models import Case, CaseClock, Reminder
from miniprogram_api.app import create_mp_app
from staff.api import create_staff_api
from staff.app import create_staff_app
from tests.factories import STAFF_PASSWORD, make_staff
from tests.images import encode, two_tone
from tests.miniprogram.conftest import MakeWorld, MpWorld  # make_mp: tests/hardening/conftest
from tests.staff.conftest import Console, sign_in

CONSOLE, STAFF_API, MP_API = "/staff", "/api/staff/v1", "/api/mp/v1"
ANON, CIT_A, CIT_B = "anonymous", "citizen_a", "citizen_b"
INTAKE, HANDLER_X, HANDLER_Y, LEADER, ADMIN = "intake", "handler_x", "handler_y", "leader", "admin"
STAFF_ROLES = (INTAKE, HANDLER_X, HANDLER_Y, LEADER, ADMIN)
ROLES = (ANON, CIT_A, CIT_B, *STAFF_ROLES)
HIDDEN = 404  # must equal the answer for a missing case / reminder, byte for byte


def _all(status: int, **exceptions: int) -> dict[str, int]:
    return {role: exceptions.get(role, status) for role in ROLES}


def console(signed_in: int, anonymous: int = 302, **by_role: int) -> dict[str, int]:
    """A console route: no cookie redirects to sign-in (GET) or is refused (POST)."""
    return {
        **dict.fromkeys((ANON, CIT_A, CIT_B), anonymous),
        **dict.fromkeys(STAFF_ROLES, signed_in),
        **by_role,
    }


def staff_api(signed_in: int, **by_role: int) -> dict[str, int]:
    """A staff API route: no token, or a citizen's token, is 401."""
    return {
        **dict.fromkeys((ANON, CIT_A, CIT_B), 401),
        **dict.fromkeys(STAFF_ROLES, signed_in),
        **by_role,
    }


def mp_api(signed_in: int, **by_role: int) -> dict[str, int]:
    """A mini-program route: no token, or a staff token, is 401."""
    return {**_all(401), CIT_A: signed_in, CIT_B: signed_in, **by_role}


@dataclass(frozen=True)
class Probe:
    method: str
    path: str  # {case}, {photo}, {reminder}, {staff_id} filled in from the world
    expect: Mapping[str, int]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    last: bool = False  # ends the session: walked after everything else


MATRIX: dict[str, Probe] = {
    # --- staff console ---------------------------------------------------------------------
    "staff_home": Probe("GET", "/", console(302)),
    "staff_login": Probe("GET", "/login", _all(200)),
    "staff_login_post": Probe("POST", "/login", _all(403)),  # no login-form CSRF cookie
    "staff_static": Probe("GET", "/static/staff.css", _all(200)),
    "staff_worklist": Probe("GET", "/worklist", console(200)),
    "staff_supervision": Probe(
        "GET", "/supervision", console(200, handler_x=403, handler_y=403, admin=403)
    ),
    "staff_remind": Probe(
        "POST", "/cases/{case}/remind", console(403, 403, intake=303, leader=303, handler_y=HIDDEN)
    ),
    "staff_supervise": Probe(
        "POST",
        "/cases/{case}/supervise",
        console(403, 403, intake=422, leader=422, handler_y=HIDDEN),
    ),
    "staff_reminders": Probe("GET", "/reminders", console(200)),
    "staff_reminders_read_all": Probe("POST", "/reminders/read", console(303, 403)),
    "staff_reminder_read": Probe(
        "POST",
        "/reminders/{reminder}/read",
        console(HIDDEN, 403, handler_x=303, intake=303),
    ),
    "staff_case": Probe("GET", "/cases/{case}", console(200, handler_y=HIDDEN)),
    "staff_case_identity": Probe(
        "POST", "/cases/{case}/identity", console(200, 403, handler_y=HIDDEN)
    ),
    "staff_case_action": Probe(
        "POST",
        "/cases/{case}/actions/accept",
        console(409, 403, handler_x=403, admin=403, handler_y=HIDDEN),
    ),
    "staff_case_photo": Probe(
        "GET", "/cases/{case}/photos/{photo}/thumb", console(200, handler_y=HIDDEN)
    ),
    "staff_register": Probe("GET", "/register", console(403, intake=200)),
    "staff_register_post": Probe("POST", "/register", console(403, 403, intake=422)),
    "staff_admin": Probe("GET", "/admin", console(403, admin=200)),
    "staff_admin_add": Probe("POST", "/admin/staff", console(403, 403, admin=422)),
    "staff_admin_disable": Probe(
        "POST", "/admin/staff/{staff_id}/disable", console(403, 403, admin=302)
    ),
    "staff_admin_unlock": Probe(
        "POST", "/admin/staff/{staff_id}/unlock", console(403, 403, admin=302)
    ),
    "staff_dashboard": Probe("GET", "/dashboard", console(200)),
    "staff_monthly_report": Probe(
        "GET", "/reports/monthly?format=html", console(200, handler_x=403, handler_y=403)
    ),
    "staff_logout": Probe("POST", "/logout", console(302, 403), last=True),
    # --- staff JSON API --------------------------------------------------------------------
    "staff_api_login": Probe("POST", "/auth/login", _all(422), json={}),
    "staff_api_openapi": Probe("GET", "/openapi.json", _all(200)),
    "staff_api_cases": Probe("GET", "/cases", staff_api(200)),
    "staff_api_supervision": Probe(
        "GET", "/supervision", staff_api(200, handler_x=403, handler_y=403, admin=403)
    ),
    "staff_api_remind": Probe(
        "POST",
        "/cases/{case}/remind",
        staff_api(403, intake=201, leader=201, handler_y=HIDDEN),
        json={},
    ),
    "staff_api_supervise": Probe(
        "POST",
        "/cases/{case}/supervise",
        staff_api(403, intake=422, leader=422, handler_y=HIDDEN),
        json={},
    ),
    "staff_api_reminders": Probe("GET", "/reminders", staff_api(200)),
    "staff_api_reminder_read": Probe(
        "POST",
        "/reminders/{reminder}/read",
        staff_api(HIDDEN, handler_x=200, intake=200),
        json={},
    ),
    "staff_api_register": Probe("POST", "/cases", staff_api(403, intake=422), json={}),
    "staff_api_case": Probe("GET", "/cases/{case}", staff_api(200, handler_y=HIDDEN)),
    "staff_api_action": Probe(
        "POST",
        "/cases/{case}/actions/accept",
        staff_api(409, handler_x=403, admin=403, handler_y=HIDDEN),
        json={},
    ),
    "staff_api_photo": Probe(
        "GET", "/cases/{case}/photos/{photo}/full", staff_api(200, handler_y=HIDDEN)
    ),
    "staff_api_dashboard": Probe("GET", "/dashboard", staff_api(200)),
    "staff_api_unlock": Probe("POST", "/staff/{staff_id}/unlock", staff_api(403, admin=200)),
    "staff_api_logout": Probe("POST", "/auth/logout", staff_api(200), last=True),
    # --- mini-program API ------------------------------------------------------------------
    "mp_login": Probe("POST", "/auth/login", _all(400), json={}),
    "mp_openapi": Probe("GET", "/openapi.json", _all(200)),
    "mp_catalogue": Probe("GET", "/catalogue", mp_api(200)),
    "mp_upload": Probe("POST", "/uploads", mp_api(415), json={}),  # not multipart
    "mp_create_case": Probe("POST", "/cases", mp_api(400), json={}),
    "mp_cases": Probe("GET", "/cases", mp_api(200)),
    "mp_case": Probe("GET", "/cases/{case}", mp_api(200, citizen_b=HIDDEN)),
    "mp_supplement": Probe(
        "POST", "/cases/{case}/supplements", mp_api(409, citizen_b=HIDDEN), json={"text": "补充"}
    ),
    "mp_withdraw": Probe(
        "POST", "/cases/{case}/withdraw", mp_api(422, citizen_b=HIDDEN), json={"reason": 1}
    ),
    "mp_rating": Probe(
        "POST", "/cases/{case}/rating", mp_api(409, citizen_b=HIDDEN), json={"overall": "x"}
    ),
    "mp_subscriptions": Probe("POST", "/subscriptions", mp_api(422), json={}),
    # Capability URLs (signed link, random name): without the secret part, nobody gets in.
    "mp_evidence_file": Probe("GET", "/evidence/{photo}/thumb?exp=1&sig=x", _all(404)),
    "mp_check_media": Probe("GET", f"/check-media/{'0' * 32}.jpg", _all(404)),
    "mp_logout": Probe("POST", "/auth/logout", mp_api(200), last=True),
}

PREFIXES = {"staff_api_": STAFF_API, "staff_": CONSOLE, "mp_": MP_API}


def _prefix(name: str) -> str:
    return next(p for start, p in PREFIXES.items() if name.startswith(start))


def _routes(app: web.Application) -> set[str]:
    return {
        str(route.name)
        for route in app.router.routes()
        if route.method != "HEAD"  # aiohttp adds one beside every GET
    }


def test_every_route_has_a_row() -> None:
    """A8: the matrix covers exactly the routers' routes (a new route must be added here)."""
    routes = _routes(create_staff_app()) | _routes(create_staff_api()) | _routes(create_mp_app())
    assert None not in routes and "None" not in routes, "every route needs a name"
    assert routes == set(MATRIX), (
        f"missing rows: {sorted(routes - set(MATRIX))}, stale rows: {sorted(set(MATRIX) - routes)}"
    )


@dataclass
class World:
    mp: MpWorld
    values: dict[str, str]
    missing: dict[str, str]
    consoles: dict[str, Console]
    tokens: dict[str, str]


async def _world(make_mp: MakeWorld) -> World:
    mp = await make_mp(staff__secure_cookies=False)  # plain HTTP in tests
    a, b = await mp.login(), await mp.login()
    status, up = await mp.upload(a, encode(two_tone((64, 48))))
    assert status == 201, up
    status, filed = await mp.file(a, upload_ids=[up["upload_id"]])
    assert status == 201, filed
    number = filed["number"]

    base = str(mp.client.make_url("/"))
    consoles: dict[str, Console] = {}
    tokens = {CIT_A: a.token, CIT_B: b.token}
    units = {INTAKE: "centre", HANDLER_X: "consumer", HANDLER_Y: "food"}
    for role in STAFF_ROLES:
        actor = await make_staff(role.split("_")[0], units.get(role, ""))
        username = await _username(actor.id)
        client = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        resp = await sign_in(client, username, STAFF_PASSWORD)
        assert resp.status == 302, await resp.text()
        consoles[role] = Console(client, username)
        await consoles[role].get("/staff/worklist")  # picks up the CSRF token
        login = await mp.client.post(
            f"{STAFF_API}/auth/login", json={"username": username, "password": STAFF_PASSWORD}
        )
        tokens[role] = (await login.json())["token"]
    consoles[ANON] = Console(
        aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True)), ""
    )

    # Intake accepts and hands the case to the consumer unit (handler X's).
    intake = {"Authorization": f"Bearer {tokens[INTAKE]}"}
    for action, data in (("accept", {}), ("assign", {"department": "consumer"})):
        resp = await mp.client.post(
            f"{STAFF_API}/cases/{number}/actions/{action}", json={"data": data}, headers=intake
        )
        assert resp.status == 200, await resp.text()
    detail = await (await mp.client.get(f"{STAFF_API}/cases/{number}", headers=intake)).json()
    photo = str(detail["photos"][0]["id"])

    case = await Case.get(number=number)
    clock = await CaseClock.filter(case_id=case.id).first()
    assert clock is not None
    now = datetime.now(UTC)
    reminder = await Reminder.create(
        case_id=case.id,
        clock_id=clock.id,
        point="overdue",
        department_id=case.department_id,  # type: ignore[attr-defined]
        created_at=now - timedelta(minutes=1),
    )
    victim = await make_staff("intake", "centre")  # the account the admin disables
    return World(
        mp,
        values={
            "case": number,
            "photo": photo,
            "reminder": str(reminder.id),
            "staff_id": str(victim.id),
        },
        missing={"case": _missing_number(number), "reminder": str(reminder.id + 1000)},
        consoles=consoles,
        tokens=tokens,
    )


async def _username(staff_id: int | None) -> str:
    from cases.store.models import StaffUser

    return (await StaffUser.get(id=staff_id)).username


def _missing_number(number: str) -> str:
    """A number in the same format that no case has."""
    return number[:-4] + ("0000" if number[-4:] != "0000" else "0001")


async def _call(
    world: World, name: str, probe: Probe, role: str, values: Mapping[str, str]
) -> tuple[int, bytes, str]:
    path = probe.path.format(**values)
    prefix = _prefix(name)
    if prefix == CONSOLE:
        client = world.consoles.get(role, world.consoles[ANON])
        if probe.method == "GET":
            resp = await client.client.get(prefix + path, allow_redirects=False)
        else:
            form = {"csrf": client.csrf, **probe.form}
            resp = await client.client.post(prefix + path, data=form, allow_redirects=False)
    else:
        headers = dict(probe.headers)
        if role in world.tokens:
            headers["Authorization"] = f"Bearer {world.tokens[role]}"
        resp = await world.mp.client.request(
            probe.method, prefix + path, json=probe.json, headers=headers, allow_redirects=False
        )
    body = await resp.read()
    return resp.status, body, resp.headers.get("Content-Type", "")


async def test_every_role_on_every_route(make_mp: MakeWorld) -> None:
    """A8 allowed/refused per role; A9 a forbidden case answers exactly like a missing one."""
    world = await _world(make_mp)
    try:
        problems: list[str] = []
        ordered = sorted(MATRIX.items(), key=lambda item: item[1].last)
        for name, probe in ordered:
            for role in ROLES:
                status, body, ctype = await _call(world, name, probe, role, world.values)
                assert status < 500, (name, role, body[:300])
                if status != probe.expect[role]:
                    problems.append(f"{name} as {role}: {status}, expected {probe.expect[role]}")
                hidden = [k for k in world.missing if "{" + k + "}" in probe.path]
                if probe.expect[role] == HIDDEN and hidden:
                    values = {**world.values, **world.missing}
                    answer = await _call(world, name, probe, role, values)
                    if answer != (status, body, ctype):
                        problems.append(
                            f"{name} as {role}: forbidden ≠ missing\n{body[:400]!r}\n{answer[1][:400]!r}"
                        )
        assert not problems, "\n".join(problems)
    finally:
        for c in world.consoles.values():
            await c.client.close()
