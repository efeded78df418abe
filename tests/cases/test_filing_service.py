"""The one filing service (issue 16): quota, case, photos and the idempotent answer in one
transaction, whichever channel files."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections

from cases.errors import TooManyRequests, ValidationError
from cases.intake import filing
from cases.intake.filing import Once, file_case
from cases.intake.photos import SentSince, Uploads, ingest_photo
from cases.rules import Rules
from cases.store.idempotency import KeyReused, fingerprint
from cases.store.models import Case, Citizen, EvidenceFile, IdempotencyRecord
from cases.workflow.timeline import Actor
from tests.factories import complaint_form, make_case, make_citizen
from tests.images import encode, two_tone


async def _photo(media: Path, citizen: Citizen) -> EvidenceFile:
    return await ingest_photo(media, encode(two_tone()), citizen_id=citizen.id)


async def _file(rules: Rules, citizen: Citizen, **kw: Any) -> Any:
    """A citizen's filing with a quota of one case a day."""
    return await file_case(
        rules,
        complaint_form(),
        Actor.of_citizen(citizen),
        channel="mini_program",
        citizen=citizen,
        cases_per_day=1,
        **kw,
    )


async def _number_of(case: Case) -> dict[str, Any]:
    return {"number": case.number}


def _once(key: str = "k1", **form: Any) -> Once:
    return Once(key, fingerprint(complaint_form(**form)), _number_of)


# --- photos: attached in the filing's own transaction ---------------------------------------


async def test_named_uploads_are_attached_with_the_case(store: Rules, tmp_path: Path) -> None:
    citizen = await make_citizen()
    photos = [await _photo(tmp_path, citizen) for _ in range(2)]
    case = await _file(store, citizen, photos=Uploads(tuple(p.id for p in photos)))
    assert await EvidenceFile.filter(case_id=case.id).count() == 2


async def test_someone_elses_upload_files_nothing_and_spends_no_quota(
    store: Rules, tmp_path: Path
) -> None:
    citizen, other = await make_citizen(), await make_citizen()
    mine, theirs = await _photo(tmp_path, citizen), await _photo(tmp_path, other)
    with pytest.raises(ValidationError) as exc:
        await _file(store, citizen, photos=Uploads((mine.id, theirs.id)))
    assert exc.value.field == "upload_ids"
    assert exc.value.message == "有照片已失效或不属于您,请重新上传。"
    assert await Case.all().count() == 0
    assert await EvidenceFile.filter(case_id__isnull=False).count() == 0
    # The quota of one case a day is not spent: the same filing with their own photo passes.
    case = await _file(store, citizen, photos=Uploads((mine.id,)))
    assert await EvidenceFile.filter(case_id=case.id).count() == 1


async def test_an_upload_already_on_a_case_is_refused(store: Rules, tmp_path: Path) -> None:
    citizen = await make_citizen()
    photo = await _photo(tmp_path, citizen)
    first = await make_case(store)  # another citizen's: this one's quota stays free
    await EvidenceFile.filter(id=photo.id).update(case_id=first.id)
    with pytest.raises(ValidationError) as exc:
        await _file(store, citizen, photos=Uploads((photo.id,)))
    assert exc.value.field == "upload_ids"
    assert await Case.all().count() == 1


async def test_the_chats_photos_are_those_sent_since_the_draft_began(
    store: Rules, tmp_path: Path
) -> None:
    citizen, other = await make_citizen(), await make_citizen()
    began = datetime.now(UTC) - timedelta(minutes=5)
    earlier = await _photo(tmp_path, citizen)
    await EvidenceFile.filter(id=earlier.id).update(created_at=began - timedelta(hours=1))
    sent = [await _photo(tmp_path, citizen) for _ in range(2)]
    await _photo(tmp_path, other)
    case = await _file(store, citizen, photos=SentSince(began))
    attached = await EvidenceFile.filter(case_id=case.id).order_by("id")
    assert [p.id for p in attached] == [p.id for p in sent]


