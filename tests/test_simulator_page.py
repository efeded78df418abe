"""The demo's simulator page: its JSON API, and a citizen filing in headless Chromium.

The demo app runs on a real port, as `complaint-desk demo` does: the page posts signed pushes
to the app's own webhook and the bot's WeChat calls go to the simulator mounted in it.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from pytest_aiohttp import AiohttpClient, AiohttpServer

from bot.webhook import TASKS
from cases.store.models import Case, EvidenceFile, Status
from cases.workflow.engine import perform
from complaint_desk.app import DEMO_SIMULATOR_PATH, create_app
from complaint_desk.keys import DEMO_WECHAT, RULES, SETTINGS
from config.settings import ConfigError, Settings, load_settings
from tests.factories import make_staff

if TYPE_CHECKING:
    from playwright.async_api import Browser, FileChooser

REPLY_NOTE = "经核查,商家已同意退货。"
INTERNAL_NOTE = "需要抽样检测,内部商议"
NUMBER = re.compile(r"编号 ([A-Z0-9]+)")
NUMBER_FILED = re.compile(r"^filed ([A-Z0-9]+)$", re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_settings(database_url: str, data_dir: Path, port: int) -> Settings:
    """What `complaint-desk demo --port` builds, on the test's database, notices every 0.1 s."""
    simulator = f"http://127.0.0.1:{port}{DEMO_SIMULATOR_PATH}".rstrip("/")
    return load_settings(
        env={},
        demo=True,
        overrides={
            "database.url": database_url,
            "storage.data_dir": str(data_dir),
            "server.port": port,
            "wechat.api_base": simulator,
            "worker.notice_interval_seconds": 0.1,
        },
    )


@pytest.fixture
async def demo(aiohttp_server: AiohttpServer, database_url: str, tmp_path: Path) -> TestServer:
    port = _free_port()
    app = create_app(demo_settings(database_url, tmp_path / "data", port))
    return await aiohttp_server(app, port=port)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, demo: TestServer) -> TestClient[Any, Any]:
    return await aiohttp_client(demo)


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buf, "JPEG")
    return buf.getvalue()


async def staff_reply(demo: TestServer, number: str) -> None:
    """The case goes the staff's way: accepted, assigned, started, answered."""
    assert demo.app is not None
    rules = demo.app[RULES]
    case = await Case.get(number=number)
    intake = await make_staff("intake", "centre")
    handler = await make_staff("handler", "consumer")
    await perform(rules, case.id, "accept", intake)
    await perform(rules, case.id, "assign", intake, data={"department": "consumer"})
    await perform(rules, case.id, "start", handler)
    # Internal: the citizen must not see this note.
    await perform(
        rules, case.id, "request_extension", handler, note=INTERNAL_NOTE, data={"amount": 10}
    )
    await perform(rules, case.id, "reply", handler, note=REPLY_NOTE)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


# --- the JSON API -------------------------------------------------------------------------


