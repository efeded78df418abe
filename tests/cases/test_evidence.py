"""Evidence photos: size, type and pixel limits, metadata stripping, storage on disk and rows."""

from __future__ import annotations

import hashlib
import io
import random
import re
import stat
from pathlib import Path

import pytest
from PIL import Image
from tortoise.exceptions import IntegrityError

from cases.errors import CaseError
from cases.rules import Rules
from cases.store.evidence import (
    MAX_PHOTO_BYTES,
    MAX_PHOTO_PIXELS,
    MAX_STORED_SIDE_PX,
    THUMB_SIDE_PX,
    CorruptImage,
    ImageRejected,
    NotAnImage,
    PhotoTooLarge,
    ProcessedImage,
    TooManyPixels,
    attach_evidence,
    evidence_path,
    process_image,
    store_evidence,
)
from cases.store.models import EvidenceFile
from tests.factories import make_case, make_citizen
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


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def near(pixel: object, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


# --- process_image: what is kept and what is dropped ----------------------------------------


def test_metadata_is_stripped_and_orientation_applied() -> None:
    raw = jpeg_with_everything()
    # The input really carries what we claim to strip (so the test cannot pass vacuously).
    source = Image.open(io.BytesIO(raw))
    assert source.getexif().get_ifd(0x8825)[2] == (39.0, 54.0, 15.0)
    assert {"exif", "icc_profile", "comment", "xmp"} <= source.info.keys()
    assert b"Exif" in raw and b"13800138000" in raw and b"SecretMake" in raw

    result = process_image(raw)

    for data in (result.data, result.thumb):
        img = opened(data)
        assert img.format == "JPEG"
        assert img.mode == "RGB"
        assert len(img.getexif()) == 0
        assert not {"exif", "icc_profile", "comment", "xmp"} & img.info.keys()
        for secret in SECRETS:
            assert secret not in data, secret
    # Orientation 6: the 40x20 landscape is stored as a 20x40 portrait, red (left) on top.
    assert (result.width, result.height) == (20, 40)
    stored = opened(result.data)
    assert stored.size == (20, 40)
    assert near(stored.getpixel((10, 5)), RED)
    assert near(stored.getpixel((10, 35)), BLUE)


def test_result_fields() -> None:
    result = process_image(encode(two_tone()))
    assert isinstance(result, ProcessedImage)
    assert result.mime == "image/jpeg"
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()
    assert (result.width, result.height) == opened(result.data).size == (40, 20)
    assert "data=" not in repr(result)  # no megabytes of bytes in logs


def test_png_with_alpha_becomes_rgb_jpeg_on_white() -> None:
    img = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 20, 20))
    result = process_image(encode(img, "PNG"))
    stored = opened(result.data)
    assert (stored.format, stored.mode) == ("JPEG", "RGB")
    assert near(stored.getpixel((5, 10)), RED)
    assert near(stored.getpixel((35, 10)), (255, 255, 255))


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("P", "PNG"), ("LA", "PNG"), ("L", "JPEG"), ("CMYK", "JPEG"), ("RGB", "WEBP")],
)
def test_other_modes_and_formats_become_rgb(mode: str, fmt: str) -> None:
    result = process_image(encode(two_tone(mode=mode), fmt))
    stored = opened(result.data)
    assert (stored.format, stored.mode, stored.size) == ("JPEG", "RGB", (40, 20))


def test_16_bit_greyscale_keeps_its_tones() -> None:
    img = Image.new("I;16", (40, 20), 0)
    img.paste(Image.new("I;16", (20, 20), 32768), (20, 0))  # right half mid-grey
    stored = opened(process_image(encode(img, "PNG")).data)
    assert near(stored.getpixel((5, 10)), (0, 0, 0))
    assert near(stored.getpixel((35, 10)), (128, 128, 128))  # a plain convert gives white


def test_animated_png_keeps_the_first_frame() -> None:
    red, blue = Image.new("RGB", (40, 20), RED), Image.new("RGB", (40, 20), BLUE)
    raw = encode(red, "PNG", save_all=True, append_images=[blue], duration=100)
    assert Image.open(io.BytesIO(raw)).n_frames == 2
    stored = opened(process_image(raw).data)
    assert near(stored.getpixel((20, 10)), RED)


