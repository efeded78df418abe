"""F4/F5: the parsers of citizen input never fail unexpectedly, whatever Unicode they are fed.

Case numbers, phone numbers, incident times and chat commands, with full-width forms,
zero-width and RTL marks, combining marks, emoji, NUL and control characters, lone surrogates
and very long strings. The pure parsers get hypothesis; the chat goes through the real webhook.
"""

from __future__ import annotations

import random
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.errors import ValidationError
from cases.intake.forms import normalize_phone, validate_form
from cases.intake.incident_time import parse_incident_time
from cases.rules import Rules
from cases.views.tracking import MAX_NUMBER_CHARS, normalize_number
from tests.bot.conftest import ACCOUNT, BotWorld
from tests.factories import complaint_form
from wechat.simulator import text_xml

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None)

# The characters that break naive parsers, mixed into ordinary text.
EDGE = [
    "\u3000",  # ideographic space
    "\u200b",  # zero-width space
    "\ufeff",  # BOM / zero-width no-break space
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\u0301",  # combining acute accent
    "\x00",
    "\x1b",
    "\x7f",
    "😀",
    "👨‍👩‍👧",  # joined with zero-width joiners
    "\ud800",  # a lone surrogate (JSON can carry one; UTF-8 cannot)
    "ß",  # upper-cases to two letters
    "ｉ",
    "Ａ",
    "１",
    "٣",  # Arabic-Indic digit: `\d` matches it
    "²",
    "-",
    "年",
    "月",
    "日",
    ":",
    "：",
]
edgy_text = st.lists(st.one_of(st.sampled_from(EDGE), st.text(max_size=4)), max_size=40).map(
    "".join
)
any_text = st.one_of(edgy_text, st.text(max_size=200), st.just("1" * 10_000))

FULL_WIDTH = str.maketrans(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ",
)
mobiles = st.from_regex(re.compile(r"1[3-9][0-9]{9}", re.ASCII), fullmatch=True)


@FAST
@given(any_text)
def test_case_number_normalisation_is_total_and_idempotent(text: str) -> None:
    """F4/F5: normalize_number never raises, is idempotent and keeps no separators."""
    once = normalize_number(text)
    assert normalize_number(once) == once
    assert not re.search(r"[\s\-_\u200b\ufeff]", once)


@FAST
@given(st.from_regex(r"(TS|JB|ZX|JY)20[0-9]{6}[0-9]{5}", fullmatch=True), st.data())
def test_a_number_typed_loosely_or_in_full_width_is_found(number: str, data: st.DataObject) -> None:
    """F5: full-width forms, lower case, spaces, dashes and zero-width spaces are noise."""
    noisy = "".join(
        data.draw(st.sampled_from(["", " ", "-", "\u3000", "\u200b", "_"])) + c for c in number
    )
    if data.draw(st.booleans()):
        noisy = noisy.translate(FULL_WIDTH)
    if data.draw(st.booleans()):
        noisy = noisy.lower()
    assert normalize_number(noisy) == number
    assert len(normalize_number(noisy)) <= MAX_NUMBER_CHARS


@FAST
@given(mobiles, st.data())
def test_valid_mobiles_are_accepted_in_any_typing(mobile: str, data: st.DataObject) -> None:
    """F5: a mobile with spaces, dashes, +86, full-width digits or zero-width spaces is kept
    as 11 ASCII digits."""
    typed = mobile
    if data.draw(st.booleans()):
        typed = typed.translate(FULL_WIDTH)
    typed = data.draw(st.sampled_from(["", "+86", "86", "+86 "])) + typed
    typed = data.draw(st.sampled_from(["", " ", "\u200b", "\u3000"])).join([typed[:3], typed[3:]])
    assert normalize_phone(typed) == mobile


@FAST
@given(any_text)
def test_phone_validation_refuses_garbage_with_a_validation_error(text: str) -> None:
    """F4/F5: anything not a phone number is a ValueError (the form: ValidationError), and
    anything accepted is ASCII digits only."""
    try:
        phone = normalize_phone(text)
    except ValueError:
        return
    assert re.fullmatch(r"1[3-9][0-9]{9}|0[0-9]{2,3}-[0-9]{7,8}", phone), phone


