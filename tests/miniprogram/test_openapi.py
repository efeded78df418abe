"""The OpenAPI document is true: every route is described, and fuzzing it finds no 5xx."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from miniprogram_api.app import create_mp_app
from tests.miniprogram.conftest import API, MakeWorld
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
        f"{base}/openapi.json", base, who.token, tmp_path, max_examples=20, exclude=("logout",)
    )
