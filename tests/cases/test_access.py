"""Staff find a case by its number through `case_for_staff`, and only within their view."""

from __future__ import annotations

import pytest

from cases.errors import NotFound
from cases.rules import Rules
from cases.store.models import Case
from cases.views.access import case_for_staff
from tests.factories import department_id, make_case, make_staff


async def test_staff_find_a_case_by_number_within_their_view(store: Rules) -> None:
    case = await make_case(store)
    other = await make_case(store)
    intake = await make_staff("intake", "centre")
    found = await case_for_staff(intake, case.number)
    assert found.id == case.id
    # Typed loosely (lower case, spaces) it is the same number.
    loose = f"{case.number[:2].lower()} {case.number[2:]}"
    assert (await case_for_staff(intake, loose)).id == case.id
    with pytest.raises(NotFound) as missing:
        await case_for_staff(intake, "TS0000")
    # Another unit's case is not found either, in the same words; the unit's own one is.
    await Case.filter(id=other.id).update(department_id=await department_id("food"))
    with pytest.raises(NotFound) as hidden:
        await case_for_staff(await make_staff("handler", "consumer"), other.number)
    assert (hidden.value.message, hidden.value.field) == (missing.value.message, "number")
    food = await make_staff("handler", "food")
    assert (await case_for_staff(food, other.number)).id == other.id
