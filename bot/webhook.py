"""The official account's webhook: verify, decrypt, de-duplicate, dispatch, reply (encrypted).

WeChat waits 5 s and retries 3 times: the answer is computed once per push, stored with the
push's key in the same transaction as the push's effects, and a retry gets the very same
answer without acting twice. Slow work (media download) runs in background tasks after the
commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.context import BotContext
from bot.dispatch import dispatch
from bot.handlers.photos import save_photo
from bot.incoming import Incoming, from_fields
from bot.texts import Texts
from cases.intake.citizens import citizen_for_oa_openid, seen_on_oa
from cases.store.models import Citizen
from cases.store.receipts import answer_once, repeat_answer
from complaint_desk.keys import OA_CLIENT, RULES, SETTINGS
from config.settings import Settings
from wechat import push

log = logging.getLogger(__name__)

# WeChat gives up on an answer after 5 s; past this the push is answered "failed" (nothing of
# it kept: its transaction rolls back), e.g. while another process holds the store's write lock.
ANSWER_WITHIN_SECONDS = 4.0
# Events the citizen caused; like messages they open WeChat's 48-hour service window.
USER_ACTION_EVENTS = frozenset({"subscribe", "scan", "click", "view"})

TEXTS = web.AppKey("bot_texts", Texts)
TASKS = web.AppKey("bot_tasks", set)


def create_bot_app(settings: Settings) -> web.Application:
    """The /wechat sub-application; the rules come from the root app."""
    app = web.Application()
    app[SETTINGS] = settings
    app[TEXTS] = Texts()
    app[TASKS] = set()
    app.cleanup_ctx.append(_background_tasks)
    app.router.add_get("/oa", verify_url, name="oa_verify")
    app.router.add_post("/oa", receive_push, name="oa_push")
    return app


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    yield
    # Let photos already being fetched finish before the WeChat session closes.
    tasks: set[asyncio.Task[None]] = app[TASKS]
    if tasks:
        await asyncio.wait(tasks, timeout=10)


async def verify_url(request: web.Request) -> web.Response:
    return push.verify_url(request, request.config_dict[SETTINGS].wechat.oa)


async def receive_push(request: web.Request) -> web.Response:
    try:
        opened = await push.open_push(request, request.config_dict[SETTINGS].wechat.oa)
        message = from_fields(opened.fields)
    except push.PushRefused as refused:
        return refused.response
    except (ValueError, KeyError, TypeError):
        return web.Response(status=400, text="malformed message")
    nonce_key = "oa:nonce:" + opened.replay_key
    try:
        async with asyncio.timeout(ANSWER_WITHIN_SECONDS):
            answer = await _answer_once(request, message, nonce_key)
    except TimeoutError:
        log.error("push %s not answered within %s s", message.dedupe_key, ANSWER_WITHIN_SECONDS)
        answer = _reply_xml(message, request.app[TEXTS].render("failed"))
    return push.reply(request, opened, answer)


async def _answer_once(request: web.Request, message: Incoming, nonce_key: str) -> str:
    """Act on the push once and return its answer; a repeat gets the first answer.

    The push's effects and its receipt (key + answer) commit in one transaction
    (`answer_once`): a repeat of the same push, sequential or concurrent, rolls its own
    effects back and returns the stored answer. Background work the handler asks for starts
    only after the commit.

    The request's timestamp + nonce (`nonce_key`) is recorded in the same transaction: a
    plain-mode signature does not cover the body, so a replayed query string with another
    body is a duplicate too — no effect, and no answer (the first one may be private).
    """
    key = message.dedupe_key
    later: list[Coroutine[Any, Any, None]] = []

    async def act() -> str:
        text = await _handle(request, message, later.append)
        return _reply_xml(message, text) if text else ""

    async def failed() -> str:
        return _reply_xml(message, request.app[TEXTS].render("failed"))

    try:
        reply = await answer_once(key, nonce_key, act)
    except Exception:  # nothing of this push was kept; the citizen may simply send it again
        log.exception("push %s failed", key)
        _discard(later)
        reply = await answer_once(key, nonce_key, failed)
    if reply is None:
        _discard(later)
        return await repeat_answer(key)
    for coro in later:
        _spawn(request.app, coro)
    return reply


def _discard(coros: list[Coroutine[Any, Any, None]]) -> None:
    for coro in coros:
        coro.close()
    coros.clear()


def _spawn(app: web.Application, coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(coro)
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)


def _reply_xml(message: Incoming, text: str) -> str:
    return push.text_reply(message.account, message.openid, text)


async def _handle(
    request: web.Request,
    message: Incoming,
    spawn: Callable[[Coroutine[Any, Any, None]], None],
) -> str | None:
    app = request.app
    # A push's UnionId is not vouched for by WeChat's signature alone (plain mode signs the
    # query only): identities are linked from the mini-program's login, never from a push.
    citizen = await citizen_for_oa_openid(message.openid)
    now = datetime.now(UTC)
    if message.type != "event" or message.event in USER_ACTION_EVENTS:
        await seen_on_oa(citizen, now)
    client = request.config_dict[OA_CLIENT]
    media_dir = request.config_dict[SETTINGS].media_dir
    texts = app[TEXTS]

    def photo(who: Citizen, media_id: str) -> Coroutine[Any, Any, None]:
        return save_photo(client, media_dir, texts, who, media_id)

    ctx = BotContext(
        rules=request.config_dict[RULES],
        texts=texts,
        citizen=citizen,
        message=message,
        now=now,
        cases_per_day=request.config_dict[SETTINGS].miniprogram.cases_per_day,
        spawn=spawn,
        save_photo=photo,
    )
    return await dispatch(ctx)