async def test_page_and_its_assets_are_served(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/simulator/")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    # The page opens on the demo's sample citizen, whose case notices then show up.
    assert "公众号模拟器" in html and 'value="oDemoSeedCitizen01"' in html
    assert 'data-key="FILE_complaint">我要投诉</button>' in html
    assert 'data-key="STATUS">查询进度</button>' in html  # from a sub-menu
    for name, kind in (("simulator.js", "application/javascript"), ("simulator.css", "text/css")):
        resp = await client.get(f"/simulator/static/{name}")
        assert (resp.status, resp.content_type) == (200, kind)
    # Only the two assets: the template itself is not a static file.
    assert (await client.get("/simulator/static/page.html")).status == 404
    resp = await client.get("/simulator", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, "/simulator/")


async def test_no_simulator_page_outside_demo_mode(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/simulator/")).status == 404
    assert (await client.post("/simulator/api/push", json={})).status == 404
    # No time travel and no free login codes in a real installation.
    assert (await client.post("/simulator/api/fast-forward")).status == 404
    assert (await client.post("/simulator/api/mp/login-code", json={})).status == 404


async def test_a_filing_by_chat_with_a_photo_and_a_location_then_the_reply_arrives(
    client: TestClient[Any, Any], demo: TestServer
) -> None:
    openid = "oApiCitizen"

    async def push(**payload: Any) -> str:
        resp = await client.post("/simulator/api/push", json={"openid": openid, **payload})
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["reply"])

    async def say(text: str) -> str:
        return await push(type="text", content=text)

    assert "欢迎关注" in await push(type="subscribe")
    assert "哪一类" in await push(type="click", key="FILE_complaint")
    assert "对象" in await say("1")
    assert "什么时候" in await say("城东便民超市")
    assert "在哪里" in await say("昨天")
    reply = await push(type="location", latitude=30.27, longitude=120.15, label="东大街12号")
    assert "事情经过" in reply
    assert "怎样处理" in await say("买到的牛奶已经过期了,店员拒绝退货。")
    assert "照片" in await say("退货并赔偿")
    resp = await client.post(f"/simulator/api/photo?openid={openid}", data=jpeg())
    assert resp.status == 200 and "已收到第 1 张" in (await resp.json())["reply"]
    assert "手机号" in await say("完成")
    assert "请核对" in await say("13800000000")
    done = await say("确认")
    match = NUMBER.search(done)
    assert done.startswith("已提交") and match, done
    number = match.group(1)

    assert demo.app is not None
    for sub in demo.app._subapps:  # the photo is fetched in the background
        await asyncio.gather(*sub.get(TASKS, ()), return_exceptions=True)
    case = await Case.get(number=number)
    assert (case.latitude, case.longitude, case.incident_place) == (30.27, 120.15, "东大街12号")
    assert await EvidenceFile.filter(case_id=case.id).count() == 1

    await staff_reply(demo, number)

    async def replied_notice() -> bool:
        inbox = await (await client.get(f"/simulator/api/inbox?openid={openid}")).json()
        return any(n["data"].get("thing2") == "已答复" for n in inbox["notices"])

    await eventually(replied_notice)
    inbox = await (await client.get(f"/simulator/api/inbox?openid={openid}")).json()
    # Both notices may leave in one worker round, in either order.
    sent = {n["template_id"]: n for n in inbox["notices"]}
    assert len(inbox["notices"]) == 2 and sorted(sent) == [
        "demo-case-accepted",
        "demo-case-replied",
    ]
    assert {n["type"] for n in inbox["notices"]} == {"template"}
    assert sent["demo-case-accepted"]["data"]["character_string1"] == number
    assert sent["demo-case-accepted"]["data"]["thing2"] == "您的投诉已受理"
    assert sent["demo-case-replied"]["data"] == {
        "character_string1": number,
        "thing2": "已答复",
        "thing3": REPLY_NOTE,
    }
    assert inbox["texts"] == []
    # Someone else's inbox stays empty.
    other = await (await client.get("/simulator/api/inbox?openid=oSomeoneElse")).json()
    assert other == {"notices": [], "texts": []}

    mine = await (await client.get(f"/simulator/api/cases?openid={openid}")).json()
    [shown] = mine["cases"]
    assert (shown["number"], shown["kind"], shown["status"]) == (number, "投诉", "已答复")
    assert [(e["action"], e["label"]) for e in shown["events"]] == [
        ("file", "提交"),
        ("accept", "受理"),
        ("assign", "交办"),
        ("start", "开始办理"),
        ("reply", "答复"),
    ]
    assert shown["events"][-1]["note"] == REPLY_NOTE
    assert INTERNAL_NOTE not in str(mine)
    assert (await Case.get(number=number)).status == Status.REPLIED


async def test_customer_service_texts_reach_the_inbox(
    client: TestClient[Any, Any], demo: TestServer
) -> None:
    """A photo the bot cannot keep: it says so in a customer-service message."""
    openid = "oPhotoCitizen"
    await client.post(
        "/simulator/api/push", json={"openid": openid, "type": "text", "content": "投诉"}
    )
    for answer in (
        "1",
        "城东便民超市",
        "跳过",
        "跳过",
        "买到的牛奶已经过期了,店员拒绝退货。",
        "退货",
    ):
        await client.post(
            "/simulator/api/push", json={"openid": openid, "type": "text", "content": answer}
        )
    resp = await client.post(f"/simulator/api/photo?openid={openid}", data=b"not an image")
    assert resp.status == 200 and "已收到第 1 张" in (await resp.json())["reply"]

    async def told() -> bool:
        inbox = await (await client.get(f"/simulator/api/inbox?openid={openid}")).json()
        return bool(inbox["texts"])

    await eventually(told)
    inbox = await (await client.get(f"/simulator/api/inbox?openid={openid}")).json()
    [text] = inbox["texts"]
    assert text.startswith("抱歉,刚才有一张照片没能保存") and "目前共收到 0 张照片" in text
    assert demo.app is not None and demo.app[DEMO_WECHAT].template_messages == []


def _invalid(message: str, field: str = "") -> dict[str, Any]:
    return {"error": {"code": "invalid", "message": message, "field": field}}


OPENID_RULE = "openid 须以 o 开头,只含字母、数字、- 和 _。"
TEXT = {"openid": "oCitizen1", "type": "text", "content": "你好"}
PLACE = {"openid": "oCitizen1", "type": "location", "latitude": 30, "longitude": 120, "label": ""}
# Each refused push, and the same push changed just enough to be accepted.
REFUSED_AND_ACCEPTED = [
    ({**TEXT, "openid": "citizen1"}, {**TEXT, "openid": "oCitizen1"}, OPENID_RULE, "openid"),
    ({**TEXT, "openid": "o<b>"}, {**TEXT, "openid": "o-b_1"}, OPENID_RULE, "openid"),
    ({**TEXT, "content": "  "}, {**TEXT, "content": "帮助"}, "请输入内容。", "content"),
    (
        {**TEXT, "content": "字" * 2001},
        {**TEXT, "content": "字" * 2000},
        "最多 2000 个字。",
        "content",
    ),
    (
        {"openid": "oCitizen1", "type": "click", "key": "DELETE_ALL"},
        {"openid": "oCitizen1", "type": "click", "key": "GUIDE"},
        "菜单里没有这一项。",
        "key",
    ),
    ({**PLACE, "latitude": 91}, {**PLACE, "latitude": 90}, "经纬度不正确。", "latitude"),
    ({**PLACE, "latitude": True}, {**PLACE, "latitude": 1}, "经纬度不正确。", "latitude"),
    ({**PLACE, "longitude": "120"}, {**PLACE, "longitude": -180}, "经纬度不正确。", "longitude"),
    (
        {**PLACE, "label": "地" * 101},
        {**PLACE, "label": "地" * 100},
        "地点名称最多 100 个字。",
        "label",
    ),
    (
        {"openid": "oCitizen1", "type": "voice"},
        {"openid": "oCitizen1", "type": "subscribe"},
        "type 须为 text、location、click 或 subscribe。",
        "type",
    ),
]


@pytest.mark.parametrize(
    ("refused", "accepted", "message", "field"),
    REFUSED_AND_ACCEPTED,
    ids=[f"{case[3]}{n}" for n, case in enumerate(REFUSED_AND_ACCEPTED)],
)
async def test_refused_pushes_say_why(
    client: TestClient[Any, Any],
    refused: dict[str, Any],
    accepted: dict[str, Any],
    message: str,
    field: str,
) -> None:
    resp = await client.post("/simulator/api/push", json=refused)
    assert (resp.status, await resp.json()) == (400, _invalid(message, field))
    resp = await client.post("/simulator/api/push", json=accepted)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["reply"]  # the bot answered each of them


async def test_bad_bodies_and_photos_are_refused(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/simulator/api/push", data=b"not json")
    assert (resp.status, await resp.json()) == (400, _invalid("请求体须为 JSON。"))
    resp = await client.post("/simulator/api/push", json=["text"])
    assert (resp.status, await resp.json()) == (400, _invalid("请求体须为 JSON 对象。"))

    resp = await client.post("/simulator/api/photo?openid=oCitizen1", data=b"")
    assert (resp.status, await resp.json()) == (400, _invalid("请选择一张照片。", "photo"))
    resp = await client.post("/simulator/api/photo?openid=bad", data=jpeg())
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "openid"
    too_large = b"\xff" * (10 * 1024 * 1024 + 1)
    for body in (io.BytesIO(too_large), _chunks(too_large)):  # with, without Content-Length
        resp = await client.post("/simulator/api/photo?openid=oCitizen1", data=body)
        assert resp.status == 413
        assert await resp.json() == {
            "error": {
                "code": "photo_too_large",
                "message": "照片太大了,请选择 10MB 以内的照片。",
                "field": "",
            }
        }
    resp = await client.post("/simulator/api/photo?openid=oCitizen1", data=_chunks(jpeg()))
    assert resp.status == 200  # a chunked photo within the limit goes through

    for path in ("/simulator/api/inbox", "/simulator/api/cases"):
        resp = await client.get(path, params={"openid": "x"})
        assert resp.status == 400 and (await resp.json())["error"]["field"] == "openid"
        resp = await client.get(path, params={"openid": "oNobody"})
        assert resp.status == 200


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1024 * 1024):
        yield data[start : start + 1024 * 1024]


# --- in a browser -------------------------------------------------------------------------


async def test_a_citizen_files_in_the_browser_and_sees_the_staff_reply_arrive(
    demo: TestServer, browser: Browser, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    photo = tmp_path / "超市小票.jpg"
    photo.write_bytes(jpeg())
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(str(demo.make_url("/simulator/")))
    await page.fill("#openid", "oBrowserCitizen")
    replies = page.locator("#chat .msg.reply")

    async def answered(act: Callable[[], Awaitable[None]], expected: str) -> str:
        """Do something as the citizen; the bot's next reply contains `expected`."""
        count = await replies.count()
        await act()
        await expect(replies).to_have_count(count + 1)
        await expect(replies.nth(count)).to_contain_text(expected)
        return await replies.nth(count).inner_text()

    async def say(text: str, expected: str) -> str:
        async def type_it() -> None:
            await page.fill("#text", text)
            await page.press("#text", "Enter")

        return await answered(type_it, expected)

    await answered(page.get_by_role("button", name="我要投诉").click, "哪一类")
    await say("1", "对象")
    await say("城东便民超市", "什么时候")
    await say("昨天 下午3点", "在哪里")

    async def send_location() -> None:
        await page.get_by_text("位置", exact=True).click()
        await page.get_by_role("button", name="发送位置").click()

    await answered(send_location, "事情经过")
    await say("买到的牛奶已经过期了,店员拒绝退货。", "怎样处理")
    await say("退货并赔偿", "照片")
    await answered(lambda: page.set_input_files("#photo", photo), "已收到第 1 张")
    await expect(page.locator("#chat .msg.me").last).to_have_text("[照片] 超市小票.jpg")
    await say("完成", "手机号")
    await say("13800000000", "请核对")
    done = await say("确认", "已提交")
    match = NUMBER.search(done)
    assert match, done
    number = match.group(1)

    # The case is on the page at once, before any staff action.
    case_card = page.locator("#cases .case").filter(has_text=number)
    await expect(case_card.locator(".status")).to_have_text("待受理")

    await staff_reply(demo, number)

    notices = page.locator("#notices .notice")
    replied = notices.filter(has_text="demo-case-replied")
    await expect(replied).to_contain_text(number, timeout=10_000)
    await expect(replied).to_contain_text(REPLY_NOTE)
    await expect(notices.filter(has_text="demo-case-accepted")).to_contain_text(number)
    await expect(case_card.locator(".status")).to_have_text("已答复")
    await expect(case_card.locator(".event-label")).to_have_text(
        ["提交", "受理", "交办", "开始办理", "答复"]
    )
    await expect(case_card.locator(".event-note")).to_have_text([REPLY_NOTE])
    await expect(page.locator("#cases")).not_to_contain_text(INTERNAL_NOTE)
    await expect(page.locator("#chat .msg.error")).to_have_count(0)
    assert errors == []


# A phone and a desk screen: the page is tried at both, screenshots saved when a test fails.
VIEWPORTS = [
    pytest.param({"width": 390, "height": 844}, id="phone-390x844"),
    pytest.param({"width": 1280, "height": 800}, id="desktop-1280x800"),
]
MIN_PANEL_PX = 300


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_page_fits_a_phone_and_a_desktop_and_works_by_keyboard(
    demo: TestServer, screenshots: Browser, viewport: dict[str, int], tmp_path: Path
) -> None:
    from playwright.async_api import expect

    context = await screenshots.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    # Listen before the page loads: the picker is intercepted from the start.
    chooser: asyncio.Future[FileChooser] = asyncio.get_running_loop().create_future()
    page.on("filechooser", lambda fc: chooser.done() or chooser.set_result(fc))
    await page.goto(str(demo.make_url("/simulator/")))
    width = viewport["width"]
    # Nothing wider than the screen: no sideways scrolling, 发送 not cut off.
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    send = page.get_by_role("button", name="发送", exact=True)
    await expect(send).to_be_visible()
    box = await send.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    # The side panels are readable columns, not slivers.
    for name in ("收到的通知", "案件进度"):
        panel = await page.get_by_role("region", name=name).bounding_box()
        assert panel is not None and panel["width"] >= MIN_PANEL_PX, (name, panel)
        assert panel["x"] + panel["width"] <= width

    # The chat box has a label; the photo picker is reached with Tab and opened with Enter.
    chat_box = page.get_by_label("消息", exact=True)
    await expect(chat_box).to_have_attribute("id", "text")
    await chat_box.focus()
    for _ in range(5):
        if await page.evaluate("document.activeElement.id") == "photo":
            break
        await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "photo"
    photo = tmp_path / "门店照片.jpg"
    photo.write_bytes(jpeg())
    await page.keyboard.press("Enter")
    await (await asyncio.wait_for(chooser, 10)).set_files(photo)
    await expect(page.locator("#chat .msg.me").last).to_have_text("[照片] 门店照片.jpg")
    await expect(page.locator("#chat .msg.reply, #chat .msg.error")).to_have_count(1)
    await expect(page.locator("#chat .msg.error")).to_have_count(0)


# --- the mini-program's side: wx.login codes and subscribe consent ---------------------------


async def test_a_login_code_signs_in_to_the_mini_program_api_once(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.post("/simulator/api/mp/login-code", json={"openid": "oMiniDev"})
    assert resp.status == 200
    code = (await resp.json())["code"]
    assert (await resp.json())["expires_in"] == 300
    resp = await client.post("/api/mp/v1/auth/login", json={"code": code})
    assert resp.status == 200, await resp.text()
    token = (await resp.json())["token"]
    resp = await client.get("/api/mp/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status, (await resp.json())["total"]) == (200, 0)
    # As WeChat's: a code is good for one sign-in.
    resp = await client.post("/api/mp/v1/auth/login", json={"code": code})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_code"
    resp = await client.post("/simulator/api/mp/login-code", json={"openid": "mini"})
    assert (resp.status, await resp.json()) == (400, _invalid(OPENID_RULE, "openid"))


async def test_subscribe_consent_is_recorded_by_the_fake_as_wechat_does(
    client: TestClient[Any, Any], demo: TestServer
) -> None:
    assert demo.app is not None
    fake, appid = demo.app[DEMO_WECHAT], "wxdemo0000000000mp"
    body = {"openid": "oMiniDev", "template_ids": ["demo-mp-progress", "demo-mp-result"]}
    resp = await client.post("/simulator/api/mp/subscribe", json=body)
    assert resp.status == 200
    assert await resp.json() == {
        "results": {
            "demo-mp-progress": "accept",
            "demo-mp-result": "accept",
            "errMsg": "requestSubscribeMessage:ok",
        }
    }
    assert fake.consents[(appid, "oMiniDev", "demo-mp-progress")] == 1
    assert fake.consents[(appid, "oMiniDev", "demo-mp-result")] == 1
    refused = {**body, "template_ids": ["demo-case-accepted"]}  # an official-account template
    resp = await client.post("/simulator/api/mp/subscribe", json=refused)
    assert (resp.status, await resp.json()) == (
        400,
        _invalid("小程序没有这个订阅模板:demo-case-accepted。", "template_ids"),
    )
    resp = await client.post("/simulator/api/mp/subscribe", json={**body, "template_ids": []})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "template_ids"
    assert fake.consents[(appid, "oMiniDev", "demo-mp-progress")] == 1


# --- the README's walkthrough, run as written -----------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"
README_MARKER = "<!-- tests/test_simulator_page.py runs this block against a demo app -->"


def readme_walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    block = text.split(README_MARKER, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return block


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_readme_mini_program_walkthrough_runs_against_the_demo(
    demo: TestServer, tmp_path: Path
) -> None:
    from complaint_desk.cli import _seed_demo

    assert demo.app is not None
    await _seed_demo(demo.app[SETTINGS])  # the demo's staff accounts, as `complaint-desk demo`
    (tmp_path / "photo.jpg").write_bytes(jpeg())
    script = readme_walkthrough().replace(
        "http://127.0.0.1:8080", str(demo.make_url("")).rstrip("/")
    )
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        script,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    output = out.decode()
    assert proc.returncode == 0, (output, err.decode())
    lines = output.splitlines()
    assert '"remaining"' in lines[0] and '"demo-mp-progress":1' in lines[0].replace(" ", "")
    number = NUMBER_FILED.search(output)
    assert number, output
    statuses = [line for line in lines if line.startswith('{"status"')]
    assert statuses == [
        f'{{"status":"{s}","error":null}}'
        for s in ("accepted", "assigned", "in_progress", "replied", "closed")
    ]
    assert REPLY_NOTE in output and "已办结" in output
    # Subscribe messages reached the mini-program user: 受理 and 答复 (one 允许 each).
    assert '"phrase2":"已受理"' in output and number.group(1) in output
    rating = json.loads(lines[-1])
    assert (rating["number"], rating["overall"]) == (number.group(1), "satisfied")
    case = await Case.get(number=number.group(1))
    assert case.channel == "mini_program" and case.status == Status.CLOSED
    assert await EvidenceFile.filter(case_id=case.id).count() == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_fast_forward_sends_the_survey_and_the_mini_program_panel_signs_in(
    demo: TestServer, screenshots: Browser, viewport: dict[str, int]
) -> None:
    """The sample citizen's complaint closed by staff; 快进 brings the survey, answered in the
    chat; then the 小程序 panel signs in and grants notice consent."""
    from playwright.async_api import expect

    from cases.store.models import Rating, StaffUser
    from cases.workflow.engine import Actor
    from complaint_desk.cli import _seed_demo

    assert demo.app is not None
    await _seed_demo(demo.app[SETTINGS])
    sample = await Case.get(citizen__oa_openid="oDemoSeedCitizen01")
    context = await screenshots.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(str(demo.make_url("/simulator/")))
    case_card = page.locator("#cases .case").filter(has_text=sample.number)
    await expect(case_card.locator(".status")).to_have_text("待受理")

    # Nothing waits yet: 快进 says what to do first.
    fast_forward = page.get_by_role("button", name="快进:发出评价邀请")
    await fast_forward.click()
    await expect(page.locator("#fast-forward-result")).to_contain_text("没有等待发出的评价邀请")

    await staff_reply(demo, sample.number)
    intake = Actor.of_staff(await StaffUser.get(username="intake"))
    await perform(demo.app[RULES], sample.id, "close", intake, data={"finding": "mediated"})
    await expect(case_card.locator(".status")).to_have_text("已办结", timeout=10_000)
    survey = page.locator("#notices .notice").filter(has_text="demo-case-survey")
    await page.wait_for_timeout(300)  # a worker round: the invitation is not due yet
    await expect(survey).to_have_count(0)
    await fast_forward.click()
    await expect(page.locator("#fast-forward-result")).to_contain_text("已快进:1 份评价邀请")
    await expect(survey).to_contain_text(sample.number, timeout=10_000)
    await expect(survey).to_contain_text("回复1满意")

    replies = page.locator("#chat .msg.reply")
    await page.get_by_label("消息", exact=True).fill("1")
    await page.keyboard.press("Enter")
    await expect(replies.last).to_contain_text(f"感谢您的评价(编号{sample.number}")
    assert await Rating.filter(case_id=sample.id).count() == 1

    # The mini-program panel: wx.login + sign-in, then 允许 for the notice templates.
    output = page.locator("#mp-output")
    await page.get_by_role("button", name="登录小程序").click()
    await expect(output).to_contain_text("已登录小程序(oDemoSeedCitizen01)")
    await expect(output).to_contain_text("TOKEN=")
    await page.get_by_role("button", name="允许订阅通知").click()
    await expect(output).to_contain_text("demo-mp-progress:还可收 1 条")
    await expect(output).to_contain_text("demo-mp-result:还可收 1 条")
    assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


# --- issue 15 item 14: demo only, its own page only ----------------------------------------


async def test_the_page_refuses_cross_site_requests_and_sends_a_csp(
    client: TestClient[Any, Any],
) -> None:
    openid = "oCrossSiteVictim"
    said = {"openid": openid, "type": "text", "content": "帮助"}
    own = {"Origin": str(client.make_url("")).rstrip("/"), "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/simulator/api/push", json=said, headers=own)).status == 200
    cases = await client.get(f"/simulator/api/cases?openid={openid}", headers=own)
    assert cases.status == 200

    forged = json.dumps(said)
    for headers in (
        {"Content-Type": "text/plain", "Origin": "https://evil.example"},
        {"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"},
        {"Content-Type": "text/plain"},  # an old browser: no Origin, no Fetch Metadata
        {"Content-Type": "application/json", "Origin": "https://evil.example"},
    ):
        resp = await client.post("/simulator/api/push", data=forged, headers=headers)
        assert resp.status == 403, headers
        assert (await resp.json())["error"]["code"] == "cross_site"
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        resp = await client.get(f"/simulator/api/cases?openid={openid}", headers=headers)
        assert resp.status == 403 and openid not in await resp.text()

    page = await client.get("/simulator/", headers={"Sec-Fetch-Site": "cross-site"})
    assert page.status == 200  # a link from elsewhere still opens the page
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"


def test_the_page_is_never_mounted_against_wechats_real_api(
    database_url: str, tmp_path: Path
) -> None:
    for real in ("https://api.weixin.qq.com", "https://sh.api.weixin.qq.com"):
        settings = demo_settings(database_url, tmp_path / "data", 8080)
        settings = replace(settings, wechat=replace(settings.wechat, api_base=real))
        with pytest.raises(ConfigError, match="wechat.api_base"):
            create_app(settings)
