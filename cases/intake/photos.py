"""A citizen's photos on their way to a case: taken in (`ingest_photo`), then attached.

Every channel hands its photo's bytes to `ingest_photo` once it has fetched them (a WeChat
media download, a multipart upload): the photo is re-encoded without EXIF/GPS off the event
loop and stored under the citizen's lock. A filing or a supplement then attaches the photos
it names in its own transaction (`attach_photos`); a chat photo ready only after its filing
joins that case (`attach_late_photo`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tortoise.backends.base.client import BaseDBAsyncClient

from cases.errors import ValidationError
from cases.intake.quotas import check_upload_quota, lock_citizen
from cases.store.evidence import attach_evidence, process_image, store_evidence
from cases.store.models import Case, EvidenceFile

# A photo that finishes after the citizen confirmed belongs to the case filed this recently.
LATE_PHOTO_WINDOW = timedelta(minutes=30)


async def ingest_photo(
    media_dir: Path,
    raw: bytes,
    *,
    citizen_id: int,
    uploads_per_hour: int | None = None,
    content_check: str = "skipped",
) -> EvidenceFile:
    """Check, re-encode and store one photo of the citizen's; raises `ImageRejected` for a
    photo we will not keep, `TooManyRequests` past `uploads_per_hour` (None: not counted).

    The row is written under the citizen's lock, which a filing holds until it commits: a photo
    sent during the chat is either seen by the filing or stored after it, never lost between.
    """
    # Decoding and re-encoding are CPU-bound: in a worker thread the loop keeps answering.
    image = await asyncio.to_thread(process_image, raw)

    async def admit(conn: BaseDBAsyncClient) -> None:
        await lock_citizen(citizen_id, conn)
        if uploads_per_hour is not None:  # counted under the same lock
            await check_upload_quota(citizen_id, datetime.now(UTC), uploads_per_hour, conn)

    return await store_evidence(
        media_dir, image, citizen_id=citizen_id, content_check=content_check, admit=admit
    )


@dataclass(frozen=True)
class Uploads:
    """Photos uploaded first and named by id (the mini-program): each must be the citizen's
    own and on no case yet, else the filing is refused."""

    ids: tuple[int, ...]


@dataclass(frozen=True)
class SentSince:
    """Every photo the citizen sent since `moment` that is on no case yet (the chat's photos
    arrive one by one during the dialogue)."""

    moment: datetime


Photos = Uploads | SentSince


async def attach_photos(
    photos: Photos, case_id: int, citizen_id: int, conn: BaseDBAsyncClient
) -> int:
    """Attach the citizen's `photos` to the case in `conn`'s transaction; how many were."""
    if isinstance(photos, SentSince):
        sent = (
            await EvidenceFile.filter(
                citizen_id=citizen_id, case_id__isnull=True, created_at__gte=photos.moment
            )
            .using_db(conn)
            .only("id")
        )
        return await attach_evidence([p.id for p in sent], case_id, conn, citizen_id=citizen_id)
    ids = list(dict.fromkeys(photos.ids))
    attached = await attach_evidence(ids, case_id, conn, citizen_id=citizen_id)
    if attached != len(ids):
        raise ValidationError("有照片已失效或不属于您,请重新上传。", field="upload_ids")
    return attached


async def attach_late_photo(evidence: EvidenceFile, citizen_id: int, channel: str) -> int:
    """A photo stored after the citizen's filing took the draft's photos (the chat fetches
    them in the background) joins the case they filed last by `channel`, if it was filed
    within LATE_PHOTO_WINDOW before the photo; how many were attached (0 or 1)."""
    case = await Case.filter(citizen_id=citizen_id, channel=channel).order_by("-created_at").first()
    if case is None or case.created_at < evidence.created_at - LATE_PHOTO_WINDOW:
        return 0
    return await attach_evidence([evidence.id], case.id, citizen_id=citizen_id)
