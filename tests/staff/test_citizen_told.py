"""The console says which text the citizen will read, and only that text reaches them."""

from __future__ import annotations

import html
import re

from cases.store.models import Case
from cases.views.tracking import public_timeline
from tests.factories import make_case
from tests.staff.conftest import StaffWorld


def _form(body: str, action: str) -> str:
    match = re.search(rf'<form class="action"[^>]*id="{action}">(.*?)</form>', body, re.S)
    assert match, action
    return html.unescape(match.group(1))


async def test_accepting_keeps_the_note_inside_and_tells_the_citizen_only_their_text(
    staff_world: StaffWorld,
) -> None:
    case = await make_case(staff_world.rules)
    intake = await staff_world.console("intake", "centre")
    status, body = await intake.get(f"/staff/cases/{case.number}")
    assert status == 200
    form = _form(body, "accept")
    assert "(内部,市民看不到)" in form and 'name="note"' in form
    assert "将告知市民" in form and 'name="public_note"' in form
    # A reply's note is the answer itself: the form says the citizen reads it.
    assert "将告知市民" in _form(body, "reject")

    status, _ = await intake.post(
        f"/staff/cases/{case.number}/actions/accept",
        {"note": "科长已同意受理", "public_note": "您的投诉已受理,我们会尽快处理"},
    )
    assert status == 302
    case = await Case.get(id=case.id)
    notes = [e.note for e in await public_timeline(staff_world.rules, case)]
    assert "您的投诉已受理,我们会尽快处理" in notes
    assert not any("科长" in n for n in notes)
    _, page = await intake.get(f"/staff/cases/{case.number}")
    assert "科长已同意受理" in page and "您的投诉已受理,我们会尽快处理" in page  # staff see both
