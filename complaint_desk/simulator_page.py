"""Demo mode's browser page at /simulator/: chat with the bot as a citizen, see what arrives.

The page plays WeChat's part for one citizen (openid chosen on the page): what they type, the
photos they pick, a location or a menu click become pushes signed with the official account's
token and posted to our own webhook, exactly as WeChat would deliver them. Beside the chat it
shows the messages the built-in WeChat simulator received for that citizen (template,
subscribe and customer-service messages) and the citizen's cases with their public timeline.

Demo only, never mounted in production: it signs pushes with the account's token and lists
any citizen's cases by openid. It refuses to mount when `[wechat] api_base` is WeChat's real
API, sends a strict Content-Security-Policy, and answers only its own page: a cross-site
request (Sec-Fetch-Site, Origin) or a post a form could send (text/plain, urlencoded,
multipart) is 403, so another site can neither push as a citizen nor read their cases.

快进 (`api/fast-forward`) lets the demo's time pass for the one thing a newcomer waits on:
the satisfaction survey's invitation, due the next working day at 10:00, is sent now.

For mini-program developers it also plays the WeChat client's part: `api/mp/login-code` is
wx.login (a code the simulator's jscode2session accepts once, within 5 minutes) and
`api/mp/subscribe` is the user tapping 允许 in wx.requestSubscribeMessage (WeChat records
the consent; the answer is what the mini-program then reports to our API).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import xmltodict
from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape
from wechatpy.crypto import WeChatCrypto

from cases.store.evidence import MAX_PHOTO_BYTES
from cases.store.models import Case, Citizen
from cases.views.tracking import public_timeline, recent_cases
from cases.workflow.states import STATUS_LABELS
from cases.workflow.surveys import invite_now
from complaint_desk.keys import DEMO_WECHAT, NOTICE_TEMPLATES, RULES, SETTINGS
from config.settings import CONFIG_DIR, ConfigError, WeChatAppSettings
from wechat.simulator import (
    LOGIN_CODE_TTL_SECONDS,
    FakeWeChat,
    PushSigner,
    create_fake_wechat_app,
    event_xml,
    image_xml,
    location_xml,
    text_xml,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SIMULATOR_PAGE_PATH = "/simulator/"
# WeChat's API (api.weixin.qq.com and its regional hosts sh./sz./hk.api.weixin.qq.com).
WECHAT_API_DOMAIN = "weixin.qq.com"
WEBHOOK_PATH = "/wechat/oa"
MENU_FILE = CONFIG_DIR / "menu.toml"
# The official account's gh_ id as WeChat puts it in ToUserName (the bot only echoes it).
ACCOUNT = "gh_demo"
# The page opens on the citizen of the demo's sample complaint (`complaint-desk demo` seeds
# it), so the notices staff trigger on that case show up without changing anything.
DEMO_CITIZEN_OPENID = "oDemoSeedCitizen01"
# WeChat's openids start with "o"; the simulator refuses to message any other.
OPENID_PATTERN = re.compile(r"o[A-Za-z0-9_-]{1,63}")
MAX_TEXT_CHARS = 2000
MAX_LABEL_CHARS = 100
MAX_CASES_SHOWN = 10
WEBHOOK_TIMEOUT_SECONDS = 10.0
# wx.requestSubscribeMessage takes at most this many template ids per call.
MAX_SUBSCRIBE_TEMPLATES = 5
STATIC_FILES = {"simulator.js": "application/javascript", "simulator.css": "text/css"}

# The page's own script and stylesheet and nothing else; no framing, no forms elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
# Content types a page on another site can post without a CORS preflight.
FORM_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
# Routes any site may link to (the page itself and its assets); everything else is the page's.
OPEN_ROUTES = frozenset({"page", "static"})

PAGE_ENV = web.AppKey("simulator_page_env", Environment)
SESSION = web.AppKey("simulator_session", aiohttp.ClientSession)
MENU = web.AppKey("simulator_menu", list)


def mount_demo_wechat(app: web.Application, path: str) -> None:
    """Demo mode's own WeChat: a fake API at `path` that the bot's outbound calls go to, with
    the profile's notice templates registered, and the citizen's page beside it."""
    wechat = app[SETTINGS].wechat
    fake = FakeWeChat(
        apps={wechat.oa.appid: str(wechat.oa.secret), wechat.mp.appid: str(wechat.mp.secret)}
    )
    for spec in app[NOTICE_TEMPLATES].oa.values():
        fake.add_template(wechat.oa.appid, spec.template_id)
    for spec in app[NOTICE_TEMPLATES].mp.values():
        fake.add_template(wechat.mp.appid, spec.template_id)
    app[DEMO_WECHAT] = fake
    app.add_subapp(path, create_fake_wechat_app(fake))
    add_simulator_page(app)  # the citizen's side of the demo, in a browser


def add_simulator_page(app: web.Application) -> None:
    """Mount the page on a demo app (it needs `DEMO_WECHAT`, set by `create_app`); refused
    when the app talks to WeChat's real API, i.e. when this is no demo."""
    api_host = urlsplit(app[SETTINGS].wechat.api_base).hostname or ""
    if api_host == WECHAT_API_DOMAIN or api_host.endswith("." + WECHAT_API_DOMAIN):
        raise ConfigError(
            "wechat.api_base", "the demo simulator page is never mounted against WeChat's API"
        )
    # Before the sub-app: both are indexed under /simulator and the first registered wins.
    app.router.add_get(SIMULATOR_PAGE_PATH.rstrip("/"), _to_page)
    app.add_subapp(SIMULATOR_PAGE_PATH, create_simulator_page_app())


