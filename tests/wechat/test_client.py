"""WeChatClient against the fake WeChat API: tokens, retries, media, messages, errors."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
import xmltodict

from tests.wechat.conftest import APPID, MakeClient
from wechat.client import MemoryTokenStore, WeChatClient
from wechat.errors import WeChatError, WeChatHTTPError, WeChatTimeout
from wechat.simulator import FakeWeChat, ManualClock, media_check_xml

STABLE = "/cgi-bin/stable_token"
SEND = "/cgi-bin/message/custom/send"
MEDIA = "/cgi-bin/media/get"
JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 1000


# --- access token -----------------------------------------------------------------------


async def test_fifty_concurrent_callers_cause_one_token_fetch(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    tokens = await asyncio.gather(*(client.access_token() for _ in range(50)))

    assert set(tokens) == {fake.current_token(APPID)}
    assert fake.calls[STABLE] == 1


async def test_fifty_concurrent_sends_cause_one_token_fetch(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    await asyncio.gather(*(client.send_text(f"oUser{i}", "收到") for i in range(50)))

    assert fake.calls[STABLE] == 1
    assert len(fake.sent_messages) == 50


async def test_token_request_is_stable_token_in_normal_mode(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    await client.access_token()

    (request,) = fake.requests
    assert request.method == "POST"
    assert json.loads(request.body) == {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": "s3cret-0000000000000000000000001",
        "force_refresh": False,
    }


async def test_stored_token_is_reused_until_300_seconds_before_expiry(
    client: WeChatClient, fake: FakeWeChat, clock: ManualClock
) -> None:
    first = await client.access_token()
    clock.advance(7200 - 301)
    assert await client.access_token() == first
    assert fake.calls[STABLE] == 1

    clock.advance(2)  # 299 s left: refresh; WeChat now hands out a new token
    second = await client.access_token()

    assert fake.calls[STABLE] == 2
    assert second != first
    assert second == fake.current_token(APPID)


async def test_expired_token_in_store_is_refreshed_before_the_call(
    client: WeChatClient, fake: FakeWeChat, clock: ManualClock
) -> None:
    await client.send_text("oUser", "第一条")
    clock.advance(7200 + 60)

    await client.send_text("oUser", "第二条")

    assert fake.calls[STABLE] == 2
    assert fake.calls[SEND] == 2  # no failed attempt with the dead token


async def test_clients_sharing_a_store_share_the_token(
    make_client: MakeClient, fake: FakeWeChat
) -> None:
    store = MemoryTokenStore()
    one, two = make_client(token_store=store), make_client(token_store=store)

    tokens = await asyncio.gather(*(c.access_token() for c in [one, two] * 10))

    assert len(set(tokens)) == 1
    assert fake.calls[STABLE] == 1


async def test_force_refresh_fetches_a_new_token_and_kills_the_old(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    old = await client.access_token()

    new = await client.access_token(force_refresh=True)

    assert new != old
    assert json.loads(fake.requests[-1].body)["force_refresh"] is True
    assert fake.check_token(old) == (None, 40001)
    assert fake.check_token(new) == (APPID, 0)


async def test_wrong_secret_is_refused_and_not_retryable(make_client: MakeClient) -> None:
    client = make_client(secret="wrong")

    with pytest.raises(WeChatError) as caught:
        await client.access_token()

    assert caught.value.errcode == 40125
    assert caught.value.retryable is False
    assert "wrong" not in str(caught.value)


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_stale_token_answer_causes_one_refresh_and_one_retry(
    client: WeChatClient, fake: FakeWeChat, errcode: int
) -> None:
    old = await client.access_token()
    fake.fail_next(SEND, errcode)

    await client.send_text("oUser", "您好")

    assert fake.calls[SEND] == 2
    paths = [r.path for r in fake.requests]
    # Normal mode first hands back the same token WeChat just refused: only then force.
    assert paths == [STABLE, SEND, STABLE, STABLE, SEND]
    assert json.loads(fake.requests[2].body)["force_refresh"] is False
    assert json.loads(fake.requests[3].body)["force_refresh"] is True
    retried = fake.requests[-1]
    assert retried.path == SEND
    assert retried.query["access_token"] != old
    assert len(fake.sent_messages) == 1


async def test_stale_token_twice_gives_up_after_one_retry(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    fake.fail_next(SEND, 40001, 40001)

    with pytest.raises(WeChatError) as caught:
        await client.send_text("oUser", "您好")

    assert caught.value.errcode == 40001
    assert fake.calls[SEND] == 2
    assert fake.calls[STABLE] == 3


async def test_token_revoked_elsewhere_gives_one_refresh_for_many_callers(
    make_client: MakeClient, fake: FakeWeChat
) -> None:
    ours = make_client()
    await ours.access_token()
    # Another process with its own store forces a new token: ours stops working.
    await make_client().access_token(force_refresh=True)
    fetches = fake.calls[STABLE]

    await asyncio.gather(*(ours.send_text("oUser", f"第{i}条") for i in range(10)))

    assert fake.calls[STABLE] == fetches + 1
    assert len(fake.sent_messages) == 10
    # Ours took the other process's new token in normal mode, leaving it valid for them.
    assert json.loads(fake.requests[-11].body)["force_refresh"] is False
    assert fake.check_token(fake.current_token(APPID)) == (APPID, 0)


async def test_two_instances_renewing_after_a_revocation_cause_no_invalidation_storm(
    make_client: MakeClient, fake: FakeWeChat
) -> None:
    first, second = make_client(), make_client()  # two processes, each its own cache
    await first.access_token()
    await second.access_token()
    fake.issue_token(APPID)  # revoked: both hold a dead token

    await asyncio.gather(first.send_text("oUser", "一"), second.send_text("oUser", "二"))
    await asyncio.gather(first.send_text("oUser", "三"), second.send_text("oUser", "四"))

    forced = [r for r in fake.requests if r.path == STABLE and json.loads(r.body)["force_refresh"]]
    assert forced == [] and len(fake.sent_messages) == 4


async def test_no_retry_when_retry_token_is_off(client: WeChatClient, fake: FakeWeChat) -> None:
    fake.fail_next(SEND, 40001)

    with pytest.raises(WeChatError) as caught:
        await client._call("POST", SEND, json={"touser": "oUser"}, retry_token=False)

    assert caught.value.errcode == 40001
    assert fake.calls[SEND] == 1


# --- media --------------------------------------------------------------------------------


async def test_download_media(client: WeChatClient, fake: FakeWeChat) -> None:
    media_id = fake.add_media(JPEG, "image/jpeg")

    content, content_type = await client.download_media(media_id, max_bytes=len(JPEG))

    assert content == JPEG
    assert content_type == "image/jpeg"
    assert fake.requests[-1].query["media_id"] == media_id


async def test_media_is_downloadable_until_three_days_have_passed(
    client: WeChatClient, fake: FakeWeChat, clock: ManualClock
) -> None:
    media_id = fake.add_media(JPEG, "image/jpeg")
    clock.advance(3 * 86400 - 1)
    content, _ = await client.download_media(media_id, max_bytes=10**6)
    assert content == JPEG

    clock.advance(1)
    with pytest.raises(WeChatError) as caught:
        await client.download_media(media_id, max_bytes=10**6)

    assert caught.value.errcode == 40007
    assert caught.value.retryable is False


async def test_unknown_media_id_is_40007(client: WeChatClient) -> None:
    with pytest.raises(WeChatError) as caught:
        await client.download_media("no-such-media", max_bytes=10**6)

    assert caught.value.errcode == 40007
    assert caught.value.name == "invalid media id"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversized_media_is_refused(
    client: WeChatClient, fake: FakeWeChat, chunked: bool
) -> None:
    big = b"\xff\xd8" + b"x" * (300 * 1024)
    ok = fake.add_media(big, "image/jpeg", chunked=chunked)
    assert (await client.download_media(ok, max_bytes=len(big)))[0] == big

    too_big = fake.add_media(big + b"!", "image/jpeg", chunked=chunked)
    with pytest.raises(WeChatError) as caught:
        await client.download_media(too_big, max_bytes=len(big))

    assert caught.value.errcode == -2
    assert caught.value.retryable is False


async def test_media_download_refreshes_a_stale_token(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    media_id = fake.add_media(JPEG, "image/png")
    fake.fail_next(MEDIA, 42001)

    content, content_type = await client.download_media(media_id, max_bytes=10**6)

    assert (content, content_type) == (JPEG, "image/png")
    assert fake.calls[MEDIA] == 2


# --- faults ---------------------------------------------------------------------------------


async def test_slow_answer_beyond_timeout_is_wechat_timeout(
    make_client: MakeClient, fake: FakeWeChat
) -> None:
    client = make_client(timeout_seconds=0.1)
    await client.access_token()
    fake.delay_seconds[SEND] = 0.5

    with pytest.raises(WeChatTimeout) as caught:
        await client.send_text("oUser", "您好")

    assert caught.value.retryable is True
    assert caught.value.path == SEND


@pytest.mark.parametrize("errcode", [45009, -1])
async def test_busy_and_rate_limited_are_retryable(
    client: WeChatClient, fake: FakeWeChat, errcode: int
) -> None:
    fake.fail_next(SEND, errcode)

    with pytest.raises(WeChatError) as caught:
        await client.send_text("oUser", "您好")
    await client.send_text("oUser", "您好")  # the same request later goes through

    assert caught.value.errcode == errcode
    assert caught.value.retryable is True
    assert len(fake.sent_messages) == 1


@pytest.mark.parametrize("status, retryable", [(502, True), (503, True), (404, False)])
async def test_http_error_status(
    client: WeChatClient, fake: FakeWeChat, status: int, retryable: bool
) -> None:
    fake.fail_next_http(SEND, status)

    with pytest.raises(WeChatHTTPError) as caught:
        await client.send_text("oUser", "您好")

    assert caught.value.status == status
    assert caught.value.retryable is retryable


async def test_unreachable_server_is_retryable_http_error(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = WeChatClient(
        session,
        api_base=f"http://127.0.0.1:{port}",
        appid=APPID,
        secret="x",
        token_store=MemoryTokenStore(),
        timeout_seconds=2,
    )

    with pytest.raises(WeChatHTTPError) as caught:
        await client.access_token()

    assert caught.value.status is None
    assert caught.value.retryable is True


# --- messages and menu --------------------------------------------------------------------


async def test_send_text_keeps_chinese_text_intact(client: WeChatClient, fake: FakeWeChat) -> None:
    text = "您的投诉 TS20250101-0001 已受理，承办单位：城关市场监管所。"

    await client.send_text("oCitizen1", text)

    assert fake.sent_messages == [
        (APPID, {"touser": "oCitizen1", "msgtype": "text", "text": {"content": text}})
    ]
    raw = fake.requests[-1].body
    assert text.encode("utf-8") in raw  # sent as UTF-8 characters, not \u escapes
    assert b"\\u" not in raw


async def test_send_text_to_bad_openid_is_40003_not_retryable(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    await client.send_text("oGood", "好")

    with pytest.raises(WeChatError) as caught:
        await client.send_text("bad-openid", "好")

    assert caught.value.errcode == 40003
    assert caught.value.retryable is False
    assert len(fake.sent_messages) == 1


async def test_send_text_outside_48h_window_is_45015(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    fake.outside_48h.add("oQuiet")
    await client.send_text("oActive", "好")

    with pytest.raises(WeChatError) as caught:
        await client.send_text("oQuiet", "好")

    assert caught.value.errcode == 45015
    assert caught.value.name == "out of 48h window"
    assert caught.value.retryable is False


async def test_create_menu(client: WeChatClient, fake: FakeWeChat) -> None:
    menu = {
        "button": [
            {"type": "click", "name": "我要投诉", "key": "FILE_CASE"},
            {"type": "pic_photo_or_album", "name": "上传照片", "key": "PHOTO"},
        ]
    }

    await client.create_menu(menu)

    assert fake.menus == {APPID: menu}


async def test_create_menu_with_too_many_buttons_is_refused(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    button = {"type": "click", "name": "按钮", "key": "K"}

    with pytest.raises(WeChatError) as caught:
        await client.create_menu({"button": [button] * 4})

    assert caught.value.errcode == 40016
    assert fake.menus == {}


def test_repr_hides_the_secret(client: WeChatClient) -> None:
    assert "s3cret" not in repr(client)


# --- template messages --------------------------------------------------------------------

TEMPLATE = "/cgi-bin/message/template/send"


async def test_template_message_is_sent_once_per_client_msg_id(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    fake.add_template(APPID, "tpl-accepted")
    data = {"character_string1": "TS202611230001", "thing2": "您的投诉已受理"}
    first = await client.send_template("oUser", "tpl-accepted", data, client_msg_id="TS1:7")
    again = await client.send_template("oUser", "tpl-accepted", data, client_msg_id="TS1:7")
    other = await client.send_template("oUser", "tpl-accepted", data, client_msg_id="TS1:8")
    assert first == again != other
    assert [m.client_msg_id for m in fake.template_messages] == ["TS1:7", "TS1:8"]
    assert fake.template_messages[0].data == data


async def test_template_message_dedupe_lasts_ten_minutes(
    client: WeChatClient, fake: FakeWeChat, clock: ManualClock
) -> None:
    fake.add_template(APPID, "tpl")
    await client.send_template("oUser", "tpl", {"thing2": "一"}, client_msg_id="k")
    clock.advance(601)
    await client.send_template("oUser", "tpl", {"thing2": "一"}, client_msg_id="k")
    assert len(fake.template_messages) == 2


@pytest.mark.parametrize(
    ("template_id", "openid", "data", "errcode"),
    [
        ("tpl-unknown", "oUser", {"thing2": "已受理"}, 40037),
        ("tpl", "not-openid", {"thing2": "已受理"}, 40003),
        ("tpl", "oUser", {"thing2": "超" * 21}, 47003),
        ("tpl", "oUser", {"thing2": "两\n行"}, 47003),
        ("tpl", "oGone", {"thing2": "已受理"}, 43004),
    ],
)
async def test_template_message_errors_are_permanent(
    client: WeChatClient,
    fake: FakeWeChat,
    template_id: str,
    openid: str,
    data: dict[str, str],
    errcode: int,
) -> None:
    fake.add_template(APPID, "tpl")
    fake.unfollowed.add("oGone")
    with pytest.raises(WeChatError) as caught:
        await client.send_template(openid, template_id, data, client_msg_id="x")
    assert caught.value.errcode == errcode and not caught.value.retryable
    assert fake.template_messages == []


async def test_template_first_and_remark_are_dropped_as_wechat_does(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    fake.add_template(APPID, "tpl")
    await client.send_template(
        "oUser", "tpl", {"first": "您好", "thing2": "已受理", "remark": "谢谢"}, client_msg_id="x"
    )
    assert fake.template_messages[0].data == {"thing2": "已受理"}


async def test_template_sends_over_the_rate_get_45009_retryable(
    client: WeChatClient, fake: FakeWeChat, clock: ManualClock
) -> None:
    fake.add_template(APPID, "tpl")
    fake.rate_limits[TEMPLATE] = (2, 60.0)
    for i in range(2):
        await client.send_template("oUser", "tpl", {"thing2": "好"}, client_msg_id=str(i))
    with pytest.raises(WeChatError) as caught:
        await client.send_template("oUser", "tpl", {"thing2": "好"}, client_msg_id="2")
    assert caught.value.errcode == 45009 and caught.value.retryable
    clock.advance(61)
    await client.send_template("oUser", "tpl", {"thing2": "好"}, client_msg_id="2")
    assert len(fake.template_messages) == 3


# --- mini-program: login and content security ----------------------------------------------


async def test_login_code_gives_openid_and_unionid_once(
    client: WeChatClient, fake: FakeWeChat, clock: ManualClock
) -> None:
    code = fake.login_code(APPID, "oMini1", unionid="uPerson1")
    session = await client.code_to_session(code)
    assert (session.openid, session.unionid) == ("oMini1", "uPerson1") and session.session_key
    assert session.session_key not in repr(session)  # never in a log line
    with pytest.raises(WeChatError) as used:
        await client.code_to_session(code)
    assert used.value.errcode == 40163 and not used.value.retryable
    late = fake.login_code(APPID, "oMini1")
    clock.advance(301)
    with pytest.raises(WeChatError) as expired:
        await client.code_to_session(late)
    assert expired.value.errcode == 40029


async def test_text_check_judges_by_suggest(client: WeChatClient, fake: FakeWeChat) -> None:
    ok = await client.msg_sec_check("oMini1", "超市卖过期牛奶")
    assert (ok.suggest, ok.label) == ("pass", 100) and ok.trace_id
    bad = await client.msg_sec_check("oMini1", "举报", title="赌博网站")
    assert bad.suggest == "risky" and bad.label != 100
    request = json.loads(fake.requests[-1].body)
    assert request["version"] == 2 and request["openid"] == "oMini1" and request["scene"] == 1


async def test_media_check_is_asynchronous_with_a_trace_id(
    client: WeChatClient, fake: FakeWeChat
) -> None:
    trace_id = await client.media_check_async("oMini1", "https://example.org/m/abc.jpg")
    [check] = fake.media_checks
    assert check.trace_id == trace_id and check.media_url == "https://example.org/m/abc.jpg"
    with pytest.raises(WeChatError) as plain_http:
        await client.media_check_async("oMini1", "http://example.org/m/abc.jpg")
    assert plain_http.value.errcode == 47001
    xml = media_check_xml(check, "gh_mini", suggest="risky", label=20002)
    parsed = xmltodict.parse(xml)["xml"]
    assert parsed["Event"] == "wxa_media_check" and parsed["trace_id"] == trace_id
    assert parsed["result"] == {"suggest": "risky", "label": "20002"}
