"""A local stand-in for WeChat, for tests and demo mode.

`FakeWeChat` + `create_fake_wechat_app` serve the API endpoints our client calls, with
WeChat's error codes and messages, token rules and media expiry, and with faults a test can
inject (delays, errcodes, HTTP statuses). `PushSigner` and the `*_xml` helpers build the
pushes WeChat sends to our webhook, signed (and encrypted in safe mode) as WeChat does.
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import itertools
import json
import math
import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from typing import Any

from aiohttp import web
from wechatpy.crypto import WeChatCrypto

TOKEN_TTL_SECONDS = 7200
# stable_token in normal mode hands out a new token when the current one has less left.
TOKEN_ROTATE_SECONDS = 300
MEDIA_TTL_SECONDS = 3 * 24 * 3600
# media/upload (temporary material): bytes and file kinds per type, as WeChat documents them.
UPLOAD_LIMITS: dict[str, tuple[int, tuple[str, ...]]] = {
    "image": (10 * 1024 * 1024, ("image/jpeg", "image/png", "image/gif")),
    "voice": (2 * 1024 * 1024, ("audio/amr", "audio/mpeg")),
    "video": (10 * 1024 * 1024, ("video/mp4",)),
    "thumb": (64 * 1024, ("image/jpeg",)),
}
LOGIN_CODE_TTL_SECONDS = 300
MSG_SEC_CHECK_MAX_CHARS = 2500
# Content-security labels of v2 verdicts (100 = normal).
LABEL_NORMAL = 100
LABEL_ABUSE = 20003
# Template messages since 2023-05-04: each field at most 20 characters, on one line.
TEMPLATE_FIELD_MAX_CHARS = 20
# The same openid + client_msg_id sends one template message within this time.
CLIENT_MSG_ID_TTL_SECONDS = 600

# WeChat's own messages for the codes the fake answers with.
ERRMSGS: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid meida size",
    40007: "invalid media_id",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41005: "media data missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    45015: "response out of time limit or subscription is canceled",
    46003: "menu no exist",
    47001: "data format error",
    47003: "argument invalid!",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ManualClock:
    """A clock that moves only when told to; pass it as `clock=` to jump time in tests."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        self.now += seconds


@dataclass
class _Token:
    appid: str
    kind: str  # "stable" or "classic": WeChat keeps the two apart
    expires_at: float
    revoked: bool = False


@dataclass
class _Media:
    content: bytes
    content_type: str
    uploaded_at: float
    chunked: bool


@dataclass(frozen=True)
class TemplateMessage:
    """A template message the fake accepted (and would have shown the citizen)."""

    appid: str
    openid: str
    template_id: str
    data: dict[str, str]
    msgid: int
    client_msg_id: str
    url: str


@dataclass(frozen=True)
class SubscribeMessage:
    """A mini-program subscribe message the fake accepted."""

    appid: str
    openid: str
    template_id: str
    data: dict[str, str]
    page: str
    msgid: int


@dataclass
class _LoginCode:
    appid: str
    openid: str
    unionid: str
    issued_at: float
    used: bool = False


@dataclass(frozen=True)
class MediaCheck:
    """An image handed to mediaCheckAsync; the verdict is pushed later (see media_check_xml)."""

    appid: str
    openid: str
    media_url: str
    trace_id: str


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received (the query includes the access token)."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes


class FakeWeChat:
    """The state behind the fake API: apps, tokens, media, sent messages, menus, faults."""

    def __init__(
        self, apps: Mapping[str, str] | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.apps: dict[str, str] = dict(apps or {})
        self.clock = clock
        self.sent_messages: list[tuple[str, dict[str, Any]]] = []
        self.menus: dict[str, dict[str, Any]] = {}
        self.outside_48h: set[str] = set()
        self.delay_seconds: dict[str, float] = {}
        # Act on the request at once but answer this much later (the caller may time out
        # although WeChat did what was asked).
        self.late_answer_seconds: dict[str, float] = {}
        self.errcode_queue: defaultdict[str, deque[int]] = defaultdict(deque)
        self.http_status_queue: defaultdict[str, deque[int]] = defaultdict(deque)
        self.calls: Counter[str] = Counter()
        self.requests: list[RecordedRequest] = []
        self._tokens: dict[str, _Token] = {}
        self._current: dict[tuple[str, str], str] = {}  # (appid, kind) -> token
        self._media: dict[str, _Media] = {}
        self.templates: dict[str, set[str]] = defaultdict(set)  # appid -> template ids
        self.template_messages: list[TemplateMessage] = []
        self.subscribe_messages: list[SubscribeMessage] = []
        self._login_codes: dict[str, _LoginCode] = {}
        # Text containing one of these is "risky" to msgSecCheck; add more in a test.
        self.risky_words: set[str] = {"赌博网站", "fake-risky-text"}
        self.media_checks: list[MediaCheck] = []
        # (appid, openid, template id) -> messages the user allowed (one per "accept").
        self.consents: Counter[tuple[str, str, str]] = Counter()
        self.unfollowed: set[str] = set()
        # path -> (calls, per seconds): more calls in the window get errcode 45009.
        self.rate_limits: dict[str, tuple[int, float]] = {}
        self._rate_windows: defaultdict[str, deque[float]] = defaultdict(deque)
        self._by_client_msg_id: dict[tuple[str, str, str], tuple[int, float]] = {}
        self.msgids = itertools.count(2_000_000_001)

    def register_app(self, appid: str, secret: str) -> None:
        """Accept tokens requests for `appid` with `secret`."""
        self.apps[appid] = secret

    def add_media(self, content: bytes, content_type: str, *, chunked: bool = False) -> str:
        """Store a user-sent media now; its id, valid for 3 days. `chunked` serves it without
        Content-Length, as a proxy may."""
        media_id = secrets.token_urlsafe(48)
        self._media[media_id] = _Media(content, content_type, self.clock(), chunked)
        return media_id

    def add_template(self, appid: str, template_id: str) -> None:
        """Put `template_id` in the official account's template library."""
        self.templates[appid].add(template_id)

    def login_code(self, appid: str, openid: str, unionid: str = "") -> str:
        """What wx.login gives the mini-program: a code for jscode2session, valid 5 minutes."""
        code = secrets.token_urlsafe(24)
        self._login_codes[code] = _LoginCode(appid, openid, unionid, self.clock())
        return code

    def redeem_login_code(self, appid: str, code: str) -> _LoginCode | int:
        """The code's user, or WeChat's errcode (40029 unknown/expired/other app, 40163 used)."""
        login = self._login_codes.get(code)
        if login is None or login.appid != appid:
            return 40029
        if self.clock() - login.issued_at > LOGIN_CODE_TTL_SECONDS:
            return 40029
        if login.used:
            return 40163
        login.used = True
        return login

    def grant_consent(self, appid: str, openid: str, template_id: str, times: int = 1) -> None:
        """The user tapped "accept" for this template `times` times in the mini-program."""
        self.templates[appid].add(template_id)
        self.consents[(appid, openid, template_id)] += times

    def rate_limited(self, path: str) -> bool:
        """Count a call of `path`; True when it exceeds the path's configured rate."""
        limit = self.rate_limits.get(path)
        if limit is None:
            return False
        calls, per_seconds = limit
        window, now = self._rate_windows[path], self.clock()
        while window and window[0] <= now - per_seconds:
            window.popleft()
        if len(window) >= calls:
            return True
        window.append(now)
        return False

    def send_template(
        self,
        appid: str,
        openid: str,
        template_id: str,
        data: dict[str, str],
        client_msg_id: str,
        url: str,
    ) -> int:
        """Accept a template message; the same openid + client_msg_id within 10 minutes
        returns the first message's msgid and shows the citizen nothing new."""
        now = self.clock()
        key = (appid, openid, client_msg_id)
        seen = self._by_client_msg_id.get(key)
        if client_msg_id and seen is not None and now - seen[1] < CLIENT_MSG_ID_TTL_SECONDS:
            return seen[0]
        msgid = next(self.msgids)
        if client_msg_id:
            self._by_client_msg_id[key] = (msgid, now)
        self.template_messages.append(
            TemplateMessage(appid, openid, template_id, data, msgid, client_msg_id, url)
        )
        return msgid

    def fail_next(self, path: str, *errcodes: int) -> None:
        """Answer the next calls of `path` with these errcodes, one per call."""
        self.errcode_queue[path].extend(errcodes)

    def fail_next_http(self, path: str, *statuses: int) -> None:
        """Answer the next calls of `path` with these HTTP statuses, one per call."""
        self.http_status_queue[path].extend(statuses)

    def current_token(self, appid: str, kind: str = "stable") -> str | None:
        """The token the fake would hand out now (None before the first fetch)."""
        return self._current.get((appid, kind))

    def issue_token(self, appid: str, kind: str = "stable") -> str:
        """A new token for `appid`; the previous one of the same kind stops working."""
        previous = self._current.get((appid, kind))
        if previous is not None:
            self._tokens[previous].revoked = True
        token = secrets.token_urlsafe(96)
        self._tokens[token] = _Token(appid, kind, self.clock() + TOKEN_TTL_SECONDS)
        self._current[(appid, kind)] = token
        return token

    def stable_token(self, appid: str, force_refresh: bool) -> tuple[str, int]:
        """(token, expires_in) as stable_token answers: the current one while it has more
        than 300 s left, else a new one (normal mode keeps the old one valid to its end)."""
        current = self._current.get((appid, "stable"))
        if force_refresh or current is None:
            token = self.issue_token(appid)
        else:
            state = self._tokens[current]
            remaining = state.expires_at - self.clock()
            if remaining > TOKEN_ROTATE_SECONDS and not state.revoked:
                return current, math.ceil(remaining)
            token = secrets.token_urlsafe(96)
            self._tokens[token] = _Token(appid, "stable", self.clock() + TOKEN_TTL_SECONDS)
            self._current[(appid, "stable")] = token
        return token, TOKEN_TTL_SECONDS

    def check_token(self, token: str | None) -> tuple[str | None, int]:
        """(appid, 0) for a valid token, else (None, WeChat's errcode)."""
        if not token:
            return None, 41001
        state = self._tokens.get(token)
        if state is None or state.revoked:
            return None, 40001
        if state.expires_at <= self.clock():
            return None, 42001
        return state.appid, 0

    def media(self, media_id: str) -> _Media | None:
        """The media under `media_id` if it has not expired."""
        media = self._media.get(media_id)
        if media is None or self.clock() - media.uploaded_at >= MEDIA_TTL_SECONDS:
            return None
        return media


FAKE_WECHAT = web.AppKey("fake_wechat", FakeWeChat)


def create_fake_wechat_app(fake: FakeWeChat) -> web.Application:
    """The fake `api.weixin.qq.com`: serve it with `aiohttp_server` or on a demo port."""
    app = web.Application(middlewares=[_faults])
    app[FAKE_WECHAT] = fake
    app.router.add_post("/cgi-bin/stable_token", _stable_token)
    app.router.add_get("/cgi-bin/token", _classic_token)
    app.router.add_get("/cgi-bin/media/get", _media_get)
    app.router.add_post("/cgi-bin/media/upload", _media_upload)
    app.router.add_post("/cgi-bin/message/custom/send", _custom_send)
    app.router.add_post("/cgi-bin/menu/create", _menu_create)
    app.router.add_get("/cgi-bin/menu/get", _menu_get)
    app.router.add_post("/cgi-bin/message/template/send", _template_send)
    app.router.add_post("/cgi-bin/message/subscribe/send", _subscribe_send)
    app.router.add_get("/sns/jscode2session", _jscode2session)
    app.router.add_post("/wxa/msg_sec_check", _msg_sec_check)
    app.router.add_post("/wxa/media_check_async", _media_check_async)
    return app


def _error(errcode: int) -> web.Response:
    # Like WeChat: HTTP 200, a JSON body and a request id at the end of the message.
    errmsg = f"{ERRMSGS.get(errcode, 'error')} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"
    return _json({"errcode": errcode, "errmsg": errmsg})


def _json(data: Mapping[str, Any]) -> web.Response:
    return web.Response(
        body=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
    )


_OK = {"errcode": 0, "errmsg": "ok"}


@web.middleware
async def _faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record and count every call, then apply the faults injected for its path."""
    fake = request.app[FAKE_WECHAT]
    path = request.path
    fake.calls[path] += 1
    body = await request.read()
    fake.requests.append(RecordedRequest(request.method, path, dict(request.query), body))
    delay = fake.delay_seconds.get(path, 0.0)
    if delay:
        await asyncio.sleep(delay)
    if fake.http_status_queue[path]:
        return web.Response(status=fake.http_status_queue[path].popleft(), text="fault")
    if fake.errcode_queue[path]:
        return _error(fake.errcode_queue[path].popleft())
    if fake.rate_limited(path):
        return _error(45009)
    response = await handler(request)
    late = fake.late_answer_seconds.get(path, 0.0)
    if late:
        await asyncio.sleep(late)
    return response


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        data = json.loads((await request.read()).decode("utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _credentials_error(fake: FakeWeChat, appid: object, secret: object) -> int:
    if not isinstance(appid, str) or appid not in fake.apps:
        return 40013
    if secret != fake.apps[appid]:
        return 40125
    return 0


async def _stable_token(request: web.Request) -> web.Response:
    fake = request.app[FAKE_WECHAT]
    data = await _json_body(request)
    if data is None:
        return _error(47001)
    if data.get("grant_type") != "client_credential":
        return _error(40002)
    appid = data.get("appid")
    errcode = _credentials_error(fake, appid, data.get("secret"))
    if errcode:
        return _error(errcode)
    assert isinstance(appid, str)
    token, expires_in = fake.stable_token(appid, data.get("force_refresh") is True)
    return _json({"access_token": token, "expires_in": expires_in})


async def _classic_token(request: web.Request) -> web.Response:
    fake = request.app[FAKE_WECHAT]
    if request.query.get("grant_type") != "client_credential":
        return _error(40002)
    appid = request.query.get("appid")
    errcode = _credentials_error(fake, appid, request.query.get("secret"))
    if errcode:
        return _error(errcode)
    assert appid is not None
    return _json({"access_token": fake.issue_token(appid, "classic"), "expires_in": 7200})


async def _media_get(request: web.Request) -> web.StreamResponse:
    fake = request.app[FAKE_WECHAT]
    _appid, errcode = fake.check_token(request.query.get("access_token"))
    if errcode:
        return _error(errcode)
    media_id = request.query.get("media_id", "")
    media = fake.media(media_id)
    if media is None:
        return _error(40007)
    headers = {"Content-Disposition": f'attachment; filename="{media_id[:16]}"'}
    if not media.chunked:
        return web.Response(body=media.content, content_type=media.content_type, headers=headers)
    resp = web.StreamResponse(headers=headers)
    resp.content_type = media.content_type
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for start in range(0, len(media.content), 16 * 1024):
        await resp.write(media.content[start : start + 16 * 1024])
    await resp.write_eof()
    return resp


async def _media_upload(request: web.Request) -> web.Response:
    """Temporary material: multipart field `media`, kind and size checked per `type`; the
    id works with media/get for 3 days."""
    fake = request.app[FAKE_WECHAT]
    _appid, errcode = fake.check_token(request.query.get("access_token"))
    if errcode:
        return _error(errcode)
    kind = request.query.get("type", "")
    if kind not in UPLOAD_LIMITS:
        return _error(40004)
    content = _form_file(request.headers.get("Content-Type", ""), await request.read(), "media")
    if not content:
        return _error(41005)
    most, types = UPLOAD_LIMITS[kind]
    content_type = _sniff(content)
    if content_type not in types:
        return _error(40005)
    if len(content) > most:
        return _error(40006)
    media_id = fake.add_media(content, content_type)
    return _json({"type": kind, "media_id": media_id, "created_at": int(fake.clock())})


def _form_file(content_type: str, body: bytes, name: str) -> bytes:
    """The bytes of the multipart/form-data file field `name` (the body was read already by
    the fault middleware, so it is parsed here); empty when there is none."""
    if not content_type.startswith("multipart/form-data"):
        return b""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts() if message.is_multipart() else ():
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    return b""


def _sniff(content: bytes) -> str:
    """The file kind from its first bytes, as WeChat judges it (not the declared type)."""
    signatures = (
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF8", "image/gif"),
        (b"#!AMR", "audio/amr"),
        (b"ID3", "audio/mpeg"),
        (b"\xff\xfb", "audio/mpeg"),
    )
    for magic, content_type in signatures:
        if content.startswith(magic):
            return content_type
    if content[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"


async def _custom_send(request: web.Request) -> web.Response:
    fake = request.app[FAKE_WECHAT]
    appid, errcode = fake.check_token(request.query.get("access_token"))
    if errcode:
        return _error(errcode)
    assert appid is not None
    payload = await _json_body(request)
    if payload is None or not isinstance(payload.get("msgtype"), str):
        return _error(47001)
    openid = payload.get("touser")
    if not isinstance(openid, str) or not openid.startswith("o"):
        return _error(40003)
    if openid in fake.outside_48h:
        return _error(45015)
    if payload["msgtype"] == "text" and not isinstance(
        (payload.get("text") or {}).get("content"), str
    ):
        return _error(47001)
    fake.sent_messages.append((appid, payload))
    return _json(_OK)


@dataclass(frozen=True)
class _TemplatedMessage:
    """A template or subscribe message request that passed the checks both share."""

    appid: str
    openid: str
    template_id: str
    payload: dict[str, Any]
    values: dict[str, str]  # field key -> value


async def _templated_message(request: web.Request) -> _TemplatedMessage | web.Response:
    """Token, JSON shape, openid, known template and string field values; else the error."""
    fake = request.app[FAKE_WECHAT]
    appid, errcode = fake.check_token(request.query.get("access_token"))
    if errcode:
        return _error(errcode)
    assert appid is not None
    payload = await _json_body(request)
    if payload is None or not isinstance(payload.get("data"), dict):
        return _error(47001)
    openid, template_id = payload.get("touser"), payload.get("template_id")
    if not isinstance(openid, str) or not openid.startswith("o"):
        return _error(40003)
    if template_id not in fake.templates[appid]:
        return _error(40037)
    values: dict[str, str] = {}
    for key, field in payload["data"].items():
        value = field.get("value") if isinstance(field, dict) else None
        if not isinstance(value, str):
            return _error(47001)
        values[key] = value
    return _TemplatedMessage(appid, openid, str(template_id), payload, values)


async def _template_send(request: web.Request) -> web.Response:
    fake = request.app[FAKE_WECHAT]
    msg = await _templated_message(request)
    if isinstance(msg, web.Response):
        return msg
    if msg.openid in fake.unfollowed:
        return _error(43004)
    data: dict[str, str] = {}
    for key, value in msg.values.items():
        if key in ("first", "remark"):
            continue  # retired in 2023: WeChat drops them without a word
        if len(value) > TEMPLATE_FIELD_MAX_CHARS or "\n" in value:
            return _error(47003)
        data[key] = value
    client_msg_id = str(msg.payload.get("client_msg_id") or "")
    url = str(msg.payload.get("url") or "")
    msgid = fake.send_template(msg.appid, msg.openid, msg.template_id, data, client_msg_id, url)
    return _json({**_OK, "msgid": msgid})


# Subscribe-message values by field type (the letters of the key before its number), as
# subscribeMessage.send documents them: "thing" ≤20 characters of any kind, "number" ≤32
# digits (a decimal point allowed), "car_number" ≤8 with only the first and last possibly
# Chinese, "time"/"date" 24-hour times / dates, optionally a "~" range… An empty value or
# one that breaks its type's rule is 47003, as WeChat answers it.
SUBSCRIBE_FIELD_LIMITS = {
    "thing": 20,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phrase": 5,
    "name": 10,
    "phone_number": 17,
    "car_number": 8,
    "amount": 14,  # one currency sign, 10 digits, decimals, 元
}
_HAN = "\u4e00-\u9fff"
_DATE = r"(\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2})"
_CLOCK = r"([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d)?"
_TIME = rf"({_DATE} ?)?{_CLOCK}"
_DAY = rf"{_DATE}( ?{_CLOCK})?"
SUBSCRIBE_FIELD_PATTERNS = {
    "number": re.compile(r"\d+(\.\d+)?"),
    "letter": re.compile(r"[A-Za-z]+"),
    "symbol": re.compile(r"[!-/:-@\[-`{-~]+"),
    "character_string": re.compile(r"[!-~]+"),
    "time": re.compile(rf"{_TIME}( ?~ ?{_TIME})?"),
    "date": re.compile(rf"{_DAY}( ?~ ?{_DAY})?"),
    "amount": re.compile(r"[¥￥$€£]?\d{1,10}(\.\d{1,2})?元?"),
    "phone_number": re.compile(r"[\d+\-() ]+"),
    "car_number": re.compile(rf"[{_HAN}A-Za-z0-9][A-Za-z0-9]*[{_HAN}A-Za-z0-9]?"),
    "phrase": re.compile(rf"[{_HAN}]+"),
}
_CHINESE_NAME = re.compile(rf"[{_HAN}A-Za-z·]+")
_LATIN_NAME = re.compile(r"[A-Za-z .·'-]+")


def _subscribe_field_ok(key: str, value: str) -> bool:
    kind = key.rstrip("0123456789")
    if not value.strip() or "\n" in value:
        return False
    if kind == "name":  # 10 Chinese characters, or 20 letters; mixed counts as Chinese
        if _LATIN_NAME.fullmatch(value):
            return len(value) <= 20
        return len(value) <= SUBSCRIBE_FIELD_LIMITS["name"] and bool(_CHINESE_NAME.fullmatch(value))
    limit = SUBSCRIBE_FIELD_LIMITS.get(kind)
    if limit is not None and len(value) > limit:
        return False
    pattern = SUBSCRIBE_FIELD_PATTERNS.get(kind)
    return pattern is None or pattern.fullmatch(value) is not None


async def _subscribe_send(request: web.Request) -> web.Response:
    fake = request.app[FAKE_WECHAT]
    msg = await _templated_message(request)
    if isinstance(msg, web.Response):
        return msg
    if not all(_subscribe_field_ok(key, value) for key, value in msg.values.items()):
        return _error(47003)
    consent = (msg.appid, msg.openid, msg.template_id)
    if fake.consents[consent] <= 0:
        return _error(43101)
    fake.consents[consent] -= 1
    msgid = next(fake.msgids)
    page = str(msg.payload.get("page") or "")
    fake.subscribe_messages.append(
        SubscribeMessage(msg.appid, msg.openid, msg.template_id, msg.values, page, msgid)
    )
    return _json({**_OK, "msgid": msgid})


async def _jscode2session(request: web.Request) -> web.Response:
    fake = request.app[FAKE_WECHAT]
    q = request.query
    if q.get("grant_type") != "authorization_code":
        return _error(40002)
    appid = q.get("appid")
    errcode = _credentials_error(fake, appid, q.get("secret"))
    if errcode:
        return _error(errcode)
    assert appid is not None
    login = fake.redeem_login_code(appid, q.get("js_code", ""))
    if isinstance(login, int):
        return _error(login)
    answer = {"openid": login.openid, "session_key": secrets.token_urlsafe(16)}
    if login.unionid:
        answer["unionid"] = login.unionid
    return _json(answer)


async def _msg_sec_check(request: web.Request) -> web.Response:
    fake = request.app[FAKE_WECHAT]
    _appid, errcode = fake.check_token(request.query.get("access_token"))
    if errcode:
        return _error(errcode)
    payload = await _json_body(request)
    if payload is None or not _version_2(payload) or not isinstance(payload.get("openid"), str):
        return _error(47001)
    content = payload.get("content")
    if not isinstance(content, str) or len(content) > MSG_SEC_CHECK_MAX_CHARS:
        return _error(47001)
    text = content + str(payload.get("title") or "")
    risky = any(word in text for word in fake.risky_words)
    result = {"suggest": "risky", "label": LABEL_ABUSE} if risky else _PASS
    return _json({**_OK, "result": result, "detail": [], "trace_id": secrets.token_hex(12)})


_PASS = {"suggest": "pass", "label": LABEL_NORMAL}


def _version_2(payload: Mapping[str, Any]) -> bool:
    """The content-security API's `version`: documented as a string, sent as 2 or "2"."""
    version = payload.get("version")
    return (version == 2 and not isinstance(version, bool)) or version == "2"


async def _media_check_async(request: web.Request) -> web.Response:
    fake = request.app[FAKE_WECHAT]
    appid, errcode = fake.check_token(request.query.get("access_token"))
    if errcode:
        return _error(errcode)
    assert appid is not None
    payload = await _json_body(request)
    if payload is None or not _version_2(payload) or payload.get("media_type") not in (1, 2):
        return _error(47001)
    url, openid = payload.get("media_url"), payload.get("openid")
    if not isinstance(url, str) or not url.startswith("https://") or not isinstance(openid, str):
        return _error(47001)
    check = MediaCheck(appid, openid, url, secrets.token_hex(12))
    fake.media_checks.append(check)
    return _json({**_OK, "trace_id": check.trace_id})


async def _menu_create(request: web.Request) -> web.Response:
    fake = request.app[FAKE_WECHAT]
    appid, errcode = fake.check_token(request.query.get("access_token"))
    if errcode:
        return _error(errcode)
    assert appid is not None
    menu = await _json_body(request)
    if menu is None:
        return _error(47001)
    buttons = menu.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return _error(40016)
    fake.menus[appid] = menu
    return _json(_OK)


async def _menu_get(request: web.Request) -> web.Response:
    """The menu as WeChat gives it back: under "menu", every top-level button with its
    `sub_button` list (empty for a button without one); 46003 before any menu exists."""
    fake = request.app[FAKE_WECHAT]
    appid, errcode = fake.check_token(request.query.get("access_token"))
    if errcode:
        return _error(errcode)
    assert appid is not None
    menu = fake.menus.get(appid)
    if menu is None:
        return _error(46003)
    buttons = [
        {**b, "sub_button": b.get("sub_button", [])} if isinstance(b, dict) else b
        for b in menu["button"]
    ]
    return _json({"menu": {"button": buttons}})


# --- pushes to our webhook -------------------------------------------------------------


class PushSigner:
    """Builds a push as WeChat sends it to the webhook of an app with this token (and
    EncodingAESKey for safe mode)."""

    def __init__(self, token: str, appid: str, aes_key: str = "") -> None:
        self.token = token
        self.appid = appid
        self.aes_key = aes_key

    def signature(self, timestamp: str, nonce: str) -> str:
        """WeChat's `signature`: sha1 of token, timestamp and nonce sorted and joined."""
        return hashlib.sha1("".join(sorted([self.token, timestamp, nonce])).encode()).hexdigest()

    def verify_params(
        self, echostr: str, *, timestamp: int | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        """Query of the GET with which WeChat checks the webhook URL (answer: echostr)."""
        ts, nonce = _stamp(timestamp, nonce)
        return {
            "signature": self.signature(ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "echostr": echostr,
        }

    def sign(
        self, xml: str, *, timestamp: int | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], str]:
        """(query params, body) of the POST carrying `xml`: plain, or encrypted when the
        signer has an aes_key (`encrypt_type=aes` and `msg_signature` added)."""
        ts, nonce = _stamp(timestamp, nonce)
        params = {"signature": self.signature(ts, nonce), "timestamp": ts, "nonce": nonce}
        fields = ET.fromstring(xml)
        openid = fields.findtext("FromUserName")
        if openid:
            params["openid"] = openid
        if not self.aes_key:
            return params, xml
        crypto = WeChatCrypto(self.token, self.aes_key, self.appid)
        sealed = ET.fromstring(crypto.encrypt_message(xml, nonce, ts))
        encrypt = sealed.findtext("Encrypt") or ""
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sealed.findtext("MsgSignature") or ""
        to_user = fields.findtext("ToUserName") or ""
        body = (
            f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>"
            f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        )
        return params, body


def _stamp(timestamp: int | None, nonce: str | None) -> tuple[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return ts, nonce if nonce is not None else str(secrets.randbelow(10**10))


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _message_xml(
    from_user: str,
    to_user: str,
    msg_type: str,
    create_time: int | None,
    fields: Mapping[str, str | int | float],
) -> str:
    parts = [
        f"<ToUserName>{_cdata(to_user)}</ToUserName>",
        f"<FromUserName>{_cdata(from_user)}</FromUserName>",
        f"<CreateTime>{create_time if create_time is not None else int(time.time())}</CreateTime>",
        f"<MsgType>{_cdata(msg_type)}</MsgType>",
    ]
    for name, value in fields.items():
        parts.append(f"<{name}>{_cdata(value) if isinstance(value, str) else value}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def _msg_id(msg_id: int | None) -> int:
    return msg_id if msg_id is not None else 10**18 + secrets.randbelow(9 * 10**18)


def text_xml(
    from_user: str,
    to_user: str,
    content: str,
    msg_id: int | None = None,
    create_time: int | None = None,
) -> str:
    """A text message from `from_user` (openid) to `to_user` (the account's gh_ id)."""
    return _message_xml(
        from_user, to_user, "text", create_time, {"Content": content, "MsgId": _msg_id(msg_id)}
    )


def image_xml(
    from_user: str,
    to_user: str,
    media_id: str,
    pic_url: str = "http://mmbiz.qpic.cn/fake.jpg",
    msg_id: int | None = None,
    create_time: int | None = None,
) -> str:
    """An image message; download it with `media_id` (valid 3 days)."""
    fields: dict[str, str | int | float] = {
        "PicUrl": pic_url,
        "MediaId": media_id,
        "MsgId": _msg_id(msg_id),
    }
    return _message_xml(from_user, to_user, "image", create_time, fields)


def location_xml(
    from_user: str,
    to_user: str,
    x: float,
    y: float,
    label: str,
    scale: int = 15,
    msg_id: int | None = None,
    create_time: int | None = None,
) -> str:
    """A location message: `x` latitude, `y` longitude, `label` the place's name."""
    fields: dict[str, str | int | float] = {
        "Location_X": x,
        "Location_Y": y,
        "Scale": scale,
        "Label": label,
        "MsgId": _msg_id(msg_id),
    }
    return _message_xml(from_user, to_user, "location", create_time, fields)


def event_xml(
    from_user: str,
    to_user: str,
    event: str,
    event_key: str = "",
    create_time: int | None = None,
    extra: Mapping[str, str | int] | None = None,
) -> str:
    """An event push (subscribe, unsubscribe, CLICK, SCAN…; no MsgId); `extra` adds fields
    such as Ticket, or Status and MsgID of TEMPLATESENDJOBFINISH."""
    fields: dict[str, str | int | float] = {"Event": event}
    if event_key:
        fields["EventKey"] = event_key
    fields.update(extra or {})
    return _message_xml(from_user, to_user, "event", create_time, fields)


def voice_xml(
    from_user: str,
    to_user: str,
    media_id: str,
    recognition: str = "",
    voice_format: str = "amr",
    msg_id: int | None = None,
    create_time: int | None = None,
) -> str:
    """A voice message with WeChat's speech recognition text (empty when it has none)."""
    fields: dict[str, str | int | float] = {
        "MediaId": media_id,
        "Format": voice_format,
        "Recognition": recognition,
        "MsgId": _msg_id(msg_id),
    }
    return _message_xml(from_user, to_user, "voice", create_time, fields)


def media_check_xml(
    check: MediaCheck,
    to_user: str,
    suggest: str = "pass",
    label: int = LABEL_NORMAL,
    create_time: int | None = None,
) -> str:
    """The `wxa_media_check` (v2) push with WeChat's verdict on an image sent to
    mediaCheckAsync; `suggest` is pass, review or risky."""
    # The verdict comes from WeChat's own system account, not from the user.
    xml = event_xml(
        "oSystemMediaCheck",
        to_user,
        "wxa_media_check",
        create_time=create_time,
        extra={
            "appid": check.appid,
            "trace_id": check.trace_id,
            "version": 2,
            "errcode": 0,
            "errmsg": "ok",
        },
    )
    result = f"<result><suggest>{_cdata(suggest)}</suggest><label>{label}</label></result>"
    detail = (
        f"<detail><strategy>{_cdata('content_model')}</strategy><errcode>0</errcode>"
        f"<suggest>{_cdata(suggest)}</suggest><label>{label}</label></detail>"
    )
    return xml.removesuffix("</xml>") + result + detail + "</xml>"