# `rules` is read-only: sharing the function-scoped fixture across examples is safe.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(FAST, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(any_text, st.sampled_from(["١٣٨٠٠٠٠٠٠٠٠", "13８0000000", "138\x000000000"])))
def test_the_form_answers_a_bad_phone_with_its_chinese_message(rules: Rules, text: str) -> None:
    """F4/F5: validate_form maps every bad phone to ValidationError on contact_phone."""
    form = complaint_form(contact_phone=text)
    try:
        checked = validate_form(rules, form, channel="official_account", staff=False, now=NOW)
    except ValidationError as exc:
        assert exc.field == "contact_phone" and "电话" in exc.message, exc.message
        return
    assert checked.contact_phone == "" or checked.contact_phone.isascii()


dates = st.one_of(
    any_text,
    st.builds(
        "{}{}-{}-{} {}:{}".format,
        st.sampled_from(["", "今天", "昨天"]),
        st.integers(0, 9999),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
    ),
    st.builds(
        "{}月{}日 {}{}点".format,
        st.integers(0, 99),
        st.integers(0, 99),
        st.sampled_from(["", "下午", "晚上"]),
        st.integers(0, 99),
    ),
)


@FAST
@given(dates, st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)))
def test_incident_times_never_raise(text: str, now: datetime) -> None:
    """F4/F5: parse_incident_time answers a time in the citizen's zone or None, never raises;
    relative and short dates are never in the future by more than the rest of the day."""
    now_local = now.replace(tzinfo=SHANGHAI)
    when = parse_incident_time(text, now_local)
    if when is None:
        return
    assert when.tzinfo is not None
    stripped = text.strip()
    if not re.search(r"[0-9]{4}[-/.年]", stripped) and not stripped.startswith("今"):
        end_of_day = datetime.combine(now_local.date() + timedelta(days=1), datetime.min.time())
        assert when < end_of_day.replace(tzinfo=SHANGHAI), (text, when)


def test_full_width_dates_mean_the_same() -> None:
    """F5: '２０２６年１１月２０日 ９：０５' is 2026-11-20 09:05 like its ASCII form."""
    expected = datetime(2026, 11, 20, 9, 5, tzinfo=SHANGHAI)
    assert parse_incident_time("２０２６年１１月２０日 ９：０５", NOW) == expected
    assert parse_incident_time("2026-11-20\u200b 9:05", NOW) == expected


# --- the chat, through the real webhook --------------------------------------------------------

COMMANDS = [
    "返回",
    "跳过",
    "取消",
    "帮助",
    "查询",
    "查询 ",
    "我要投诉",
    "我要举报",
    "咨询",
    "1",
    "2",
]


# Characters XML 1.0 cannot carry: WeChat never delivers them inside a push.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _chat_messages(seed: int, n: int) -> list[str]:
    """Commands with edge characters around and inside them, and plain junk (deterministic)."""
    rnd = random.Random(seed)
    out = [c + e for c in COMMANDS for e in ("", "\u200b", "\u3000", "\x7f", "😀", "\u0301")]
    out += ["查询 " + "ｔｓ２０２６１１２３００００１", "查询 " + "9" * 5000, "\u202e查询", "　"]
    for _ in range(n):
        out.append("".join(rnd.choice(EDGE + COMMANDS + ["我要", "a", " "]) for _ in range(8)))
    return [_NOT_XML.sub("", m) or "?" for m in out]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_any_text_to_the_bot_gets_an_answer(bot: BotWorld) -> None:
    """F4/F5: every text — commands with zero-width and combining marks, emoji, RTL
    overrides, 5000 digits — is answered (200 and a reply), in and out of a filing dialogue."""
    chat = bot.make_chat(safe=True)
    for text in _chat_messages(20261123, 60):
        reply = await chat.say(text)
        assert reply, repr(text)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_push_xml_cannot_carry_is_refused_not_a_server_error(bot: BotWorld) -> None:
    """F4: NUL or ESC (not XML 1.0) in a plain-mode push → 400; invalid UTF-8 is read
    leniently (replacement characters) — never a 500."""
    chat = bot.make_chat()
    valid = text_xml(chat.openid, ACCOUNT, "帮助", "77", int(time.time()))
    for bad, expected in ((b"\x00", {400}), (b"\x1b", {400}), (b"\xed\xa0\x80\xff", {200, 400})):
        params, _ = chat.signer.sign(valid)
        body = valid.encode().replace("帮助".encode(), bad)
        resp = await chat.client.post("/wechat/oa", params=params, data=body)
        assert resp.status in expected, (bad, resp.status, await resp.text())
