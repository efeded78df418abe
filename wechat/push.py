"""Receiving WeChat's pushes (official account and mini-program alike): signature, freshness,
size, safe-mode decryption and XML shape are checked here, before any handler sees a field."""

from __future__ import annotations

import hmac
import logging
import re
import struct
import time
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError

import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from config.settings import WeChatAppSettings

log = logging.getLogger(__name__)

MAX_PUSH_BYTES = 64 * 1024
# Plain-mode signatures do not cover the body: refuse pushes whose timestamp is far off.
SIGNATURE_MAX_SKEW_SECONDS = 300
REQUIRED_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
# WeChat's nonces are short digit strings; the bound keeps the replay key inside its column.
_NONCE = re.compile(r"[0-9A-Za-z_-]{1,64}")
# Characters XML 1.0 cannot carry at all, even inside CDATA.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class PushRefused(Exception):
    """The push is not WeChat's or not well formed; answer with `response` and do nothing."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.response = web.Response(status=status, text=text)


@dataclass(frozen=True)
class Push:
    fields: dict[str, Any]
    # Set in safe mode: the reply must be encrypted the same way.
    crypto: WeChatCrypto | None
    # "<timestamp>:<nonce>": a second request with it inside the window is a replay (W6).
    replay_key: str = ""


def signed(request: web.Request, app: WeChatAppSettings) -> bool:
    """WeChat's SHA-1 signature over (token, timestamp, nonce), compared in constant time."""
    token = str(app.token)
    q = request.query
    signer = WeChatSigner()
    signer.add_data(token, q.get("timestamp", ""), q.get("nonce", ""))
    return bool(token) and hmac.compare_digest(signer.signature, q.get("signature", ""))


def _now() -> float:
    """The server clock; tests replace it to probe the edges of the window."""
    return time.time()


def _fresh(request: web.Request) -> bool:
    try:
        stamp = int(request.query.get("timestamp", ""))
    except ValueError:
        return False
    return abs(_now() - stamp) <= SIGNATURE_MAX_SKEW_SECONDS


def _authentic(request: web.Request, app: WeChatAppSettings) -> bool:
    """Signed with our token, fresh, and with a nonce fit to be remembered."""
    nonce_ok = _NONCE.fullmatch(request.query.get("nonce", "")) is not None
    if signed(request, app) and _fresh(request) and nonce_ok:
        return True
    # One line per refusal for the security log; no query values (they are the attacker's).
    log.warning("wechat push refused on %s: bad signature, timestamp or nonce", request.path)
    return False


def verify_url(request: web.Request, app: WeChatAppSettings) -> web.Response:
    """WeChat's server check: echo `echostr` when the signature is ours (both modes)."""
    if not _authentic(request, app):
        return forbidden()
    return web.Response(text=request.query.get("echostr", ""), content_type="text/plain")


def forbidden() -> web.Response:
    return web.Response(status=403, text="invalid signature")


async def open_push(request: web.Request, app: WeChatAppSettings) -> Push:
    """The push's fields, checked and decrypted; raises PushRefused."""
    if not _authentic(request, app):
        raise PushRefused(403, "invalid signature")
    q = request.query
    safe = q.get("encrypt_type") == "aes"
    if app.require_safe_mode and not safe:
        log.warning("wechat push refused on %s: plain mode, safe mode required", request.path)
        raise PushRefused(403, "safe mode required")
    xml = (await _read_body(request)).decode("utf-8", errors="replace")
    replay_key = f"{q['timestamp']}:{q['nonce']}"

    crypto = None
    if safe:
        if not app.aes_key:
            raise PushRefused(400, "safe mode is not configured")
        crypto = WeChatCrypto(str(app.token), str(app.aes_key), app.appid)
        xml = _decrypt(request, app, crypto, xml)
    try:
        return Push(_parse(xml), crypto, replay_key)
    except (ValueError, KeyError, TypeError, ExpatError):
        raise PushRefused(400, "malformed message") from None


