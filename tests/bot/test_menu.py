"""`complaint-desk wechat menu` pushes config/menu.toml through the outbound client."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from aiohttp.test_utils import TestServer

from tests.bot.conftest import OA_APPID, OA_SECRET
from wechat.simulator import FakeWeChat

ROOT = Path(__file__).resolve().parents[2]


async def run_cli(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "complaint_desk",
        *args,
        cwd=tmp_path,
        env={
            **clean,
            "PYTHONPATH": str(ROOT),
            "COMPLAINT_DESK_STORAGE_DATA_DIR": str(tmp_path),
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_menu_is_pushed_to_wechat(
    tmp_path: Path, fake_wechat: tuple[FakeWeChat, TestServer]
) -> None:
    fake, server = fake_wechat
    env = {
        "COMPLAINT_DESK_WECHAT_API_BASE": str(server.make_url("")).rstrip("/"),
        "COMPLAINT_DESK_WECHAT_OA_APPID": OA_APPID,
        "COMPLAINT_DESK_WECHAT_OA_SECRET": OA_SECRET,
    }
    code, out, err = await run_cli(tmp_path, "wechat", "menu", **env)
    assert code == 0, err
    assert out == "menu with 3 buttons pushed\n"
    menu = fake.menus[OA_APPID]
    keys = [b.get("key") for b in menu["button"]] + [
        s["key"] for b in menu["button"] for s in b.get("sub_button", [])
    ]
    assert {"FILE_complaint", "FILE_report", "FILE_consultation", "STATUS", "GUIDE"} <= set(keys)

    wrong = {**env, "COMPLAINT_DESK_WECHAT_OA_SECRET": "not-the-secret"}
    code, _, err = await run_cli(tmp_path, "wechat", "menu", **wrong)
    assert code == 1 and err.startswith("error: WeChat refused the menu:")
    assert "40125" in err
