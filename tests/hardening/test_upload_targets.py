"""Issue 8, upload targets U1–U10 (research anchors-style-reliability.md §B.3, §B.9).

Real images made with Pillow (tests/images.py); the mini-program's `POST /api/mp/v1/uploads`
and the chat-bot's photo download both go through cases/intake/photos.py `ingest_photo`, which
runs cases/store/evidence.py `process_image`.
"""

from __future__ import annotations

import asyncio
import io
import re
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image, PngImagePlugin

from cases.intake import photos as intake_photos
from cases.store import evidence
from cases.store.evidence import MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, evidence_path, process_image
from cases.store.models import EvidenceFile
from tests.bot.conftest import BotWorld
from tests.bot.test_filing import at_photos_step
from tests.factories import make_case
from tests.images import (
    BLUE,
    RED,
    SECRETS,
    encode,
    jpeg_with_everything,
    noise,
    png_header_only,
    two_tone,
)
from tests.miniprogram.conftest import API, MakeWorld, MpWorld
from tests.staff.conftest import StaffWorld

STORED_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}(_thumb)?\.jpg")


def _files(media_dir: Path) -> list[Path]:
    return [p for p in media_dir.rglob("*") if p.is_file()] if media_dir.exists() else []


async def _nothing_stored(world: MpWorld) -> None:
    assert await EvidenceFile.all().count() == 0
    assert _files(world.settings.media_dir) == []


def _assert_clean(stored: bytes) -> Image.Image:
    """U5: a stored photo carries pixels only."""
    assert not any(secret in stored for secret in SECRETS)
    img = Image.open(io.BytesIO(stored))
    assert img.format == "JPEG"
    assert not img.getexif()
    for key in ("exif", "xmp", "comment", "icc_profile", "XML:com.adobe.xmp"):
        assert key not in img.info, key
    assert not getattr(img, "applist", [])[1:]  # only the JFIF APP0 segment
    return img


# --- U1: size --------------------------------------------------------------------------------


async def test_u1_a_declared_upload_over_10_mib_is_refused_with_413_unread(mp: MpWorld) -> None:
    """U1: Content-Length beyond 10 MiB + framing → 413 in Chinese, before the body is read."""
    who = await mp.login()
    status, body = await mp.upload(who, b"\xff\xd8\xff" + b"\0" * (MAX_PHOTO_BYTES + 1))
    assert status == 413 and body["error"]["code"] == "photo_too_large"
    assert "10MB" in body["error"]["message"]
    await _nothing_stored(mp)


async def test_u1_a_chunked_upload_over_10_mib_is_cut_off_at_the_limit(mp: MpWorld) -> None:
    """U1: without Content-Length (chunked) the server stops reading at 10 MiB → 413; the
    rest of a 40 MiB stream is never taken in."""
    who = await mp.login()
    sent = 0
    total = 40 * 1024 * 1024

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        chunk = b"\0" * (256 * 1024)
        while sent < total:
            sent += len(chunk)
            yield chunk

    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append(stream(), {"Content-Type": "image/jpeg"})
    part.set_content_disposition("form-data", name="file", filename="big.jpg")
    try:
        resp = await mp.client.post(f"{API}/uploads", data=writer, headers=who.auth)
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "photo_too_large"
    except aiohttp.ClientError:
        pass  # the server may close the connection while the client is still sending
    assert sent < total
    await _nothing_stored(mp)


def test_u1_the_photo_cap_holds_inside_process_image_too() -> None:
    """U1 for photos downloaded from WeChat: `process_image` refuses > 10 MiB itself."""
    with pytest.raises(evidence.PhotoTooLarge):
        process_image(b"\xff\xd8\xff" + b"\0" * MAX_PHOTO_BYTES)


# --- U2: only images -------------------------------------------------------------------------

