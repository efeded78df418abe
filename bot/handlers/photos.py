"""Photos sent in the chat: fetched from WeChat at once (media ids expire after 3 days),
checked, re-encoded without EXIF/GPS and kept as evidence of the draft or the new case."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.texts import Texts
from cases.errors import CaseError
from cases.intake.drafts import load_conversation, save_conversation
from cases.intake.photos import attach_late_photo, ingest_photo
from cases.store.evidence import MAX_PHOTO_BYTES
from cases.store.models import Citizen
from wechat.client import WeChatClient
from wechat.errors import WeChatError

log = logging.getLogger(__name__)


async def save_photo(
    client: WeChatClient, media_dir: Path, texts: Texts, citizen: Citizen, media_id: str
) -> None:
    """Download, clean and store one photo; tell the citizen politely if it cannot be kept."""
    try:
        raw, _declared_type = await client.download_media(media_id, MAX_PHOTO_BYTES)
        # Stored under the citizen's lock, which a filing holds until it commits: either the
        # filing takes this photo along, or this photo sees the draft gone and joins the case
        # below. Without it, a photo committed just after the filing looked for photos, but
        # before the filing committed, belonged to neither.
        evidence = await ingest_photo(media_dir, raw, citizen_id=citizen.id)
    except (WeChatError, CaseError) as exc:
        reason = exc.message if isinstance(exc, CaseError) else "下载失败,请重新发送这张照片"
        log.info("photo %s of citizen %s not kept: %s", media_id, citizen.id, exc)
        await _tell(client, texts, citizen, reason, await _uncount(citizen))
        return
    draft = await load_conversation(citizen.oa_openid or "")
    if draft is None:
        # The citizen confirmed before this photo was ready: it belongs to that case.
        await attach_late_photo(evidence, citizen.id, "official_account")


async def _uncount(citizen: Citizen) -> int | None:
    """The draft counted the photo when it arrived; it was not kept, so it no longer counts.
    Returns the photos the draft now has (None without a draft)."""
    openid = citizen.oa_openid or ""
    draft = await load_conversation(openid)
    if draft is None or not isinstance(draft.data.get("photo_count"), int):
        return None
    kept = max(0, draft.data["photo_count"] - 1)
    await save_conversation(openid, draft.state, {**draft.data, "photo_count": kept})
    return kept


async def _tell(
    client: WeChatClient, texts: Texts, citizen: Citizen, reason: str, kept: int | None
) -> None:
    try:
        text = texts.render("photo_failed", reason=reason, kept=kept)
        await client.send_text(citizen.oa_openid or "", text)
    except WeChatError as exc:
        log.warning("could not tell citizen %s about a failed photo: %s", citizen.id, exc)
