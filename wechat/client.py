"""The WeChat API seen from our side: a small asyncio client for the endpoints we call.

One `WeChatClient` per appid (the official account and the mini-program are two appids with
two tokens). Tokens come from `POST /cgi-bin/stable_token`, which in normal mode hands every
caller the same token while it is valid, so several processes sharing a token store do not
invalidate each other; inside one process a lock per appid lets one caller fetch while the
others wait for its result.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from config.settings import WeChatAppSettings, WeChatSettings
from wechat.errors import (
    MEDIA_TOO_LARGE,
    TOKEN_ERRCODES,
    UNEXPECTED_RESPONSE,
    WeChatError,
    WeChatHTTPError,
    WeChatTimeout,
)

# Refresh this long before expiry; stable_token itself rotates 300 s before the end.
REFRESH_MARGIN_SECONDS = 300
MAX_JSON_BYTES = 1024 * 1024
_CHUNK_BYTES = 64 * 1024
# Media bodies that are really WeChat's JSON error answer (it uses both of these types).
_ERROR_BODY_TYPES = frozenset({"application/json", "text/plain", "text/json"})


class TokenStore(Protocol):
    """Where access tokens live, shared by every client of an appid (memory, Redis…)."""

    async def get(self, appid: str) -> tuple[str, float] | None:
        """The stored (token, expires_at epoch seconds) of `appid`, or None."""
        ...

    async def set(self, appid: str, token: str, expires_at: float) -> None:
        """Store the token of `appid`, valid until `expires_at` (epoch seconds)."""
        ...


class MemoryTokenStore:
    """Tokens in this process only: for one process, demo mode and tests."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}

    async def get(self, appid: str) -> tuple[str, float] | None:
        """The stored (token, expires_at) of `appid`, or None."""
        return self._tokens.get(appid)

    async def set(self, appid: str, token: str, expires_at: float) -> None:
        """Store the token of `appid` until `expires_at`."""
        self._tokens[appid] = (token, expires_at)


# One refresh lock per (event loop, appid), shared by every client of that appid in the
# process. Weak values: a lock disappears when nobody holds or waits on it, so the map
# stays empty between refreshes and never carries a lock over to another event loop.
_REFRESH_LOCKS: weakref.WeakValueDictionary[tuple[asyncio.AbstractEventLoop, str], asyncio.Lock]
_REFRESH_LOCKS = weakref.WeakValueDictionary()


def _refresh_lock(appid: str) -> asyncio.Lock:
    key = (asyncio.get_running_loop(), appid)
    lock = _REFRESH_LOCKS.get(key)
    if lock is None:
        lock = asyncio.Lock()
        _REFRESH_LOCKS[key] = lock
    return lock


@dataclass(frozen=True)
class _Answer:
    body: bytes
    content_type: str
    data: dict[str, Any] | None  # the JSON object, when the body is one

    @property
    def errcode(self) -> int:
        code = (self.data or {}).get("errcode", 0)
        return code if isinstance(code, int) else UNEXPECTED_RESPONSE

    @property
    def errmsg(self) -> str:
        return str((self.data or {}).get("errmsg", ""))


@dataclass(frozen=True)
class LoginSession:
    """What jscode2session says about a wx.login code; `session_key` never leaves the server."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str = ""


@dataclass(frozen=True)
class TextVerdict:
    """msgSecCheck v2: `suggest` is pass, review or risky; `label` WeChat's category code."""

    suggest: str
    label: int
    trace_id: str