FITS = (b"SIMPLE  =                    T" + b" " * 50 + b"END" + b" " * 77).ljust(2880, b" ")
NOT_IMAGES = {
    "text": (b"just some text about a shop", "a.txt", "text/plain"),
    "php": (b"<?php system($_GET['c']); ?>" * 4, "photo.jpg", "image/jpeg"),
    "html": (b"<!doctype html><script>alert(1)</script>", "p.jpg", "image/jpeg"),
    "svg": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "p.svg",
        "image/svg+xml",
    ),
    "gif": (encode(two_tone(), "GIF"), "p.gif", "image/gif"),
    "pdf": (b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "p.jpg", "image/jpeg"),
    "fits": (FITS, "p.jpg", "image/jpeg"),
    "bmp": (encode(two_tone(), "BMP"), "p.bmp", "image/bmp"),
    "tiff": (encode(two_tone(), "TIFF"), "p.jpg", "image/jpeg"),
}


@pytest.mark.parametrize("name", sorted(NOT_IMAGES))
async def test_u2_non_images_get_415_whatever_they_claim(mp: MpWorld, name: str) -> None:
    """U2: text, PHP, HTML, SVG, GIF, PDF, FITS, BMP, TIFF → 415 whatever the declared type
    or extension; decoders are limited to JPEG/PNG/WebP; nothing written."""
    data, filename, content_type = NOT_IMAGES[name]
    who = await mp.login()
    status, body = await mp.upload(who, data, filename=filename, content_type=content_type)
    assert status == 415 and body["error"]["code"] == "not_an_image"
    assert body["error"]["message"].startswith("只能接收照片")
    await _nothing_stored(mp)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
async def test_u2_the_accepted_formats_pass_under_any_declared_type(mp: MpWorld, fmt: str) -> None:
    """U2: the format is read from the bytes: a WebP sent as text/plain is a photo."""
    who = await mp.login()
    data = encode(two_tone((64, 48)), fmt)
    status, body = await mp.upload(who, data, filename="x.txt", content_type="text/plain")
    assert status == 201, body


# --- U3: pixel floods ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [(100_000, 100_000), (10_000, 10_000), (10_001, 5_000)],
    ids=["10-gigapixel", "100-megapixel", "just-over-50-megapixel"],
)
async def test_u3_more_than_50_megapixels_is_refused_from_the_header(
    mp: MpWorld, width: int, height: int
) -> None:
    """U3: > 50 MP → 413, decided from the header (the file holds no pixel data, so a decode
    would have been a 400) and at once."""
    assert width * height > MAX_PHOTO_PIXELS
    data = png_header_only(width, height)
    started = time.perf_counter()
    with pytest.raises(evidence.TooManyPixels):
        process_image(data)
    assert time.perf_counter() - started < 0.1
    who = await mp.login()
    status, body = await mp.upload(who, data, filename="bomb.png", content_type="image/png")
    assert status == 413 and body["error"]["code"] == "photo_too_many_pixels"
    await _nothing_stored(mp)


def test_u3_the_cap_is_exact_at_50_megapixels() -> None:
    """U3: exactly 50 MP is not refused for its size (this header-only file then fails to
    decode: 400), one row more is."""
    with pytest.raises(evidence.CorruptImage):
        process_image(png_header_only(10_000, 5_000))
    with pytest.raises(evidence.TooManyPixels):
        process_image(png_header_only(10_000, 5_001))


# --- U4: corrupt images ----------------------------------------------------------------------

CORRUPT = {
    "jpeg-cut-in-half": encode(noise((400, 300)))[:6000],
    "png-cut-in-half": encode(noise((200, 200)), "PNG")[:5000],
    "webp-cut": encode(noise((200, 200)), "WEBP")[:400],
    "jpeg-magic-then-garbage": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
    "png-bad-crc": encode(two_tone(), "PNG")[:30] + b"\0\0\0\0" + encode(two_tone(), "PNG")[34:],
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
async def test_u4_truncated_or_corrupt_images_get_400(mp: MpWorld, name: str) -> None:
    """U4: a truncated or corrupt JPEG/PNG/WebP → 400 with a Chinese message, never 500."""
    who = await mp.login()
    status, body = await mp.upload(who, CORRUPT[name])
    assert status == 400 and body["error"]["code"] == "corrupt_image", body
    assert "损坏" in body["error"]["message"]
    await _nothing_stored(mp)


# --- U5: metadata and orientation ------------------------------------------------------------


def test_u5_a_plain_pillow_resave_would_keep_the_jpeg_comment() -> None:
    """U5, the trap: Pillow drops EXIF on a plain re-save but keeps the JPEG comment (here a
    phone number) — which is why process_image copies pixels into a fresh image."""
    img = Image.open(io.BytesIO(jpeg_with_everything()))
    out = io.BytesIO()
    img.save(out, "JPEG")
    assert b"13800138000" in out.getvalue()
    assert b"13800138000" not in process_image(jpeg_with_everything()).data


def _png_with_text_chunks() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "owner phone 13800138000")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>phone 13800138000</x:xmpmeta>")
    exif = Image.Exif()
    exif[0x010F] = "SecretMake"
    return encode(two_tone(), "PNG", pnginfo=info, exif=exif.tobytes())


