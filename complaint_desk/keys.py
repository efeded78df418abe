"""Application state keys, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from cases.auth.staff_auth import SignInGuard
from cases.rules import Rules
from config.notices import NoticeTemplates
from config.settings import Settings
from wechat.client import WeChatClient

if TYPE_CHECKING:  # the simulator is loaded in demo mode and tests only
    from wechat.simulator import FakeWeChat

SETTINGS = web.AppKey("settings", Settings)
RULES = web.AppKey("rules", Rules)
NOTICE_TEMPLATES = web.AppKey("notice_templates", NoticeTemplates)
OA_CLIENT = web.AppKey("oa_client", WeChatClient)
MP_CLIENT = web.AppKey("mp_client", WeChatClient)
# Demo mode only: the built-in WeChat simulator, to show what citizens received.
DEMO_WECHAT: web.AppKey[FakeWeChat] = web.AppKey("demo_wechat")
# Staff sign-in: the argon2 thread pool and the back-off counts (started in a cleanup_ctx).
SIGN_IN = web.AppKey("sign_in", SignInGuard)
