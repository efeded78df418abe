"""A push from WeChat reduced to what the handlers need."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Incoming:
    openid: str
    account: str  # our official account's id (ToUserName), the reply's sender
    type: str  # text (voice with recognition too), image, location, event, other
    create_time: int
    msg_id: str = ""
    text: str = ""
    media_id: str = ""
    latitude: float | None = None
    longitude: float | None = None
    label: str = ""
    event: str = ""
    event_key: str = ""
    # TEMPLATESENDJOBFINISH reports: which template message, and what became of it.
    report_msg_id: str = ""
    report_status: str = ""

    @property
    def dedupe_key(self) -> str:
        """Sender + MsgId for messages, sender + time + event for events, as WeChat documents:
        a MsgId is unique per sender only, so another sender's MsgId is another push."""
        if self.msg_id:
            return f"oa:msg:{self.openid}:{self.msg_id}"
        return f"oa:evt:{self.openid}:{self.create_time}:{self.event}:{self.event_key}"


def from_fields(raw: dict[str, Any]) -> Incoming:
    """Build from the verified XML's fields (never from the query string)."""
    msg_type = str(raw["MsgType"]).lower()
    base = Incoming(
        openid=str(raw["FromUserName"]),
        account=str(raw["ToUserName"]),
        type="other",
        create_time=int(raw.get("CreateTime") or 0),
        msg_id=str(raw.get("MsgId") or ""),
    )
    if msg_type == "text":
        return replace(base, type="text", text=str(raw.get("Content") or "").strip())
    if msg_type == "voice" and raw.get("Recognition"):
        # WeChat's speech recognition: treated as if the citizen had typed it.
        return replace(base, type="text", text=str(raw["Recognition"]).strip(" 。"))
    if msg_type == "image":
        return replace(base, type="image", media_id=str(raw.get("MediaId") or ""))
    if msg_type == "location":
        return replace(
            base,
            type="location",
            latitude=float(raw["Location_X"]),
            longitude=float(raw["Location_Y"]),
            label=str(raw.get("Label") or ""),
        )
    if msg_type == "event":
        return replace(
            base,
            type="event",
            event=str(raw.get("Event") or "").lower(),
            event_key=str(raw.get("EventKey") or ""),
            report_msg_id=str(raw.get("MsgID") or ""),
            report_status=str(raw.get("Status") or ""),
        )
    return base