def _webp_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretMake"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">phone 13800138000</x:xmpmeta>'
    return encode(two_tone(), "WEBP", exif=exif.tobytes(), xmp=xmp, lossless=True)


@pytest.mark.parametrize(
    "make",
    [jpeg_with_everything, _png_with_text_chunks, _webp_with_metadata],
    ids=["jpeg-exif-gps-xmp-icc-comment", "png-text-itxt-exif", "webp-exif-xmp"],
)
async def test_u5_stored_photos_and_thumbnails_carry_no_metadata(mp: MpWorld, make: Any) -> None:
    """U5: stored photo and thumbnail: no EXIF (GPS), XMP, ICC profile, comment or text
    chunk; none of the secret strings anywhere in the bytes."""
    data = make()
    assert b"13800138000" in data or b"SecretMake" in data
    who = await mp.login()
    status, body = await mp.upload(who, data)
    assert status == 201, body
    row = await EvidenceFile.get(id=body["upload_id"])
    for key in (row.storage_key, row.thumb_key):
        _assert_clean(evidence_path(mp.settings.media_dir, key).read_bytes())


async def test_u5_orientation_is_applied_before_the_exif_is_dropped(mp: MpWorld) -> None:
    """U5: a 40×20 photo with Orientation=6 (rotate 90° clockwise) is stored 20×40, upright:
    the left (red) half is now on top."""
    who = await mp.login()
    status, body = await mp.upload(who, jpeg_with_everything())
    assert status == 201
    row = await EvidenceFile.get(id=body["upload_id"])
    img = _assert_clean(evidence_path(mp.settings.media_dir, row.storage_key).read_bytes())
    assert img.size == (20, 40) == (row.width, row.height)
    rgb = img.convert("RGB")
    top, bottom = rgb.getpixel((10, 5)), rgb.getpixel((10, 34))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert _near(top, RED) and _near(bottom, BLUE)


def _near(got: tuple[int, ...], want: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(got, want, strict=False))


async def test_u5_photos_sent_in_the_chat_are_cleaned_the_same_way(bot: BotWorld) -> None:
    """U5 for the official account: a photo fetched from WeChat media is stored clean and
    upright too."""
    chat = await at_photos_step(bot)
    media_id = bot.fake.add_media(jpeg_with_everything(), "image/jpeg")
    assert "已收到第 1 张" in await chat.send_image(media_id)
    await chat.settle()
    [row] = await EvidenceFile.filter(citizen__oa_openid=chat.openid)
    img = _assert_clean(evidence_path(bot.settings.media_dir, row.storage_key).read_bytes())
    assert img.size == (20, 40)


