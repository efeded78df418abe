"""The staff API's OpenAPI document is true: every route is described, and fuzzing it finds
no 5xx and no answer the document does not describe (F1)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cases.store.evidence import process_image, store_evidence
from cases.store.models import Case, StaffUser
from cases.workflow.actions import ACTIONS
from staff.api import OPENAPI_FILE, create_staff_api
from tests.factories import STAFF_PASSWORD, make_staff
from tests.images import encode, two_tone
from tests.openapi_fuzz import fuzz, schemathesis_cli
from tests.staff.conftest import StaffWorld

ROOT = Path(__file__).resolve().parents[2]
API = "/api/staff/v1"
# Which operations a fuzzed call may not take: logout would end the token the run uses.
NOT_FUZZED = ("logout",)
REGISTERED = {
    "channel": "phone",
    "kind": "complaint",
    "category": "consumer",
    "contact_name": "王女士",
    "contact_phone": "13800138000",
    "respondent_name": "某某超市",
    "description": "买到过期的牛奶,要求退货被拒绝。",
    "demands": "退货并赔偿。",
}


def _document() -> dict[str, Any]:
    return json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))


def _routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the API's router, in OpenAPI's {name} form."""
    found = set()
    for route in create_staff_api().router.routes():
        if route.method == "HEAD":  # aiohttp adds one beside every GET
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        found.add((route.method.lower(), str(path)))
    return found


def test_every_route_is_in_the_document_and_nothing_else() -> None:
    """A route added without its description (or a stale description) fails here."""
    spec = _document()
    described = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert _routes() == described
    assert spec["servers"] == [{"url": API}]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, op in item.items():
            params = set(re.findall(r"{(\w+)}", path))
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == declared, (method, path)
            codes = set(op["responses"])
            assert any(code.startswith("2") for code in codes), (method, path)
            public = op.get("security") == []
            # Every call with a token can be refused for a missing or expired one.
            assert public or "401" in codes, (method, path)
            assert op.get("operationId"), (method, path)


def _aimed(spec: dict[str, Any], real: dict[str, list[str]]) -> dict[str, Any]:
    """The document with the path parameters widened to "one of these real values, or any
    value the document allows", so the fuzzer reaches cases and photos the intake user can
    see (200s and workflow refusals) as well as missing ones. Responses are left as they are."""
    spec = json.loads(json.dumps(spec))
    for item in spec["paths"].values():
        for op in item.values():
            for param in op.get("parameters", []):
                values = real.get(param["name"]) if param["in"] == "path" else None
                if values:
                    param["schema"] = {
                        "anyOf": [{"type": "string", "enum": values}, param["schema"]]
                    }
                    param["example"] = values[0]
    return spec


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_fuzzing_the_api_finds_no_server_error(
    staff_world: StaffWorld, tmp_path: Path
) -> None:
    """F1: schemathesis over the staff document with an intake user's token, bounded (fixed
    seed, 15 examples per operation, ≤ 2 min): no 5xx, and every status, content type and
    body is the one the document describes."""
    schemathesis_cli()  # skip before building the world when it is missing
    client = await staff_world.new_client()
    # The document is served, public, and is the file in the package.
    resp = await client.get(f"{API}/openapi.json")
    assert resp.status == 200
    served = await resp.json()
    base = str(resp.url).removesuffix("/openapi.json")  # the test server's API address
    assert served == _document()

    actor = await make_staff("intake")
    user = await StaffUser.get(id=actor.id)
    resp = await client.post(
        f"{API}/auth/login", json={"username": user.username, "password": STAFF_PASSWORD}
    )
    assert resp.status == 200, await resp.text()
    token = (await resp.json())["token"]
    auth = {"Authorization": f"Bearer {token}"}
    numbers = []
    for form in (REGISTERED, {**REGISTERED, "channel": "visit", "kind": "consultation"}):
        resp = await client.post(f"{API}/cases", headers=auth, json=form)
        assert resp.status == 201, await resp.text()
        numbers.append((await resp.json())["number"])
    case = await Case.get(number=numbers[0])
    image = process_image(encode(two_tone((400, 200))))
    photo = await store_evidence(
        staff_world.settings.media_dir, image, citizen_id=None, case_id=case.id
    )
    real = {"number": numbers, "action": list(ACTIONS), "id": [str(photo.id)]}

    schema = tmp_path / "staff-openapi.json"
    schema.write_text(json.dumps(_aimed(served, real)), encoding="utf-8")
    config = Path(__file__).with_name("schemathesis.toml")
    await fuzz(
        str(schema), base, token, tmp_path, max_examples=15, exclude=NOT_FUZZED, config=config
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_edge_values_the_fuzzing_probed_are_refused_not_500(staff_world: StaffWorld) -> None:
    """Inputs that gave 500 before the document was fuzzed by hand: now 422 naming the field."""
    client = await staff_world.new_client()
    user = await StaffUser.get(id=(await make_staff("intake")).id)
    resp = await client.post(
        f"{API}/auth/login", json={"username": user.username, "password": STAFF_PASSWORD}
    )
    auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    for path, field in (
        ("/cases?cursor=1.99999999999999999999999", "cursor"),  # id too big for the store
        ("/cases?cursor=n.99999999999999999999", "cursor"),
        ("/supervision?cursor=1.99999999999999999999999", "cursor"),
        ("/cases?filed_from=0001-01-01", "filed_from"),  # overflowed turned into UTC
        ("/cases?filed_to=9999-12-31", "filed_to"),
        ("/dashboard?month=0000-01", "month"),  # year 0 is no date
    ):
        resp = await client.get(API + path, headers=auth)
        assert resp.status == 422, (path, await resp.text())
        assert (await resp.json())["error"]["field"] == field, path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_method_the_document_does_not_list_gets_405_with_allow(
    staff_world: StaffWorld,
) -> None:
    """Issue 15 item 17: RFC 9110 wants the 405 to name the methods the resource takes."""
    client = await staff_world.new_client()
    resp = await client.delete(f"{API}/openapi.json")
    assert resp.status == 405
    assert set(resp.headers["Allow"].split(",")) == {"GET", "HEAD"}
    assert (await resp.json())["error"]["code"] == "http_error"
    assert (await client.get(f"{API}/openapi.json")).status == 200


def test_the_document_states_the_limits_the_server_applies() -> None:
    """Issue 15 item 17: requests the server refuses are invalid under the document."""
    spec = _document()
    [action] = [
        p
        for p in spec["paths"]["/cases/{number}/actions/{action}"]["post"]["parameters"]
        if p["name"] == "action"
    ]
    assert action["schema"]["enum"] == list(ACTIONS)
    supervise = spec["paths"]["/cases/{number}/supervise"]["post"]["requestBody"]
    assert supervise["required"] is True
    note = spec["components"]["schemas"]["SuperviseNote"]
    assert note["required"] == ["note"] and note["properties"]["note"]["minLength"] == 1
    assert spec["components"]["schemas"]["Register"]["properties"]["claim_amount"]["nullable"]
