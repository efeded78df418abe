"""Hostile JSON bodies (issue 15 item 7): deep nesting, lone surrogates, huge numbers. Each
answers 400/422 with the face's error body, never a 500 with a traceback."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from cases.store.models import Case, StaffUser
from tests.factories import STAFF_PASSWORD, make_staff
from tests.miniprogram.conftest import API, MpWorld, complaint
from tests.staff.conftest import StaffWorld

DEEP = b'{"a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
LONE_SURROGATE_VALUE = b'{"username": "\\ud800", "password": "x"}'
LONE_SURROGATE_KEY = b'{"\\ud800": 1, "username": "u", "password": "x"}'


def _error(body: Any) -> dict[str, str]:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    return body["error"]


async def _post(client: Any, path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    resp = await client.post(
        path, data=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert resp.content_type == "application/json", await resp.text()
    return resp.status, await resp.json()


def _filing(**fields: Any) -> bytes:
    return json.dumps({**complaint(), **fields}).encode()


@pytest.mark.parametrize(
    "raw",
    [
        DEEP,
        _filing(respondent_name="\ud800"),
        json.dumps({**complaint(), "\udfff": "x"}).encode(),
        _filing(latitude=int("9" * 4000), longitude=120),
        _filing(latitude=0, longitude=120).replace(
            b'"latitude": 0', b'"latitude": ' + b"1" * 4000 + b".5"
        ),
        _filing(latitude=0, longitude=120).replace(b'"latitude": 0', b'"latitude": NaN'),
    ],
    ids=["deep", "surrogate-value", "surrogate-key", "4000-digit-int", "4000-digit-float", "nan"],
)
async def test_hostile_filings_are_refused_in_words(mp: MpWorld, raw: bytes) -> None:
    who = await mp.login()
    headers = {**who.auth, "Idempotency-Key": str(uuid.uuid4())}
    status, body = await _post(mp.client, f"{API}/cases", raw, headers)
    assert status in (400, 422), body
    assert _error(body)["code"] in {"bad_request", "invalid"}
    assert await Case.all().count() == 0
    # The same request without the poison is filed: the refusal is about the poison.
    status, _ = await _post(mp.client, f"{API}/cases", _filing(), headers)
    assert status == 201


@pytest.mark.parametrize(
    "raw", [DEEP, LONE_SURROGATE_VALUE, LONE_SURROGATE_KEY], ids=["deep", "value", "key"]
)
async def test_hostile_sign_ins_are_refused_in_words(staff_world: StaffWorld, raw: bytes) -> None:
    client = await staff_world.new_client()
    status, body = await _post(client, "/api/staff/v1/auth/login", raw, {})
    assert (status, _error(body)["code"]) == (422, "bad_request")
    actor = await make_staff("intake", "centre")
    user = await StaffUser.get(id=actor.id)
    good = json.dumps({"username": user.username, "password": STAFF_PASSWORD}).encode()
    status, _ = await _post(client, "/api/staff/v1/auth/login", good, {})
    assert status == 200


async def test_hostile_registrations_are_refused_in_words(staff_world: StaffWorld) -> None:
    client = await staff_world.new_client()
    actor = await make_staff("intake", "centre")
    user = await StaffUser.get(id=actor.id)
    login = await client.post(
        "/api/staff/v1/auth/login", json={"username": user.username, "password": STAFF_PASSWORD}
    )
    auth = {"Authorization": f"Bearer {(await login.json())['token']}"}
    for raw in (
        DEEP,
        json.dumps({"respondent_name": "\ud800", "channel": "phone"}).encode(),
        json.dumps({"\ud800": 1}).encode(),
    ):
        status, body = await _post(client, "/api/staff/v1/cases", raw, auth)
        assert (status, _error(body)["code"]) == (422, "bad_request"), body
    assert await Case.all().count() == 0


async def _chunks(*parts: bytes) -> Any:
    for part in parts:
        yield part


async def test_the_staff_api_reads_a_chunked_body_whole_and_refuses_another_type(
    staff_world: StaffWorld,
) -> None:
    # Issue 16: both APIs read JSON through one function (complaint_desk/json_body.py); the
    # staff API answered 422 to a valid body sent in two chunks and 422 to text/plain.
    client = await staff_world.new_client()
    actor = await make_staff("intake", "centre")
    user = await StaffUser.get(id=actor.id)
    body = json.dumps({"username": user.username, "password": STAFF_PASSWORD}).encode()
    half = len(body) // 2
    resp = await client.post(
        "/api/staff/v1/auth/login",
        data=_chunks(body[:half], body[half:]),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 200
    assert "token" in await resp.json()
    resp = await client.post(
        "/api/staff/v1/auth/login", data=body, headers={"Content-Type": "text/plain"}
    )
    assert resp.status == 415
    assert _error(await resp.json())["code"] == "unsupported_media_type"