def _record_ingestion(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bytes each photo brings into `ingest_photo`, the one place that re-encodes (issue
    16): a face that cleaned photos its own way would pass it by."""
    seen: list[bytes] = []

    def recorded(raw: bytes) -> evidence.ProcessedImage:
        seen.append(raw)
        return process_image(raw)

    monkeypatch.setattr(intake_photos, "process_image", recorded)
    return seen


async def _only_photo_is_clean(media_dir: Path) -> None:
    [row] = await EvidenceFile.all()
    for key in (row.storage_key, row.thumb_key):
        _assert_clean(evidence_path(media_dir, key).read_bytes())


async def test_u5_an_upload_is_taken_in_through_the_one_ingestion(
    mp: MpWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_ingestion(monkeypatch)
    raw = jpeg_with_everything()
    status, _ = await mp.upload(await mp.login(), raw)
    assert status == 201 and seen == [raw]
    await _only_photo_is_clean(mp.settings.media_dir)


async def test_u5_a_chat_photo_is_taken_in_through_the_one_ingestion(
    bot: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_ingestion(monkeypatch)
    raw = jpeg_with_everything()
    chat = await at_photos_step(bot)
    assert "已收到第 1 张" in await chat.send_image(bot.fake.add_media(raw, "image/jpeg"))
    await chat.settle()
    assert seen == [raw]
    await _only_photo_is_clean(bot.settings.media_dir)


# --- U6: server-generated names --------------------------------------------------------------


@pytest.mark.parametrize(
    "filename", ["../../x.jpg.php", "a.jpg%00.php", "/etc/passwd", "..\\..\\win.ini", "照片.jpg"]
)
async def test_u6_stored_names_are_generated_by_the_server(mp: MpWorld, filename: str) -> None:
    """U6: the client's file name never reaches a path: uuid4 names under the media dir."""
    who = await mp.login()
    status, body = await mp.upload(who, encode(two_tone()), filename=filename)
    assert status == 201, body
    row = await EvidenceFile.get(id=body["upload_id"])
    for key in (row.storage_key, row.thumb_key):
        assert STORED_NAME.fullmatch(key), key
    media = mp.settings.media_dir.resolve()
    files = _files(mp.settings.media_dir)
    assert len(files) == 2 and all(f.resolve().is_relative_to(media) for f in files)
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)  # 0600: nobody else reads them


# --- U7: served only through an access check -------------------------------------------------


async def test_u7_citizen_photo_links_are_checked_and_sent_with_nosniff_no_store(
    mp: MpWorld,
) -> None:
    """U7: the mini-program's photo route checks the signed link; the answer is image/jpeg with
    nosniff and no-store; a tampered, expired or other size's link is 404."""
    who = await mp.login()
    _, upload = await mp.upload(who, encode(two_tone()))
    for url in (upload["thumb_url"], upload["url"]):
        resp = await mp.get_link(url)
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in resp.headers["Cache-Control"]
        assert "private" in resp.headers["Cache-Control"]
    thumb = upload["thumb_url"]
    other_id = thumb.replace(f"/evidence/{upload['upload_id']}/", "/evidence/999999/")
    expired = re.sub(r"exp=\d+", "exp=1000", thumb)
    for bad in (thumb.replace("sig=", "sig=0"), thumb.replace("/thumb?", "/full?"), other_id):
        assert (await mp.get_link(bad)).status == 404, bad
    assert (await mp.get_link(expired)).status == 404


async def test_u7_the_content_check_fetch_sends_nosniff_no_store(mp: MpWorld) -> None:
    """U7: the capability URL WeChat's checker fetches while the check is pending."""
    who = await mp.login()
    await mp.upload(who, encode(two_tone()))
    [check] = mp.fake.media_checks
    resp = await mp.client.get(check.media_url.removeprefix("https://desk.example.org"))
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in resp.headers["Cache-Control"]


async def test_u7_staff_photos_need_the_case_and_send_nosniff_no_store(
    staff_world: StaffWorld,
) -> None:
    """U7: staff photos go through the case access check (another unit's handler: 404) and
    are sent with nosniff and no-store."""
    case = await make_case(staff_world.rules)
    photo = await evidence.store_evidence(
        staff_world.settings.media_dir,
        process_image(encode(two_tone())),
        citizen_id=case.citizen_id,
        case_id=case.id,
    )
    url = f"/staff/cases/{case.number}/photos/{photo.id}/full"
    intake = await staff_world.console("intake", "centre")
    resp = await intake.client.get(url)
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in resp.headers["Cache-Control"]
    stranger = await staff_world.console("handler", "food")
    assert (await stranger.client.get(url)).status == 404
    anonymous = await staff_world.new_client()
    resp = await anonymous.get(url, allow_redirects=False)
    assert resp.status in (302, 401, 404) and resp.headers.get("Content-Type") != "image/jpeg"


def _static_dirs(app: web.Application) -> list[Path]:
    dirs: list[Path] = []
    for resource in app.router.resources():
        if isinstance(resource, web.StaticResource):
            dirs.append(Path(resource.get_info()["directory"]).resolve())
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            dirs += _static_dirs(sub)
    return dirs