def create_simulator_page_app() -> web.Application:
    app = web.Application(middlewares=[_own_page_only])
    app.on_response_prepare.append(_security_headers)
    app[PAGE_ENV] = Environment(
        loader=PackageLoader("templates", "simulator"), autoescape=select_autoescape(["html"])
    )
    with MENU_FILE.open("rb") as f:
        app[MENU] = list(tomllib.load(f).get("button", []))
    app.cleanup_ctx.append(_client_session)
    app.router.add_get("/", page, name="page")
    app.router.add_get("/static/{name}", static_file, name="static")
    app.router.add_post("/api/push", push, name="push")
    app.router.add_post("/api/photo", photo, name="photo")
    app.router.add_get("/api/inbox", inbox, name="inbox")
    app.router.add_get("/api/cases", cases, name="cases")
    app.router.add_post("/api/fast-forward", fast_forward, name="fast_forward")
    app.router.add_post("/api/mp/login-code", mp_login_code, name="mp_login_code")
    app.router.add_post("/api/mp/subscribe", mp_subscribe, name="mp_subscribe")
    return app


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[SESSION] = session
        yield


@web.middleware
async def _own_page_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.route.name not in OPEN_ROUTES and not _from_own_page(request):
        return _error(403, "cross_site", "模拟器只接受它自己页面发出的请求。")
    return await handler(request)


def _from_own_page(request: web.Request) -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return False
    # Browsers without Fetch Metadata or Origin still cannot post these cross-site unseen.
    return request.method in {"GET", "HEAD"} or request.content_type not in FORM_TYPES


async def _security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")


async def _to_page(_request: web.Request) -> web.Response:
    raise web.HTTPFound(SIMULATOR_PAGE_PATH)


def _error(status: int, code: str, message: str, field: str = "") -> web.Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


class _BadInput(Exception):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def _openid(value: object) -> str:
    if not isinstance(value, str) or not OPENID_PATTERN.fullmatch(value):
        raise _BadInput("openid 须以 o 开头,只含字母、数字、- 和 _。", "openid")
    return value


def _click_keys(menu: list[dict[str, Any]]) -> set[str]:
    buttons = [b for top in menu for b in (top, *top.get("sub_button", []))]
    return {b["key"] for b in buttons if b.get("type") == "click"}


async def page(request: web.Request) -> web.Response:
    html = (
        request.app[PAGE_ENV]
        .get_template("page.html")
        .render(menu=request.app[MENU], openid=DEMO_CITIZEN_OPENID)
    )
    return web.Response(text=html, content_type="text/html")


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    body = (resources.files("templates") / "simulator" / name).read_bytes()
    return web.Response(body=body, content_type=STATIC_FILES[name], charset="utf-8")


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise _BadInput("请求体须为 JSON。", "") from None
    if not isinstance(data, dict):
        raise _BadInput("请求体须为 JSON 对象。", "")
    return data


async def fast_forward(request: web.Request) -> web.Response:
    """Send every waiting survey invitation now, as if its working day had come."""
    # The page only exists in demo mode; moving time is refused anywhere else all the same.
    if not request.config_dict[SETTINGS].demo:
        raise web.HTTPNotFound()
    moved = await invite_now()
    return web.json_response({"invitations": moved})