class WeChatClient:
    """Calls the WeChat API for one appid; every request has a timeout and never retries
    on its own except once after a stale-token answer."""

    @classmethod
    def for_app(
        cls,
        session: aiohttp.ClientSession,
        wechat: WeChatSettings,
        app: WeChatAppSettings,
        token_store: TokenStore,
    ) -> WeChatClient:
        """A client for one of our appids (official account or mini-program) from settings."""
        return cls(
            session,
            api_base=wechat.api_base,
            appid=app.appid,
            secret=str(app.secret),
            token_store=token_store,
            timeout_seconds=wechat.timeout_seconds,
        )

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_base: str,
        appid: str,
        secret: str,
        token_store: TokenStore,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.appid = appid
        self._session = session
        self._api_base = api_base.rstrip("/")
        self._secret = secret
        self._store = token_store
        self._timeout_seconds = timeout_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._clock = clock

    def __repr__(self) -> str:
        return f"WeChatClient(appid={self.appid!r}, api_base={self._api_base!r})"

    async def access_token(self, force_refresh: bool = False) -> str:
        """A valid access token for this appid, from the store or freshly fetched.

        Fetches when none is stored or the stored one expires within 300 s. With
        `force_refresh` WeChat issues a new token and the old one stops working everywhere
        (limited by WeChat to 20 a day): only for a token known to be leaked or broken.
        """
        if not force_refresh:
            stored = await self._store.get(self.appid)
            if stored is not None and self._is_fresh(stored):
                return stored[0]
        return await self._refresh(force=force_refresh, stale=None)

    async def download_media(self, media_id: str, max_bytes: int) -> tuple[bytes, str]:
        """The content of a user-sent or uploaded media and WeChat's declared content type.

        Refuses bodies over `max_bytes` while streaming (WeChatError -2, not retryable). A
        media id expired (after 3 days) or unknown gives WeChatError 40007. The declared
        content type is WeChat's claim only: sniff the bytes before trusting them.
        """
        answer = await self._authorized(
            "GET",
            "/cgi-bin/media/get",
            params={"media_id": media_id},
            json_body=None,
            retry_token=True,
            max_bytes=max_bytes,
            expect_json=False,
        )
        if answer.data is not None:
            # A JSON body without errcode is not a file (videos come as {"video_url": ...}).
            raise WeChatError(UNEXPECTED_RESPONSE, "media is not a file", path="/cgi-bin/media/get")
        return answer.body, answer.content_type

    async def send_text(self, openid: str, text: str) -> None:
        """Send a customer-service text message (only within 48 h after the user wrote)."""
        payload = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self._call("POST", "/cgi-bin/message/custom/send", json=payload)

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        client_msg_id: str,
        url: str = "",
    ) -> int:
        """Send an official-account template message; WeChat's msgid.

        `client_msg_id` is WeChat's anti-reentry key: the same openid and key send one
        message (for 10 minutes), so a notice re-sent after a crash does not arrive twice.
        Each field is a plain value: since 2023 WeChat ignores colours, first and remark.
        """
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "client_msg_id": client_msg_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            payload["url"] = url
        answer = await self._call("POST", "/cgi-bin/message/template/send", json=payload)
        msgid = answer.get("msgid")
        if not isinstance(msgid, int):
            raise WeChatError(
                UNEXPECTED_RESPONSE, "no msgid", path="/cgi-bin/message/template/send"
            )
        return msgid

    async def send_subscribe(
        self, openid: str, template_id: str, data: Mapping[str, str], *, page: str = ""
    ) -> int | None:
        """Send a mini-program subscribe message (spends one of the citizen's consents);
        WeChat's msgid when it gives one. 43101: no consent left."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if page:
            payload["page"] = page
        answer = await self._call("POST", "/cgi-bin/message/subscribe/send", json=payload)
        msgid = answer.get("msgid")
        return msgid if isinstance(msgid, int) else None

    async def code_to_session(self, js_code: str) -> LoginSession:
        """Exchange a mini-program wx.login code (valid 5 minutes, once) for the user's ids."""
        path = "/sns/jscode2session"
        query = {
            "appid": self.appid,
            "secret": self._secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        body, _content_type = await self._request("GET", path, query, None, MAX_JSON_BYTES)
        data = _json_object(body, path)
        if data.get("errcode"):
            code = data["errcode"]
            raise WeChatError(code if isinstance(code, int) else UNEXPECTED_RESPONSE, path=path)
        openid, session_key = data.get("openid"), data.get("session_key")
        if not isinstance(openid, str) or not openid or not isinstance(session_key, str):
            raise WeChatError(UNEXPECTED_RESPONSE, "no openid in answer", path=path)
        return LoginSession(openid, session_key, str(data.get("unionid") or ""))

    async def msg_sec_check(
        self, openid: str, content: str, *, scene: int = 1, title: str = ""
    ) -> TextVerdict:
        """Check user text (v2; ≤ 2500 characters; the user must have used the mini-program
        within 2 hours). Judge by the verdict's `suggest`, not by an errcode."""
        payload: dict[str, Any] = {
            "content": content,
            "version": 2,
            "scene": scene,
            "openid": openid,
        }
        if title:
            payload["title"] = title
        answer = await self._call("POST", "/wxa/msg_sec_check", json=payload)
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("suggest"), str):
            raise WeChatError(UNEXPECTED_RESPONSE, "no result", path="/wxa/msg_sec_check")
        label = result.get("label")
        return TextVerdict(
            result["suggest"], label if isinstance(label, int) else 0, str(answer.get("trace_id"))
        )

    async def media_check_async(self, openid: str, media_url: str, *, scene: int = 1) -> str:
        """Ask WeChat to check an image at a public https URL (v2); the verdict arrives within
        30 minutes as a `wxa_media_check` push carrying the returned trace id."""
        payload = {
            "media_url": media_url,
            "media_type": 2,
            "version": 2,
            "scene": scene,
            "openid": openid,
        }
        answer = await self._call("POST", "/wxa/media_check_async", json=payload)
        trace_id = answer.get("trace_id")
        if not isinstance(trace_id, str) or not trace_id:
            raise WeChatError(UNEXPECTED_RESPONSE, "no trace_id", path="/wxa/media_check_async")
        return trace_id

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        """Replace the official account's custom menu (`{"button": [...]}`)."""
        await self._call("POST", "/cgi-bin/menu/create", json=menu)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        retry_token: bool = True,
    ) -> dict[str, Any]:
        """Call a JSON endpoint with the access token; its answer, or WeChatError."""
        answer = await self._authorized(
            method,
            path,
            params=params,
            json_body=json,
            retry_token=retry_token,
            max_bytes=MAX_JSON_BYTES,
            expect_json=True,
        )
        assert answer.data is not None  # expect_json: a non-JSON body raised already
        return answer.data

    async def _authorized(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
        retry_token: bool,
        max_bytes: int,
        expect_json: bool,
    ) -> _Answer:
        token = await self.access_token()
        answer = await self._attempt(method, path, token, params, json_body, max_bytes, expect_json)
        if answer.errcode in TOKEN_ERRCODES and retry_token:
            # Someone refreshed the token elsewhere, or it expired early: one new try.
            token = await self._refresh(force=True, stale=token)
            answer = await self._attempt(
                method, path, token, params, json_body, max_bytes, expect_json
            )
        if answer.errcode != 0:
            raise WeChatError(answer.errcode, answer.errmsg, path=path)
        return answer

    async def _attempt(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
        max_bytes: int,
        expect_json: bool,
    ) -> _Answer:
        query = {**(params or {}), "access_token": token}
        body, content_type = await self._request(method, path, query, json_body, max_bytes)
        if expect_json or content_type in _ERROR_BODY_TYPES:
            return _Answer(body, content_type, _json_object(body, path))
        return _Answer(body, content_type, None)

    async def _refresh(self, *, force: bool, stale: str | None) -> str:
        """Fetch a token under the appid's lock; a caller that waited for the lock takes
        the token the previous holder stored instead of fetching again."""
        async with _refresh_lock(self.appid):
            stored = await self._store.get(self.appid)
            if stored is not None and self._is_fresh(stored):
                if not force or (stale is not None and stored[0] != stale):
                    return stored[0]
            if stale is not None:
                # Normal mode first: if another instance already renewed the token, WeChat
                # hands us that one, and a forced refresh would invalidate it for everyone.
                token, expires_in = await self._fetch_token(False)
                if token == stale:
                    token, expires_in = await self._fetch_token(True)
            else:
                token, expires_in = await self._fetch_token(force)
            await self._store.set(self.appid, token, self._clock() + expires_in)
            return token

    async def _fetch_token(self, force: bool) -> tuple[str, int]:
        path = "/cgi-bin/stable_token"
        payload = {
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self._secret,
            "force_refresh": force,
        }
        body, _content_type = await self._request("POST", path, None, payload, MAX_JSON_BYTES)
        data = _json_object(body, path)
        errcode = data.get("errcode", 0)
        if errcode:
            code = errcode if isinstance(errcode, int) else UNEXPECTED_RESPONSE
            raise WeChatError(code, str(data.get("errmsg", "")), path=path)
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatError(UNEXPECTED_RESPONSE, "no access_token in answer", path=path)
        return token, expires_in

    async def _request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
        max_bytes: int,
    ) -> tuple[bytes, str]:
        """One HTTP exchange: (body, content type) of a 200 answer, or a WeChatError."""
        data: bytes | None = None
        headers: dict[str, str] | None = None
        if json_body is not None:
            # WeChat wants the characters themselves: \\u escapes show up literally in chats.
            data = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            async with self._session.request(
                method,
                self._api_base + path,
                params=query,
                data=data,
                headers=headers,
                timeout=self._timeout,
            ) as resp:
                if resp.status != 200:
                    raise WeChatHTTPError(resp.status, resp.reason or "", path=path)
                body = await _read_capped(resp, max_bytes, path)
                return body, resp.content_type
        except TimeoutError as exc:
            raise WeChatTimeout(self._timeout_seconds, path=path) from exc
        except aiohttp.ClientError as exc:
            # The exception text names host and port only, never the query with the token.
            raise WeChatHTTPError(None, type(exc).__name__, path=path) from exc

    def _is_fresh(self, stored: tuple[str, float]) -> bool:
        return stored[1] - self._clock() > REFRESH_MARGIN_SECONDS


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int, path: str) -> bytes:
    too_large = WeChatError(MEDIA_TOO_LARGE, f"body exceeds {max_bytes} bytes", path=path)
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
        total += len(chunk)
        if total > max_bytes:  # no or a false Content-Length: count while streaming
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(body: bytes, path: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise WeChatError(UNEXPECTED_RESPONSE, "answer is not JSON", path=path) from exc
    if not isinstance(data, dict):
        raise WeChatError(UNEXPECTED_RESPONSE, "answer is not a JSON object", path=path)
    return data