def test_large_photo_is_downscaled() -> None:
    result = process_image(encode(noise((4100, 1000)), quality=50))
    assert (result.width, result.height) == (MAX_STORED_SIDE_PX, 500)
    assert opened(result.data).size == (MAX_STORED_SIDE_PX, 500)
    thumb = opened(result.thumb)
    assert max(thumb.size) == THUMB_SIDE_PX
    assert thumb.info.keys().isdisjoint({"exif", "icc_profile", "comment"})


def test_small_photo_is_not_enlarged() -> None:
    result = process_image(encode(two_tone((100, 50))))
    assert (result.width, result.height) == (100, 50)
    assert opened(result.thumb).size == (100, 50)


# --- process_image: refusals ----------------------------------------------------------------


def test_size_limit_at_and_over() -> None:
    photo = encode(two_tone())
    # Bytes after the JPEG's end marker are ignored by decoders: pad to exactly the limit.
    at_limit = photo + b"\x00" * (MAX_PHOTO_BYTES - len(photo))
    assert len(at_limit) == MAX_PHOTO_BYTES
    assert process_image(at_limit).width == 40
    with pytest.raises(PhotoTooLarge) as refused:
        process_image(at_limit + b"\x00")
    assert refused.value.status == 413
    assert refused.value.code == "photo_too_large"
    assert refused.value.message == "照片太大了,请发送 10MB 以内的照片。"


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8_000, 6_251),  # 50 000 001 px: below Pillow's own warning threshold
        (10_000, 10_000),  # 100 MP: Pillow only warns (a DecompressionBombWarning)
        (100_000, 100_000),  # Pillow raises DecompressionBombError itself
    ],
)
def test_too_many_pixels_refused_from_the_header(width: int, height: int) -> None:
    raw = png_header_only(width, height)
    assert len(raw) < 200
    with pytest.raises(TooManyPixels) as refused:
        process_image(raw)
    assert refused.value.status == 413
    assert "像素" in refused.value.message


def test_pixel_limit_is_exact() -> None:
    # The same fake PNG one pixel row under the cap passes the header check and only then
    # fails decoding: so the 413 above comes from the pixel count, not from the bogus data.
    assert 8_000 * 6_250 == MAX_PHOTO_PIXELS
    with pytest.raises(CorruptImage):
        process_image(png_header_only(8_000, 6_250))


@pytest.mark.parametrize(
    "raw",
    [
        random.Random(1).randbytes(4096),
        b"just a text file, uploaded as photo.jpg\n" * 20,
        b"<?php system($_GET['c']); ?>",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"",
        encode(two_tone(), "GIF"),  # a real image, but not a format we decode
        encode(two_tone(), "BMP"),
    ],
    ids=["random", "text", "php", "svg", "empty", "gif", "bmp"],
)
def test_non_images_refused(raw: bytes) -> None:
    with pytest.raises(NotAnImage) as refused:
        process_image(raw)
    assert refused.value.status == 415
    assert refused.value.message == "只能接收照片(JPG/PNG/WebP 等)。"


def test_payload_after_a_real_jpeg_does_not_survive() -> None:
    raw = encode(two_tone()) + b"<script>alert(1)</script>"
    assert b"<script>" not in process_image(raw).data


