"""Evidence photos: checked, re-encoded without metadata, stored under server-made names.

Every photo a citizen sends (mini-program upload or WeChat media download) goes through
`process_image` before anything is written: the size is capped, the format is read from the
bytes (never from a file name or a declared type), the pixel count is checked from the header
before decoding, and the pixels are re-encoded as a fresh JPEG so no EXIF (GPS included), XMP,
ICC profile or comment survives (DESIGN, Privacy; research B.3 targets U1-U6).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tempfile
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from uuid import uuid4

from PIL import Image, ImageOps, UnidentifiedImageError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from cases.errors import CaseError
from cases.store.models import EvidenceFile

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # = WeChat mediaCheckAsync's per-file cap
MAX_PHOTO_PIXELS = 50_000_000  # a 10 MB file can still declare far more (pixel flood)
MAX_STORED_SIDE_PX = 2048  # longest side kept, like FixMyStreet's shrink('2048x2048')
THUMB_SIDE_PX = 320
JPEG_QUALITY = 85

# Decoders we open at all: a magic-byte allowlist that also keeps rarely used (and more often
# vulnerable) Pillow plugins such as FITS away from citizens' bytes. MPO (multi-picture JPEG
# from phones) is reached through the JPEG factory.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
CONTENT_CHECKS = frozenset({"pending", "pass", "risky", "review", "skipped"})
FILE_MODE = 0o600
DIR_MODE = 0o700
_WHITE = (255, 255, 255)


class ImageRejected(CaseError):
    """A photo we will not store; `message` is shown to the citizen as is."""

    code = "image_rejected"
    default_message = "无法接收这张照片,请换一张再试。"

    def __init__(self, message: str | None = None, *, field: str = "") -> None:
        super().__init__(message or self.default_message, field=field)


class PhotoTooLarge(ImageRejected):
    code = "photo_too_large"
    status = 413
    default_message = "照片太大了,请发送 10MB 以内的照片。"


class TooManyPixels(ImageRejected):
    code = "photo_too_many_pixels"
    status = 413
    default_message = "照片尺寸太大了(超过 5000 万像素),请缩小后再发送。"


class NotAnImage(ImageRejected):
    code = "not_an_image"
    status = 415
    default_message = "只能接收照片(JPG/PNG/WebP 等)。"


class CorruptImage(ImageRejected):
    code = "corrupt_image"
    status = 400
    default_message = "照片已损坏,请重新发送。"


@dataclass(frozen=True)
class ProcessedImage:
    """A photo ready to store: metadata-free JPEG bytes, its thumbnail and its digest."""

    data: bytes = field(repr=False)
    thumb: bytes = field(repr=False)
    width: int
    height: int
    mime: str = "image/jpeg"
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        # Computed here so the digest can never disagree with the bytes it names.
        object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())


def process_image(raw: bytes) -> ProcessedImage:
    """Check and re-encode one uploaded photo; raise an `ImageRejected` subclass if refused.

    CPU-bound and synchronous: callers run it in the image process pool (or a worker thread),
    never on the event loop. The result holds only pixels: orientation from EXIF is applied
    first, then every piece of metadata is dropped.
    """
    if len(raw) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge()
    # catch_warnings changes process-wide state: fine in a pool worker; in threads a race can
    # at worst leave these two Pillow-only filters installed, and the size check still holds.
    with warnings.catch_warnings():
        # Pillow's notes about odd EXIF/APNG chunks concern metadata we drop anyway.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        # Pillow only warns between MAX_IMAGE_PIXELS (~89 MP) and twice that: refuse instead.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _open_checked(raw)
        img = _decode_rgb(img)
    img.thumbnail((MAX_STORED_SIDE_PX, MAX_STORED_SIDE_PX), Image.Resampling.LANCZOS)
    stored = _clean_copy(img)
    thumb = stored.copy()
    thumb.thumbnail((THUMB_SIDE_PX, THUMB_SIDE_PX), Image.Resampling.LANCZOS)
    return ProcessedImage(
        data=_encode_jpeg(stored),
        thumb=_encode_jpeg(_clean_copy(thumb)),
        width=stored.width,
        height=stored.height,
    )


def _open_checked(raw: bytes) -> Image.Image:
    """Identify the format from the bytes and refuse too many pixels before any decoding."""
    try:
        img = Image.open(io.BytesIO(raw), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as exc:
        # Pillow reports a damaged header as "unidentified": with our formats' magic bytes it
        # is a broken photo (400, send it again), not another kind of file (415).
        if _has_accepted_magic(raw):
            raise CorruptImage() from exc
        raise NotAnImage() from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixels() from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImage() from exc
    width, height = img.size
    # Our own cap, exact and independent of the Pillow version's defaults.
    if width * height > MAX_PHOTO_PIXELS:
        raise TooManyPixels()
    return img


def _has_accepted_magic(raw: bytes) -> bool:
    return raw.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")) or (
        raw[:4] == b"RIFF" and raw[8:12] == b"WEBP"
    )


def _decode_rgb(img: Image.Image) -> Image.Image:
    """Decode the first frame (animated images too), turn it upright and make it 8-bit RGB."""
    try:
        # Decode straight to a smaller scale when the format allows it (JPEG DCT scaling):
        # a 48 MP phone photo then never exists in memory at full size.
        img.draft(None, _fit(img.size, MAX_STORED_SIDE_PX))
        img.load()
        return _to_rgb(ImageOps.exif_transpose(img))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImage() from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixels() from exc


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size `size` shrinks to inside a `side` x `side` box (never enlarged)."""
    width, height = size
    scale = min(1.0, side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any mode our formats produce -> 8-bit RGB; transparency is laid on white."""
    if img.mode.startswith("I"):
        # 16-bit greyscale PNG: a plain convert would clip everything above 255 to white.
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if img.mode in ("RGBA", "LA", "PA", "P") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def _clean_copy(img: Image.Image) -> Image.Image:
    """Pixels only: a new image has an empty `info`, so no comment, XMP or ICC rides along."""
    clean = Image.new("RGB", img.size, _WHITE)
    clean.paste(img)
    return clean


def _encode_jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    # No exif=, icc_profile= or comment= arguments: the JPEG gets only JFIF and pixel data.
    img.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


async def store_evidence(
    media_dir: Path,
    image: ProcessedImage,
    *,
    citizen_id: int | None,
    case_id: int | None = None,
    content_check: str = "skipped",
    admit: Callable[[BaseDBAsyncClient], Awaitable[None]] | None = None,
) -> EvidenceFile:
    """Write a processed photo and its thumbnail under `media_dir` and record the row.

    File names are generated here (uuid4, sharded by its first two hex digits); nothing the
    client sent reaches a path. Files are written atomically with mode 0600; if the row
    cannot be created the files are removed again. `admit` runs in the row's transaction just
    before the insert (a quota: it raises to refuse), after the slow file writes.
    """
    if content_check not in CONTENT_CHECKS:
        raise ValueError(f"unknown content_check {content_check!r}")
    stem = uuid4().hex
    storage_key = _photo_key(stem)
    thumb_key = f"{stem[:2]}/{stem}_thumb.jpg"
    await asyncio.to_thread(
        _write_files, media_dir, {storage_key: image.data, thumb_key: image.thumb}
    )
    try:
        async with in_transaction() as conn:
            if admit is not None:
                await admit(conn)
            return await EvidenceFile.create(
                using_db=conn,
                case_id=case_id,
                citizen_id=citizen_id,
                sha256=image.sha256,
                size_bytes=len(image.data),
                mime=image.mime,
                width=image.width,
                height=image.height,
                storage_key=storage_key,
                thumb_key=thumb_key,
                content_check=content_check,
            )
    except BaseException:
        await asyncio.to_thread(_remove_files, media_dir, (storage_key, thumb_key))
        raise


def _write_files(media_dir: Path, files: dict[str, bytes]) -> None:
    written: list[str] = []
    try:
        for key, data in files.items():
            _write_atomic(evidence_path(media_dir, key), data)
            written.append(key)
    except BaseException:
        _remove_files(media_dir, written)
        raise


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the target directory + fsync + rename: readers never see half a photo."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 whatever the umask.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename itself survives a power cut only once the directory is synced.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _remove_files(media_dir: Path, keys: Sequence[str]) -> None:
    for key in keys:
        evidence_path(media_dir, key).unlink(missing_ok=True)


async def attach_evidence(
    evidence_ids: Sequence[int],
    case_id: int,
    conn: BaseDBAsyncClient | None = None,
    *,
    citizen_id: int | None = None,
) -> int:
    """Link uploaded photos to a case; returns how many rows were attached.

    Only rows not yet attached to any case are touched, so a photo can never be moved from
    one case to another. Pass `citizen_id` when the ids come from a citizen: then only that
    citizen's own uploads are attached (ids sent by a client are not proof of ownership).
    """
    if not evidence_ids:
        return 0
    query = EvidenceFile.filter(id__in=list(evidence_ids), case_id__isnull=True)
    if citizen_id is not None:
        query = query.filter(citizen_id=citizen_id)
    return await (query.using_db(conn) if conn else query).update(case_id=case_id)


async def skip_content_check(evidence: EvidenceFile) -> None:
    """WeChat's check could not be started: no automatic verdict, staff review the photo."""
    evidence.content_check = "skipped"
    await evidence.save(update_fields=["content_check"])


async def await_content_check(evidence: EvidenceFile, trace_id: str) -> None:
    """WeChat is checking the photo; its verdict will name `trace_id`."""
    evidence.check_trace_id = trace_id
    await evidence.save(update_fields=["check_trace_id"])


async def record_check_verdict(trace_id: str, verdict: str) -> int:
    """WeChat's verdict on the photo it checked as `trace_id`; how many rows took it (0 for
    an unknown trace id). A repeated verdict sets the same value again."""
    return await EvidenceFile.filter(check_trace_id=trace_id).update(content_check=verdict)


async def photo_awaiting_check(stem: str) -> EvidenceFile | None:
    """The photo stored as `stem` (the random part of its file name) while WeChat's check of
    it is pending, else None: the checker may fetch it only then."""
    return await EvidenceFile.filter(storage_key=_photo_key(stem), content_check="pending").first()


def _photo_key(stem: str) -> str:
    return f"{stem[:2]}/{stem}.jpg"  # sharded by the first two hex digits


def evidence_path(media_dir: Path, key: str) -> Path:
    """The file a storage key names; `ValueError` if the key would leave `media_dir`."""
    if not key or "\x00" in key or PurePosixPath(key).is_absolute():
        raise ValueError(f"invalid evidence key {key!r}")
    root = media_dir.resolve()
    path = (root / key).resolve()
    if path == root or not path.is_relative_to(root):
        raise ValueError(f"evidence key {key!r} leaves the media directory")
    return path