async def mp_login_code(request: web.Request) -> web.Response:
    """wx.login for the mini-program user `openid`: a code for POST /api/mp/v1/auth/login."""
    try:
        openid = _openid((await _json_object(request)).get("openid"))
    except _BadInput as exc:
        return _error(400, "invalid", exc.message, exc.field)
    appid = request.config_dict[SETTINGS].wechat.mp.appid
    code = request.config_dict[DEMO_WECHAT].login_code(appid, openid)
    return web.json_response({"code": code, "expires_in": LOGIN_CODE_TTL_SECONDS})


async def mp_subscribe(request: web.Request) -> web.Response:
    """The user taps 允许 for these templates in wx.requestSubscribeMessage: WeChat records
    one consent per template and answers the mini-program with the results."""
    try:
        data = await _json_object(request)
        openid = _openid(data.get("openid"))
        ids = data.get("template_ids")
        if (
            not isinstance(ids, list)
            or not 0 < len(ids) <= MAX_SUBSCRIBE_TEMPLATES
            or not all(isinstance(i, str) for i in ids)
        ):
            raise _BadInput(
                f"template_ids 须为 1–{MAX_SUBSCRIBE_TEMPLATES} 个模板 ID。", "template_ids"
            )
        fake = request.config_dict[DEMO_WECHAT]
        appid = request.config_dict[SETTINGS].wechat.mp.appid
        unknown = [i for i in ids if i not in fake.templates[appid]]
        if unknown:
            raise _BadInput(f"小程序没有这个订阅模板:{unknown[0]}。", "template_ids")
    except _BadInput as exc:
        return _error(400, "invalid", exc.message, exc.field)
    results: dict[str, str] = {}
    for template_id in dict.fromkeys(ids):  # WeChat shows a template once per request
        fake.grant_consent(appid, openid, template_id)
        results[template_id] = "accept"
    return web.json_response(
        {"results": {**results, "errMsg": "requestSubscribeMessage:ok"}}, dumps=_dumps
    )


async def push(request: web.Request) -> web.Response:
    """A text, location, menu click or follow from the citizen; answers the bot's reply."""
    try:
        data = await request.json()
    except ValueError:
        return _error(400, "invalid", "请求体须为 JSON。")
    if not isinstance(data, dict):
        return _error(400, "invalid", "请求体须为 JSON 对象。")
    try:
        xml = _push_xml(data, request.app[MENU])
    except _BadInput as exc:
        return _error(400, "invalid", exc.message, exc.field)
    return await _deliver(request, xml)


def _push_xml(data: dict[str, Any], menu: list[dict[str, Any]]) -> str:
    openid, kind = _openid(data.get("openid")), data.get("type")
    if kind == "text":
        content = data.get("content")
        if not isinstance(content, str) or not content.strip():
            raise _BadInput("请输入内容。", "content")
        if len(content) > MAX_TEXT_CHARS:
            raise _BadInput(f"最多 {MAX_TEXT_CHARS} 个字。", "content")
        return text_xml(openid, ACCOUNT, content)
    if kind == "location":
        lat = _coordinate(data.get("latitude"), 90, "latitude")
        lng = _coordinate(data.get("longitude"), 180, "longitude")
        label = data.get("label", "")
        if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS:
            raise _BadInput(f"地点名称最多 {MAX_LABEL_CHARS} 个字。", "label")
        return location_xml(openid, ACCOUNT, lat, lng, label)
    if kind == "click":
        key = data.get("key")
        if key not in _click_keys(menu):
            raise _BadInput("菜单里没有这一项。", "key")
        return event_xml(openid, ACCOUNT, "CLICK", str(key))
    if kind == "subscribe":
        return event_xml(openid, ACCOUNT, "subscribe")
    raise _BadInput("type 须为 text、location、click 或 subscribe。", "type")


def _coordinate(value: object, bound: float, field: str) -> float:
    # JSON true is an int to Python: refuse it along with strings and out-of-range numbers.
    if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > bound:
        raise _BadInput("经纬度不正确。", field)
    return float(value)


async def photo(request: web.Request) -> web.Response:
    """The photo's bytes as the body (?openid=…): stored as WeChat media, then pushed."""
    try:
        openid = _openid(request.query.get("openid"))
    except _BadInput as exc:
        return _error(400, "invalid", exc.message, exc.field)
    if request.content_length is not None and request.content_length > MAX_PHOTO_BYTES:
        return _error(413, "photo_too_large", "照片太大了,请选择 10MB 以内的照片。")
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_PHOTO_BYTES:  # a chunked upload has no Content-Length
            return _error(413, "photo_too_large", "照片太大了,请选择 10MB 以内的照片。")
    if not body:
        return _error(400, "invalid", "请选择一张照片。", "photo")
    # WeChat declares what it likes; the bot sniffs the bytes itself, so no check here.
    media_id = request.config_dict[DEMO_WECHAT].add_media(bytes(body), "image/jpeg")
    return await _deliver(request, image_xml(openid, ACCOUNT, media_id))