def test_truncated_jpeg_refused_as_corrupt() -> None:
    raw = encode(noise((64, 64)), quality=95)
    assert process_image(raw).width == 64
    with pytest.raises(CorruptImage) as refused:
        process_image(raw[: len(raw) // 2])
    assert refused.value.status == 400
    assert refused.value.message == "照片已损坏,请重新发送。"


def test_refusals_are_case_errors_with_a_body() -> None:
    for error in (PhotoTooLarge(), TooManyPixels(), NotAnImage(), CorruptImage()):
        assert isinstance(error, ImageRejected)
        assert isinstance(error, CaseError)
        body = error.as_dict()
        assert body["code"] == error.code != ImageRejected.code
        assert re.search(r"[\u4e00-\u9fff]", body["message"])


# --- storage ---------------------------------------------------------------------------------


def test_evidence_path_stays_inside_media_dir(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    assert evidence_path(media, "ab/cd.jpg") == media.resolve() / "ab" / "cd.jpg"
    outside = tmp_path / "outside"
    outside.mkdir()
    (media / "ln").symlink_to(outside)
    for key in ("../x", "ab/../../x", "/etc/passwd", "", ".", "ab/\x00.jpg", "ln/x.jpg"):
        with pytest.raises(ValueError):
            evidence_path(media, key)


async def test_store_evidence_writes_private_files_and_the_row(
    store: Rules, tmp_path: Path
) -> None:
    citizen = await make_citizen()
    media = tmp_path / "media"
    image = process_image(jpeg_with_everything())

    row = await store_evidence(media, image, citizen_id=citizen.id)

    assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{32}\.jpg", row.storage_key)
    assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{32}_thumb\.jpg", row.thumb_key)
    assert row.storage_key[:2] == row.storage_key[3:5]  # shard = first two hex digits
    for key, data in ((row.storage_key, image.data), (row.thumb_key, image.thumb)):
        path = media / key
        assert path.read_bytes() == data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Only the two photos: no temp file left behind by the atomic write.
    assert sorted(p.name for p in media.rglob("*") if p.is_file()) == sorted(
        [Path(row.storage_key).name, Path(row.thumb_key).name]
    )
    saved = await EvidenceFile.get(id=row.id)
    assert saved.citizen_id == citizen.id  # type: ignore[attr-defined]
    assert saved.case_id is None  # type: ignore[attr-defined]
    assert (saved.sha256, saved.size_bytes, saved.mime) == (
        image.sha256,
        len(image.data),
        "image/jpeg",
    )
    assert (saved.width, saved.height) == (20, 40)
    assert (saved.storage_key, saved.thumb_key) == (row.storage_key, row.thumb_key)
    assert saved.content_check == "skipped"

    second = await store_evidence(media, image, citizen_id=None, content_check="pending")
    assert second.storage_key != row.storage_key  # same bytes, new server-made name
    assert second.content_check == "pending"


async def test_store_evidence_removes_files_when_the_row_fails(
    store: Rules, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    image = process_image(encode(two_tone()))
    with pytest.raises(IntegrityError):
        await store_evidence(media, image, citizen_id=999_999)  # no such citizen
    assert [p for p in media.rglob("*") if p.is_file()] == []
    assert await EvidenceFile.all().count() == 0


async def test_attach_evidence_only_unattached_and_own(store: Rules, tmp_path: Path) -> None:
    media = tmp_path / "media"
    image = process_image(encode(two_tone()))
    alice, bob = await make_citizen(), await make_citizen()
    first = await store_evidence(media, image, citizen_id=alice.id)
    second = await store_evidence(media, image, citizen_id=alice.id)
    bobs = await store_evidence(media, image, citizen_id=bob.id)
    case = await make_case(store, citizen=alice)
    other_case = await make_case(store, citizen=alice)

    assert await attach_evidence([], case.id) == 0
    attached = await attach_evidence([first.id, second.id, bobs.id], case.id, citizen_id=alice.id)
    assert attached == 2
    assert await EvidenceFile.filter(case_id=case.id).count() == 2
    assert (await EvidenceFile.get(id=bobs.id)).case_id is None  # type: ignore[attr-defined]
    # An attached photo is never moved to another case.
    assert await attach_evidence([first.id], other_case.id) == 0
    assert (await EvidenceFile.get(id=first.id)).case_id == case.id  # type: ignore[attr-defined]
    # Without a citizen filter (staff intake), any unattached row can be attached.
    assert await attach_evidence([bobs.id], other_case.id) == 1


async def test_store_refuses_unknown_content_check(tmp_path: Path) -> None:
    image = process_image(encode(two_tone()))
    with pytest.raises(ValueError):
        await store_evidence(tmp_path, image, citizen_id=None, content_check="ok")
    assert list(tmp_path.iterdir()) == []
