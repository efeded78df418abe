"""A running app for staff tests: sign in through the real login form, keep the cookie."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from cases.rules import Rules
from complaint_desk.app import create_app
from complaint_desk.keys import RULES
from config.settings import Settings
from tests.factories import STAFF_PASSWORD, make_staff

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Console:
    """One browser-like client signed in as one staff member."""

    client: aiohttp.ClientSession
    username: str
    csrf: str = ""

    async def get(self, path: str) -> tuple[int, str]:
        resp = await self.client.get(path, allow_redirects=False)
        body = await resp.text()
        if match := CSRF.search(body):
            self.csrf = match.group(1)
        return resp.status, body

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        resp = await self.client.post(path, data={"csrf": self.csrf, **data}, allow_redirects=False)
        return resp.status, await resp.text()


async def sign_in(client: aiohttp.ClientSession, username: str, password: str) -> Any:
    page = await client.get("/staff/login")
    token = CSRF.search(await page.text())
    assert token is not None
    return await client.post(
        "/staff/login",
        data={"csrf": token.group(1), "username": username, "password": password},
        allow_redirects=False,
    )


@dataclass
class StaffWorld:
    settings: Settings
    rules: Rules
    new_client: Callable[[], Awaitable[aiohttp.ClientSession]]
    app: web.Application

    async def console(self, role: str, department: str = "") -> Console:
        """A new client signed in as a new account of `role`."""
        actor = await make_staff(role, department)
        client = await self.new_client()
        from cases.store.models import StaffUser

        user = await StaffUser.get(id=actor.id)
        resp = await sign_in(client, user.username, STAFF_PASSWORD)
        assert resp.status == 302, await resp.text()
        console = Console(client, user.username)
        await console.get("/staff/worklist")
        return console


@pytest.fixture
async def staff_world(
    aiohttp_server: AiohttpServer, make_settings: Callable[..., Settings]
) -> AsyncIterator[StaffWorld]:
    settings = make_settings(worker__in_process=False, staff__secure_cookies=False)
    app = create_app(settings)
    server = await aiohttp_server(app)
    sessions: list[aiohttp.ClientSession] = []

    async def new_client() -> aiohttp.ClientSession:
        """A browser of its own (own cookies) on the same server."""
        session = aiohttp.ClientSession(
            base_url=str(server.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        sessions.append(session)
        return session

    yield StaffWorld(settings, app[RULES], new_client, app)
    for session in sessions:
        await session.close()
