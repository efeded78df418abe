"""Receiving WeChat's pushes (official account and mini-program alike): signature, freshness,
size, safe-mode decryption and XML shape are checked here, before any handler sees a field."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import WeChatSigner

from config.settings import WeChatAppSettings

MAX_PUSH_BYTES = 64 * 1024
# Plain-mode signatures do not cover the body: refuse pushes whose timestamp is far off.
SIGNATURE_MAX_SKEW_SECONDS = 300
REQUIRED_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


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


def signed(request: web.Request, app: WeChatAppSettings) -> bool:
    """WeChat's SHA-1 signature over (token, timestamp, nonce), compared in constant time."""
    token = str(app.token)
    q = request.query
    signer = WeChatSigner()
    signer.add_data(token, q.get("timestamp", ""), q.get("nonce", ""))
    return bool(token) and hmac.compare_digest(signer.signature, q.get("signature", ""))


def _fresh(request: web.Request) -> bool:
    try:
        stamp = int(request.query.get("timestamp", ""))
    except ValueError:
        return False
    return abs(time.time() - stamp) <= SIGNATURE_MAX_SKEW_SECONDS


def verify_url(request: web.Request, app: WeChatAppSettings) -> web.Response:
    """WeChat's server check: echo `echostr` when the signature is ours (both modes)."""
    if not signed(request, app):
        return forbidden()
    return web.Response(text=request.query.get("echostr", ""))


def forbidden() -> web.Response:
    return web.Response(status=403, text="invalid signature")


async def open_push(request: web.Request, app: WeChatAppSettings) -> Push:
    """The push's fields, checked and decrypted; raises PushRefused."""
    if not signed(request, app) or not _fresh(request):
        raise PushRefused(403, "invalid signature")
    if request.content_length is not None and request.content_length > MAX_PUSH_BYTES:
        raise PushRefused(413, "too large")
    body = await request.content.read(MAX_PUSH_BYTES + 1)
    if len(body) > MAX_PUSH_BYTES:
        raise PushRefused(413, "too large")

    crypto = None
    xml = body.decode("utf-8", errors="replace")
    q = request.query
    if q.get("encrypt_type") == "aes":
        if not app.aes_key:
            raise PushRefused(400, "safe mode is not configured")
        crypto = WeChatCrypto(str(app.token), str(app.aes_key), app.appid)
        try:
            xml = crypto.decrypt_message(
                xml, q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", "")
            )
        except (InvalidSignatureException, InvalidAppIdException):
            raise PushRefused(403, "invalid signature") from None
        except (ValueError, KeyError, TypeError, ExpatError):
            raise PushRefused(400, "malformed message") from None
    try:
        return Push(_parse(xml), crypto)
    except (ValueError, KeyError, TypeError, ExpatError):
        raise PushRefused(400, "malformed message") from None


def _parse(xml: str) -> dict[str, Any]:
    """Only WeChat's <xml> shape; xmltodict refuses entities and DTDs (ValueError)."""
    root = xmltodict.parse(xml, disable_entities=True)
    fields = root["xml"]
    if not isinstance(fields, dict) or any(not fields.get(k) for k in REQUIRED_FIELDS):
        raise ValueError("not a WeChat push")
    return fields


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