async def _deliver(request: web.Request, xml: str) -> web.Response:
    """Sign `xml` as WeChat does and post it to this very server's webhook."""
    oa = request.config_dict[SETTINGS].wechat.oa
    params, body = PushSigner(str(oa.token), oa.appid, str(oa.aes_key)).sign(xml)
    try:
        async with request.app[SESSION].post(
            _own_webhook(request), params=params, data=body.encode()
        ) as resp:
            status, answer = resp.status, await resp.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _error(502, "bot_unreachable", f"公众号没有应答({exc.__class__.__name__})。")
    if status != 200:
        return _error(502, "bot_error", f"公众号返回 HTTP {status}:{answer[:200]}")
    return web.json_response({"reply": _reply_text(answer, params, oa)}, dumps=_dumps)


def _own_webhook(request: web.Request) -> str:
    # The socket we were reached on, not the Host header: nothing the browser sends decides
    # where the signed push goes.
    assert request.transport is not None
    host, port = request.transport.get_extra_info("sockname")[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{WEBHOOK_PATH}"


def _reply_text(answer: str, params: dict[str, str], oa: WeChatAppSettings) -> str:
    """The text of the bot's passive reply ("" for WeChat's "success": no reply)."""
    if answer == "success" or not answer:
        return ""
    if params.get("encrypt_type") == "aes":
        crypto = WeChatCrypto(str(oa.token), str(oa.aes_key), oa.appid)
        sealed = xmltodict.parse(answer, disable_entities=True)["xml"]
        answer = crypto.decrypt_message(
            answer, sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"]
        )
    return str(xmltodict.parse(answer, disable_entities=True)["xml"].get("Content") or "")


async def inbox(request: web.Request) -> web.Response:
    """What WeChat would have shown this citizen outside the chat replies, oldest first."""
    try:
        openid = _openid(request.query.get("openid"))
    except _BadInput as exc:
        return _error(400, "invalid", exc.message, exc.field)
    fake = request.config_dict[DEMO_WECHAT]
    notices: list[dict[str, Any]] = [
        {"type": "template", "msgid": m.msgid, "template_id": m.template_id, "data": m.data}
        for m in fake.template_messages
        if m.openid == openid
    ]
    notices += [
        {"type": "subscribe", "msgid": m.msgid, "template_id": m.template_id, "data": m.data}
        for m in fake.subscribe_messages
        if m.openid == openid
    ]
    notices.sort(key=lambda n: n["msgid"])  # one counter numbers both kinds
    texts = [
        str(payload.get("text", {}).get("content", ""))
        for _appid, payload in fake.sent_messages
        if payload.get("touser") == openid and payload.get("msgtype") == "text"
    ]
    return web.json_response({"notices": notices, "texts": texts}, dumps=_dumps)


async def cases(request: web.Request) -> web.Response:
    """The citizen's recent cases and what they may see of each timeline (no internal notes)."""
    try:
        openid = _openid(request.query.get("openid"))
    except _BadInput as exc:
        return _error(400, "invalid", exc.message, exc.field)
    rules = request.config_dict[RULES]
    # The page plays both apps with one openid: the chat's citizen and the mini-program's.
    found: list[Case] = []
    for field in ("oa_openid", "mp_openid"):
        citizen = await Citizen.filter(**{field: openid}).first()
        if citizen is not None and all(c.citizen_id != citizen.id for c in found):
            found += await recent_cases(citizen, MAX_CASES_SHOWN)
    found = sorted(found, key=lambda c: c.created_at, reverse=True)[:MAX_CASES_SHOWN]
    shown = []
    for case in found:
        kind = rules.catalog.kinds.get(case.kind)
        shown.append(
            {
                "number": case.number,
                "kind": kind.name if kind else case.kind,
                "status": STATUS_LABELS[case.status],
                "events": [
                    {
                        "at": e.at.strftime("%m-%d %H:%M"),
                        "action": e.action,
                        "label": e.label,
                        "note": e.note,
                    }
                    for e in await public_timeline(rules, case)
                ],
            }
        )
    return web.json_response({"cases": shown}, dumps=_dumps)
