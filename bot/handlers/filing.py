"""Filing a case by chat: a guided dialogue saved after every step.

The steps come from the catalogue (a kind's `dialogue`, its required fields, its categories);
this module only asks, understands the answer, and stores the draft. The case itself is
created by `cases.intake.filing.file_case`, which checks everything once more and takes the
photos sent during the dialogue along in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.context import BotContext
from cases.errors import TooManyRequests, ValidationError
from cases.intake.drafts import discard_conversation, load_conversation, save_conversation
from cases.intake.filing import file_case
from cases.intake.forms import normalize_phone
from cases.intake.incident_time import understand_incident_time
from cases.intake.photos import SentSince
from cases.workflow.clocks import citizen_deadline, decides_acceptance
from cases.workflow.timeline import Actor
from config.catalog import Kind
from config.chat import load_chat_words

STATE = "filing"
# After this long without a message, the next one first offers to continue the draft.
RESUME_OFFER_AFTER = timedelta(minutes=30)
STEP_LABELS = {
    "category": "类别",
    "anonymous": "是否匿名",
    "respondent_name": "对象",
    "incident_at": "发生时间",
    "incident_place": "发生地点",
    "description": "事情经过",
    "demands": "诉求",
    "photos": "照片",
    "contact_name": "姓名",
    "contact_phone": "联系电话",
    "confirm": "核对提交",
}
BACK, SKIP, CONTINUE = "返回", "跳过", "继续"
YES_WORDS = {"1", "实名", "否", "不匿名"}
NO_WORDS = {"2", "匿名", "是", "匿名举报"}


def kind_by_word(ctx: BotContext, word: str) -> str | None:
    for kind in ctx.rules.catalog.kinds.values():
        if word in (kind.code, kind.name, f"我要{kind.name}"):
            return kind.code
    return None


async def start(ctx: BotContext, kind_code: str) -> str:
    """Begin a new draft of `kind_code` (from the menu or a typed word)."""
    kind = ctx.rules.catalog.kinds.get(kind_code)
    if kind is None:
        kinds = list(ctx.rules.catalog.kinds.values())
        return ctx.say("ask_kind", kinds=kinds)
    data: dict[str, Any] = {
        "kind": kind.code,
        "answers": {},
        "history": [],
        "photo_count": 0,
        "started": ctx.now.isoformat(),
    }
    data["step"] = _next_step(kind, data, None)
    await _save(ctx, data)
    return await _ask(ctx, data)


async def start_or_offer(ctx: BotContext, kind_code: str) -> str:
    """A request to file `kind_code` (menu click, typed word): with a draft open, ask first."""
    draft = await active_draft(ctx)
    if draft is None or kind_code not in ctx.rules.catalog.kinds:
        return await start(ctx, kind_code)
    return await _offer_switch(ctx, draft, kind_code)


async def _offer_switch(ctx: BotContext, data: dict[str, Any], kind_code: str) -> str:
    data["switch_to"] = kind_code
    await _save(ctx, data)
    kinds = ctx.rules.catalog.kinds
    return ctx.say(
        "ask_abandon",
        kind=kinds[data["kind"]].name,
        kind_code=data["kind"],
        step=data["step"],
        new_kind=kinds[kind_code].name,
    )


async def active_draft(ctx: BotContext) -> dict[str, Any] | None:
    state = await load_conversation(ctx.citizen.oa_openid or "")
    if state is None or state.state != STATE:
        return None
    return dict(state.data)


async def current_question(ctx: BotContext, data: dict[str, Any]) -> str:
    """The question the draft is waiting on (after help, for instance)."""
    return await _ask(ctx, data)


async def cancel(ctx: BotContext) -> str:
    if await active_draft(ctx) is None:
        return ctx.say("nothing_to_cancel")
    await discard_conversation(ctx.citizen.oa_openid or "")
    return ctx.say("cancelled")


async def handle(ctx: BotContext, data: dict[str, Any]) -> str:
    """One message while a draft is open."""
    msg = ctx.message
    last = datetime.fromisoformat(data.get("updated", data["started"]))
    if data.get("offered_resume"):
        if msg.type == "text" and msg.text == CONTINUE:
            data["offered_resume"] = False
            await _save(ctx, data)
            return await _ask(ctx, data)
    elif ctx.now - last > RESUME_OFFER_AFTER:
        data["offered_resume"] = True
        await _save(ctx, data)
        kind = ctx.rules.catalog.kinds[data["kind"]]
        return ctx.say("resume", kind=kind.name, kind_code=kind.code, step=data["step"])
    data["offered_resume"] = False

    words = load_chat_words()
    text = msg.text.lower() if msg.type == "text" else ""
    if (switch_to := data.pop("switch_to", None)) is not None:
        # The citizen was asked whether to give this draft up for a new one.
        if text in words.abandon:
            return await start(ctx, switch_to)
        await _save(ctx, data)  # any other answer keeps the draft
        if text in words.keep:
            return await _ask(ctx, data)
    if msg.type == "text" and (other := kind_by_word(ctx, msg.text)) is not None:
        # "我要举报" is a wish, not the respondent's name: never store it as an answer.
        return await _offer_switch(ctx, data, other)

    if msg.type == "text" and msg.text == BACK:
        if not data["history"]:
            return ctx.say("first_step") + "\n" + await _ask(ctx, data)
        data["step"] = data["history"].pop()
        await _save(ctx, data)
        return await _ask(ctx, data)
    if msg.type == "text" and msg.text == CONTINUE:
        return await _ask(ctx, data)
    return await _answer(ctx, data)


async def _answer(ctx: BotContext, data: dict[str, Any]) -> str:
    step = data["step"]
    kind = ctx.rules.catalog.kinds[data["kind"]]
    msg = ctx.message
    text = msg.text if msg.type == "text" else ""

    if step == "photos":
        return await _photos(ctx, data, kind)
    if step == "incident_place" and msg.type == "location":
        data["answers"]["incident_place"] = msg.label or f"{msg.latitude},{msg.longitude}"
        data["answers"]["latitude"] = msg.latitude
        data["answers"]["longitude"] = msg.longitude
        return await _advance(ctx, data, kind)
    if msg.type != "text" or not text:
        return await _hint(ctx, data, "请用文字回复。")
    if text == SKIP:
        if not _optional(kind, step):
            return ctx.say("cannot_skip") + "\n" + await _ask(ctx, data)
        data["answers"].pop(step, None)
        return await _advance(ctx, data, kind)

    if step == "confirm":
        if text.lower() not in load_chat_words().confirm:
            return await _hint(ctx, data, "没看懂,请回复“确认”提交,或“返回”修改。")
        return await _submit(ctx, data)
    problem = _store_answer(ctx, data, kind, step, text)
    if problem:
        return await _hint(ctx, data, problem)
    return await _advance(ctx, data, kind)


def _store_answer(
    ctx: BotContext, data: dict[str, Any], kind: Kind, step: str, text: str
) -> str | None:
    """Put one typed answer into the draft; a short hint (Chinese) if it cannot be used."""
    catalog = ctx.rules.catalog
    answers = data["answers"]
    if step == "category":
        options = _categories(ctx, kind)
        chosen = _choose(text, [(c.code, c.name) for c in options])
        if chosen is None:
            return "没看懂,请回复列表中的数字。"
        answers["category"] = chosen
    elif step == "anonymous":
        if text in NO_WORDS:
            answers["anonymous"] = True
        elif text in YES_WORDS:
            answers["anonymous"] = False
        else:
            return "没看懂,请回复 1(实名)或 2(匿名)。"
    elif step == "incident_at":
        sent = ctx.sent_at.astimezone(ctx.rules.timezone)
        understood = understand_incident_time(text, sent)
        if understood is None:
            return ctx.say("unclear_time")
        if understood.at > sent:
            return ctx.say("future_time")
        answers["incident_at"] = understood.at.isoformat()
        data["incident_label"] = understood.label()
    elif step == "contact_phone":
        try:
            answers["contact_phone"] = normalize_phone(text)
        except ValueError:
            return "请填写 11 位手机号,或带区号的固定电话,如 0571-87654321。"
    else:
        limit = catalog.limits.max_chars.get(step)
        if limit is not None and len(text) > limit:
            return f"最多 {limit} 个字,您写了 {len(text)} 个字,请精简后再发。"
        if step == "description" and len(text) < catalog.limits.min_description_chars:
            return f"请至少写 {catalog.limits.min_description_chars} 个字,说明时间、地点和经过。"
        answers[step] = text
    return None


async def _photos(ctx: BotContext, data: dict[str, Any], kind: Kind) -> str:
    msg = ctx.message
    max_photos = ctx.rules.catalog.limits.max_photos
    if msg.type == "image":
        if data["photo_count"] >= max_photos:
            return ctx.say("photo_limit", max_photos=max_photos)
        data["photo_count"] += 1
        await _save(ctx, data)
        ctx.spawn(ctx.save_photo(ctx.citizen, msg.media_id))
        return ctx.say("photo_received", count=data["photo_count"], max_photos=max_photos)
    if msg.type == "text" and (
        msg.text == SKIP or msg.text.lower() in load_chat_words().photos_done
    ):
        return await _advance(ctx, data, kind)
    return await _hint(ctx, data, "没看懂,请发送照片;发完回复“好了”,没有照片回复“跳过”。")


async def _advance(ctx: BotContext, data: dict[str, Any], kind: Kind) -> str:
    data["history"].append(data["step"])
    data["step"] = _next_step(kind, data, data["step"])
    await _save(ctx, data)
    return await _ask(ctx, data)


def _steps(kind: Kind, data: dict[str, Any]) -> list[str]:
    steps = list(kind.dialogue)
    if not kind.anonymous_allowed and "anonymous" in steps:
        steps.remove("anonymous")
    if data["answers"].get("anonymous"):
        # Anonymity means we never ask who they are.
        steps = [s for s in steps if s not in ("contact_name", "contact_phone")]
    if "contact_name" not in kind.required_fields and "contact_name" in steps:
        steps.remove("contact_name")  # a name is asked only where the profile needs one
    return steps


def _next_step(kind: Kind, data: dict[str, Any], current: str | None) -> str:
    steps = _steps(kind, data)
    if current is None:
        return steps[0]
    return steps[min(steps.index(current) + 1, len(steps) - 1)] if current in steps else steps[-1]


def _optional(kind: Kind, step: str) -> bool:
    if step in ("category", "anonymous", "confirm"):
        return False
    return step not in kind.required_fields


async def _ask(ctx: BotContext, data: dict[str, Any]) -> str:
    step = data["step"]
    kind = ctx.rules.catalog.kinds[data["kind"]]
    limits = ctx.rules.catalog.limits
    optional = _optional(kind, step)
    if step == "category":
        return ctx.say("ask_category", kind=kind.name, categories=_categories(ctx, kind))
    if step == "description":
        return ctx.say(
            "ask_description", kind_code=kind.code, min_chars=limits.min_description_chars
        )
    if step == "photos":
        return ctx.say("ask_photos", max_photos=limits.max_photos)
    if step == "confirm":
        return ctx.say("summary", **_summary(ctx, data, kind))
    return ctx.say(f"ask_{step}", kind=kind.name, kind_code=kind.code, optional=optional)


async def _hint(ctx: BotContext, data: dict[str, Any], hint: str) -> str:
    return ctx.say("unclear", hint=hint) + "\n" + await _ask(ctx, data)


def _categories(ctx: BotContext, kind: Kind) -> list[Any]:
    return [c for c in ctx.rules.catalog.categories.values() if kind.code in c.kinds]


def _choose(text: str, options: list[tuple[str, str]]) -> str | None:
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1][0]
    for code, name in options:
        if text in (code, name):
            return code
    return None


def _summary(ctx: BotContext, data: dict[str, Any], kind: Kind) -> dict[str, Any]:
    a = data["answers"]
    when = a.get("incident_at")
    return {
        "kind": kind.name,
        "kind_code": kind.code,
        "category": ctx.rules.catalog.categories[a["category"]].name,
        "anonymous": a.get("anonymous", False),
        "respondent_name": a.get("respondent_name", ""),
        "incident_at": data.get("incident_label") or _day_text(ctx, when) if when else "",
        "incident_place": a.get("incident_place", ""),
        "description": a.get("description", ""),
        "demands": a.get("demands", ""),
        "photos": data["photo_count"],
        "contact_name": a.get("contact_name", ""),
        "contact_phone": a.get("contact_phone", ""),
    }


async def _submit(ctx: BotContext, data: dict[str, Any]) -> str:
    citizen = ctx.citizen
    form = {"kind": data["kind"], **data["answers"]}
    actor = Actor.of_citizen(citizen)
    try:
        case = await file_case(
            ctx.rules,
            form,
            actor,
            channel="official_account",
            citizen=citizen,
            now=ctx.now,
            cases_per_day=ctx.cases_per_day,
            # The photos sent during this dialogue: attached in the filing's own transaction.
            photos=SentSince(datetime.fromisoformat(data["started"])),
        )
    except TooManyRequests as exc:
        return exc.message  # the draft stays: "确认" files it once the day has passed
    except ValidationError as exc:
        # Send the citizen back to the step that holds the faulty field; nothing is lost.
        if exc.field in STEP_LABELS:
            data["step"] = exc.field
            await _save(ctx, data)
        return await _hint(ctx, data, exc.message)
    await discard_conversation(citizen.oa_openid or "")
    # The same date 查询 and the notices give: the clock of the stage the citizen waits for.
    deadline = await citizen_deadline(ctx.rules, case, ctx.now)
    return ctx.say(
        "filed",
        number=case.number,
        deadline=deadline,
        deciding=deadline is not None and decides_acceptance(ctx.rules, case, deadline.name),
    )


def _day_text(ctx: BotContext, iso: str) -> str:
    """A stored time as the citizen reads it: '11月20日', with the clock only if it has one."""
    local = datetime.fromisoformat(iso).astimezone(ctx.rules.timezone)
    day = f"{local.month}月{local.day}日"
    return day if (local.hour, local.minute) == (0, 0) else f"{day} {local:%H:%M}"


async def _save(ctx: BotContext, data: dict[str, Any]) -> None:
    data["updated"] = ctx.now.isoformat()
    await save_conversation(ctx.citizen.oa_openid or "", STATE, data)