async def _read_body(request: web.Request) -> bytes:
    """At most MAX_PUSH_BYTES, with or without Content-Length (chunked); 413 beyond.

    StreamReader.read(n) may return fewer bytes than are coming, so read until the end.
    """
    if request.content_length is not None and request.content_length > MAX_PUSH_BYTES:
        raise PushRefused(413, "too large")
    body = bytearray()
    while chunk := await request.content.read(MAX_PUSH_BYTES + 1 - len(body)):
        body += chunk
        if len(body) > MAX_PUSH_BYTES:
            raise PushRefused(413, "too large")
    return bytes(body)


def _decrypt(request: web.Request, app: WeChatAppSettings, crypto: WeChatCrypto, xml: str) -> str:
    """Check `msg_signature` over the ciphertext ourselves (constant time), then decrypt."""
    q = request.query
    try:
        envelope = _envelope(xml)
    except (ValueError, KeyError, TypeError, ExpatError):
        raise PushRefused(400, "malformed message") from None
    signer = WeChatSigner()
    signer.add_data(str(app.token), q["timestamp"], q["nonce"], envelope["Encrypt"])
    if not hmac.compare_digest(signer.signature, q.get("msg_signature", "")):
        log.warning("wechat push refused on %s: bad msg_signature", request.path)
        raise PushRefused(403, "invalid signature")
    try:
        return str(crypto.decrypt_message(envelope, q["msg_signature"], q["timestamp"], q["nonce"]))
    except (InvalidSignatureException, InvalidAppIdException):
        log.warning("wechat push refused on %s: foreign appid", request.path)
        raise PushRefused(403, "invalid signature") from None
    except (ValueError, KeyError, TypeError, IndexError, struct.error, ExpatError):
        raise PushRefused(400, "malformed message") from None


def _refuse_doctype(*_args: object) -> None:
    raise ValueError("DTDs are refused")


class _NoDoctypeExpat:
    """expat for xmltodict, with any <!DOCTYPE> refused: xmltodict's disable_entities stops
    entity declarations only, so a bare DOCTYPE or an external SYSTEM DTD went through."""

    ExpatError = ExpatError

    @staticmethod
    def ParserCreate(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 (expat's name)
        parser = expat.ParserCreate(*args, **kwargs)
        parser.StartDoctypeDeclHandler = _refuse_doctype
        return parser


def _xml(xml: str) -> dict[str, Any]:
    root: dict[str, Any] = xmltodict.parse(xml, disable_entities=True, expat=_NoDoctypeExpat)
    return root


def _envelope(xml: str) -> dict[str, Any]:
    """The safe-mode wrapper: <xml><ToUserName/><Encrypt/></xml>, DTDs and entities refused."""
    fields = _xml(xml)["xml"]
    if not isinstance(fields, dict) or not isinstance(fields.get("Encrypt"), str):
        raise ValueError("no Encrypt element")
    return fields


def _parse(xml: str) -> dict[str, Any]:
    """Only WeChat's <xml> shape; any DTD or entity is refused (ValueError)."""
    root = _xml(xml)
    fields = root["xml"]
    if not isinstance(fields, dict) or any(not fields.get(k) for k in REQUIRED_FIELDS):
        raise ValueError("not a WeChat push")
    return fields


def text_reply(source: str, target: str, content: str) -> str:
    """A passive text reply's XML, whatever the text holds.

    wechatpy writes each field as `<![CDATA[value]]>` verbatim: a `]]>` in citizen text would
    end the section and the rest would be read as XML (a second MsgType). Every `]]>` is split
    across two sections instead, and characters XML cannot carry are dropped.
    """
    fields = (_cdata_safe(source), _cdata_safe(target), _cdata_safe(content))
    return str(TextReply(source=fields[0], target=fields[1], content=fields[2]).render())


def _cdata_safe(text: str) -> str:
    return _NOT_XML.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def reply(request: web.Request, push: Push, reply_xml: str) -> web.Response:
    """`success` for no reply; the XML reply otherwise, encrypted in safe mode."""
    if not reply_xml:
        return web.Response(text="success")
    if push.crypto is not None:
        q = request.query
        reply_xml = push.crypto.encrypt_message(
            reply_xml, q.get("nonce", ""), q.get("timestamp", "")
        )
    return web.Response(text=reply_xml, content_type="application/xml")
