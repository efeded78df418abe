"""The OpenAPI document is true: every route is described, and fuzzing it finds no 5xx."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import aiohttp
import pytest

from miniprogram_api.app import create_mp_app
from tests.images import encode, two_tone
from tests.miniprogram.conftest import API, MakeWorld, MpWorld
from tests.openapi_fuzz import fuzz, schemathesis_cli

ROOT = Path(__file__).resolve().parents[2]


def _routes() -> set[tuple[str, str]]:
    app = create_mp_app()
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        found.add((route.method.lower(), str(path)))
    return found


def test_every_route_is_in_the_document_and_nothing_else() -> None:
    doc = create_mp_app()
    spec = json.loads((ROOT / "miniprogram_api" / "openapi.json").read_text(encoding="utf-8"))
    described = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert _routes() == described
    assert doc.router.named_resources()  # the app names its routes (used by the sign-in check)
    for path, item in spec["paths"].items():
        for method, op in item.items():
            params = set(re.findall(r"{(\w+)}", path))
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == declared, (method, path)
            assert any(code.startswith(("2", "4")) for code in op["responses"]), (method, path)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_fuzzing_the_api_finds_no_server_error(make_mp: MakeWorld, tmp_path: Path) -> None:
    """F1: schemathesis over the mini-program document, bounded (20 examples per operation,
    fixed seed, ≤ 2 min): no 5xx and no response the document does not describe."""
    schemathesis_cli()  # skip before building the world when it is missing
    mp = await make_mp(miniprogram__cases_per_day=100_000, miniprogram__uploads_per_hour=100_000)
    who = await mp.login()
    status, _ = await mp.file(who)
    assert status == 201
    base = str(mp.client.make_url(API))
    await fuzz(
        f"{base}/openapi.json",
        base,
        who.token,
        tmp_path,
        max_examples=20,
        exclude=("logout",),
        config=Path(__file__).with_name("schemathesis.toml"),
    )


async def test_a_method_the_document_does_not_list_gets_405_with_allow(mp: MpWorld) -> None:
    """Issue 15 item 17: RFC 9110 wants the 405 to name the methods the resource takes."""
    who = await mp.login()
    resp = await mp.client.delete(f"{API}/cases", headers=who.auth)
    assert resp.status == 405
    assert set(resp.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
    body = await resp.json()
    assert body["error"]["code"] == "method_not_allowed"
    resp = await mp.client.get(f"{API}/cases", headers=who.auth)
    assert resp.status == 200


def test_the_document_states_the_limits_the_server_applies() -> None:
    """Issue 15 item 17: requests the server refuses are invalid under the document."""
    from cases.store.models import Status

    spec = json.loads((ROOT / "miniprogram_api" / "openapi.json").read_text(encoding="utf-8"))
    [status] = [p for p in spec["paths"]["/cases"]["get"]["parameters"] if p["name"] == "status"]
    assert status["schema"]["enum"] == ["", *(s.value for s in Status)]
    schemas = spec["components"]["schemas"]
    assert schemas["Login"]["properties"]["code"]["minLength"] == 1
    assert schemas["Supplement"]["properties"]["text"]["minLength"] == 1
    assert schemas["Subscriptions"]["properties"]["results"]["minProperties"] == 1
    upload = spec["paths"]["/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["required"] == ["file"]
    assert upload["schema"]["additionalProperties"] is False
    assert upload["schema"]["properties"]["file"]["minLength"] == 1


async def test_an_upload_with_another_form_field_is_refused(mp: MpWorld) -> None:
    """The document allows the one part `file`; an extra part is 400, not ignored."""
    who = await mp.login()
    for extra in (True, False):
        form = aiohttp.FormData()
        if extra:
            form.add_field("note", "x")
        form.add_field("file", io.BytesIO(encode(two_tone())), filename="a.jpg")
        resp = await mp.client.post(f"{API}/uploads", data=form, headers=who.auth)
        body = await resp.json()
        if extra:
            assert (resp.status, body["error"]["field"]) == (400, "file"), body
        else:
            assert resp.status == 201, body