async def test_u7_no_static_route_serves_the_media_directory(mp: MpWorld) -> None:
    """U7: no static route of the app (or its sub-apps) reaches the stored photos."""
    app = mp.client.server.app
    assert app is not None
    media = mp.settings.media_dir.resolve()
    for directory in _static_dirs(app):
        assert not media.is_relative_to(directory) and not directory.is_relative_to(media)


# --- U8: quotas ------------------------------------------------------------------------------


async def test_u8_uploads_per_hour_give_429_with_retry_after(make_mp: MakeWorld) -> None:
    """U8: past `[miniprogram] uploads_per_hour` → 429 with Retry-After; others unaffected."""
    world = await make_mp(miniprogram__uploads_per_hour=2)
    who, other = await world.login(), await world.login()
    for _ in range(2):
        assert (await world.upload(who, encode(two_tone())))[0] == 201
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(encode(two_tone())), filename="p.jpg")
    resp = await world.client.post(f"{API}/uploads", data=form, headers=who.auth)
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 3600
    assert (await world.upload(other, encode(two_tone())))[0] == 201


async def test_u8_a_case_takes_at_most_the_catalogue_s_photo_count(mp: MpWorld) -> None:
    """U8: more upload ids than the catalogue's max_photos → 422 naming the field."""
    who = await mp.login()
    _, catalogue = await mp.call("GET", "/catalogue", who)
    most = catalogue["max_photos"]
    assert most <= 9
    status, body = await mp.file(who, upload_ids=list(range(1, most + 2)))
    assert status == 422 and body["error"]["field"] == "upload_ids"


# --- U9: off the event loop ------------------------------------------------------------------


async def test_u9_decoding_runs_off_the_event_loop(
    mp: MpWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """U9: process_image runs in a worker thread; while a slow decode is under way the
    server keeps answering other requests at once."""
    threads: list[str] = []

    def slow_process(raw: bytes) -> evidence.ProcessedImage:
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()  # no loop in this thread: not on the event loop
        threads.append(threading.current_thread().name)
        time.sleep(0.6)
        return process_image(raw)

    monkeypatch.setattr(intake_photos, "process_image", slow_process)
    who = await mp.login()
    upload = asyncio.create_task(mp.upload(who, encode(noise((800, 600)))))
    while not threads:
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    status, _ = await mp.call("GET", "/catalogue", who)
    assert status == 200 and time.perf_counter() - started < 0.4
    assert not upload.done()
    assert (await upload)[0] == 201
    assert threads and threads[0] != threading.main_thread().name


async def test_u9_chat_photos_are_decoded_off_the_event_loop(
    bot: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """U9 for photos downloaded from WeChat."""
    called: list[bool] = []

    def checked_process(raw: bytes) -> evidence.ProcessedImage:
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()
        called.append(True)
        return process_image(raw)

    monkeypatch.setattr(intake_photos, "process_image", checked_process)
    chat = await at_photos_step(bot)
    assert "已收到第 1 张" in await chat.send_image(
        bot.fake.add_media(encode(two_tone()), "image/jpeg")
    )
    await chat.settle()
    assert called == [True]


# --- U10: hidden until checked, hashes recorded ----------------------------------------------


async def test_u10_a_flagged_photo_is_withheld_and_the_stored_hash_is_recorded(
    mp: MpWorld,
) -> None:
    """U10: the evidence row records the sha256 of the stored derivative; a photo WeChat
    flags is withheld from the citizen's view and its links stop working."""
    import hashlib

    who = await mp.login()
    _, upload = await mp.upload(who, encode(two_tone()))
    row = await EvidenceFile.get(id=upload["upload_id"])
    assert row.content_check == "pending"
    stored = evidence_path(mp.settings.media_dir, row.storage_key).read_bytes()
    assert row.sha256 == hashlib.sha256(stored).hexdigest() and row.size_bytes == len(stored)
    await EvidenceFile.filter(id=row.id).update(content_check="risky")
    assert (await mp.get_link(upload["thumb_url"])).status == 404
    assert (await mp.get_link(upload["url"])).status == 404
