"""The chat's hot rows in plain SQL read and write exactly what the ORM does (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from cases.rules import Rules
from cases.store import rows
from cases.store.models import Citizen, ConversationState, PushReceipt

NOW = datetime(2026, 12, 8, 4, 1, 0, 810493, tzinfo=UTC)


async def test_a_citizen_read_in_sql_equals_the_orm_s(store: Rules) -> None:
    made = await Citizen.create(oa_openid="oRows1", name="张三", oa_last_seen_at=NOW)
    raw = await rows.citizen_by("oa_openid", "oRows1")
    orm = await Citizen.get(id=made.id)
    assert raw is not None
    for field in Citizen._meta.db_fields:
        assert getattr(raw, field) == getattr(orm, field), field
    assert raw.oa_last_seen_at == NOW and raw.created_at.tzinfo is not None
    assert await rows.citizen_by("mp_openid", "oRows1") is None
    # The instance behaves as the ORM's: it can be saved back.
    raw.name = "李四"
    await raw.save(update_fields=["name"])
    assert (await Citizen.get(id=made.id)).name == "李四"


async def test_a_draft_is_upserted_in_one_row_and_reads_back_as_written(store: Rules) -> None:
    data = {"kind": "complaint", "answers": {"respondent_name": "城东便民超市"}, "n": 3}
    await rows.save_draft("oRows2", "filing", data, NOW)
    await rows.save_draft("oRows2", "filing", {**data, "n": 4}, NOW + timedelta(seconds=5))
    assert await ConversationState.filter(openid="oRows2").count() == 1
    draft = await rows.draft_of("oRows2")
    orm = await ConversationState.get(openid="oRows2")
    assert draft is not None and draft.data == orm.data == {**data, "n": 4}
    assert draft.state == "filing" and draft.updated_at == NOW + timedelta(seconds=5)
    await rows.discard_draft("oRows2")
    assert await rows.draft_of("oRows2") is None


async def test_receipts_are_written_both_or_neither(store: Rules) -> None:
    await rows.write_receipts("oa:msg:1", "<xml>答复</xml>", "oa:nonce:1", NOW)
    stored = {r.key: r.reply for r in await PushReceipt.all()}
    assert stored == {"oa:msg:1": "<xml>答复</xml>", "oa:nonce:1": ""}
    # A new push whose request repeats a nonce: neither row, and the transaction goes on.
    with pytest.raises(IntegrityError):
        async with in_transaction():
            await rows.write_receipts("oa:msg:2", "x", "oa:nonce:1", NOW)
    assert not await PushReceipt.exists(key="oa:msg:2")
    assert await PushReceipt.filter(created_at__gte=NOW).count() == 2
