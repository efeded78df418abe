"""Access tokens shared by every process through the case store's database."""

from __future__ import annotations

from cases.models import WeChatToken


class DatabaseTokenStore:
    """TokenStore on the `wechat_token` table: app processes and workers share one token per
    appid, so a refresh in one does not leave the others holding an invalidated token."""

    async def get(self, appid: str) -> tuple[str, float] | None:
        row = await WeChatToken.get_or_none(appid=appid)
        return None if row is None else (row.token, row.expires_at)

    async def set(self, appid: str, token: str, expires_at: float) -> None:
        await WeChatToken.update_or_create(
            defaults={"token": token, "expires_at": expires_at}, appid=appid
        )
