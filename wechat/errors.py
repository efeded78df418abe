"""Errors of the WeChat API as our code sees them: WeChat's errcode, its message, and whether
trying again later can help.

WeChat answers most failures with HTTP 200 and a JSON body `{"errcode": N, "errmsg": "..."}`.
Failures that never reach WeChat's answer (timeouts, HTTP errors, oversized or unreadable
bodies) get local negative codes so callers handle every failure through one exception type.
"""

from __future__ import annotations

# WeChat's own codes, plus our local negative ones (-2 and below; WeChat only uses -1).
ERRCODE_NAMES: dict[int, str] = {
    -1: "system busy",
    -2: "media too large",
    -3: "request timed out",
    -4: "http error",
    -5: "unexpected response",
    40001: "invalid credential",
    40002: "invalid grant type",
    40003: "invalid openid",
    40007: "invalid media id",
    40013: "invalid appid",
    40014: "invalid access token",
    40016: "invalid button size",
    40037: "invalid template id",
    40029: "invalid login code",
    40125: "invalid appsecret",
    40163: "login code already used",
    40164: "ip not in whitelist",
    40226: "high-risk user blocked",
    41001: "access token missing",
    41030: "invalid page",
    42001: "access token expired",
    43004: "user unsubscribed",
    43101: "no consent",
    45009: "frequency limit",
    45011: "minute quota limit",
    45015: "out of 48h window",
    45047: "out of response count limit",
    47001: "data format error",
    47003: "bad field",
    48001: "api unauthorized",
    87014: "risky content",
}

MEDIA_TOO_LARGE = -2
TIMED_OUT = -3
HTTP_ERROR = -4
UNEXPECTED_RESPONSE = -5

# The token is stale: refresh it and send the same request again once.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})

# Busy or rate-limited: the same request may succeed later. Everything else (bad openid,
# expired media, no consent, user unsubscribed, out of the 48 h window, bad field, unknown
# template…) fails again the same way.
RETRYABLE_ERRCODES = frozenset({-1, TIMED_OUT, 45009, 45011})


class WeChatError(Exception):
    """A WeChat API call failed with `errcode` (WeChat's, or a local negative one)."""

    def __init__(self, errcode: int, errmsg: str = "", *, path: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg or ERRCODE_NAMES.get(errcode, "unknown error")
        self.path = path
        where = f" ({path})" if path else ""
        super().__init__(f"errcode {errcode} {self.name}: {self.errmsg}{where}")

    @property
    def name(self) -> str:
        """Short English name of the errcode, e.g. "invalid openid"."""
        return ERRCODE_NAMES.get(self.errcode, "unknown error")

    @property
    def retryable(self) -> bool:
        """True when sending the same request later may succeed."""
        return self.errcode in RETRYABLE_ERRCODES


class WeChatTimeout(WeChatError):
    """WeChat did not answer within the client's timeout; always retryable."""

    def __init__(self, seconds: float, *, path: str = "") -> None:
        super().__init__(TIMED_OUT, f"no answer within {seconds:g} s", path=path)


class WeChatHTTPError(WeChatError):
    """WeChat answered with a status other than 200, or the connection failed (`status` None)."""

    def __init__(self, status: int | None, detail: str = "", *, path: str = "") -> None:
        self.status = status
        errmsg = f"HTTP {status}" if status is not None else "network error"
        super().__init__(HTTP_ERROR, f"{errmsg}: {detail}" if detail else errmsg, path=path)

    @property
    def retryable(self) -> bool:
        """Network errors, 429 and 5xx may pass later; other 4xx will not."""
        return self.status is None or self.status == 429 or self.status >= 500