async def test_a_failing_attach_leaves_no_case_and_no_quota_spent(
    store: Rules, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chat attached its photos in a second transaction: a crash between the two left a
    case without its photos. Now the attaching fails the filing itself."""
    citizen = await make_citizen()
    began = datetime.now(UTC) - timedelta(minutes=5)
    photo = await _photo(tmp_path, citizen)

    async def crash(*args: Any) -> int:
        raise RuntimeError("crash while attaching")

    with monkeypatch.context() as patched:
        patched.setattr(filing, "attach_photos", crash)
        with pytest.raises(RuntimeError):
            await _file(store, citizen, photos=SentSince(began), once=_once())
    assert await Case.all().count() == 0
    assert await IdempotencyRecord.all().count() == 0
    assert (await EvidenceFile.get(id=photo.id)).case_id is None  # type: ignore[attr-defined]
    # Sent again, the same filing takes the photo along (and the quota was not spent).
    status, body = await _file(store, citizen, photos=SentSince(began), once=_once())
    case = await Case.get(number=body["number"])
    assert status == 201
    assert (await EvidenceFile.get(id=photo.id)).case_id == case.id  # type: ignore[attr-defined]


async def test_photos_need_a_citizen(store: Rules) -> None:
    with pytest.raises(ValueError):
        await file_case(
            store, complaint_form(), Actor.system(), channel="phone", photos=Uploads((1,))
        )


# --- the idempotent answer ------------------------------------------------------------------


async def test_the_same_key_twice_gives_the_same_case(store: Rules) -> None:
    citizen = await make_citizen()
    first = await _file(store, citizen, once=_once())
    again = await _file(store, citizen, once=_once())  # over the quota of one: still answered
    assert first == again == (201, {"number": first[1]["number"]})
    assert await Case.all().count() == 1
    assert await IdempotencyRecord.all().count() == 1


async def test_the_same_key_with_another_request_is_refused(store: Rules) -> None:
    citizen = await make_citizen()
    await _file(store, citizen, once=_once())
    with pytest.raises(KeyReused):
        await _file(store, citizen, once=_once(demands="换一个诉求"))
    assert await Case.all().count() == 1
    # Another key is another filing (here refused by the quota of one case a day).
    with pytest.raises(TooManyRequests):
        await _file(store, citizen, once=_once("k2"))


async def test_twin_requests_at_the_quota_get_the_first_answer(store: Rules) -> None:
    """Two copies of one request at once, the quota allowing one more case: the second waits
    for the first under the citizen's lock and answers as it did (it counted the quota first
    and got 429)."""
    citizen = await make_citizen()
    answers = await asyncio.gather(*(_file(store, citizen, once=_once()) for _ in range(2)))
    assert answers[0] == answers[1] and answers[0][0] == 201
    assert await Case.all().count() == 1


async def test_the_screen_runs_only_for_a_new_request_within_the_quota(store: Rules) -> None:
    citizen = await make_citizen()
    screened: list[bool] = []

    async def screen() -> None:
        screened.append(True)

    status, _ = await _file(store, citizen, once=_once(), screen=screen)
    assert status == 201 and screened == [True]
    await _file(store, citizen, once=_once(), screen=screen)  # a retry
    assert screened == [True]
    with pytest.raises(TooManyRequests):  # over the quota: not screened
        await _file(store, citizen, once=_once("k2"), screen=screen)
    assert screened == [True]


async def test_a_refusing_screen_files_nothing(store: Rules) -> None:
    citizen = await make_citizen()

    async def screen() -> None:
        raise ValidationError("内容中含有不适宜发布的信息,请修改后再提交。", field="description")

    with pytest.raises(ValidationError):
        await _file(store, citizen, once=_once(), screen=screen)
    assert await Case.all().count() == 0
    assert await IdempotencyRecord.all().count() == 0


async def test_what_every_filing_asks_about_its_citizen_reads_an_index(
    store: Rules, database_url: str
) -> None:
    # Without the citizen indexes (0013) the quota read every case filed in 24 hours and the
    # chat's photos every photo ever kept, once per filing.
    if not database_url.startswith("sqlite://"):
        pytest.skip("SQLite's query plans")
    now = datetime.now(UTC)
    queries = (
        Case.filter(citizen_id=1, created_at__gt=now).count(),
        EvidenceFile.filter(citizen_id=1, case_id__isnull=True, created_at__gte=now).only("id"),
    )
    conn = connections.get("default")
    for query in queries:
        _, plan = await conn.execute_query(f"EXPLAIN QUERY PLAN {query.sql()}", [1, now])
        details = " ".join(str(row["detail"]) for row in plan)
        assert "USING COVERING INDEX" in details and "SCAN" not in details, details
