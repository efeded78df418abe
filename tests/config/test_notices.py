"""Notice templates: every case event has one, WeChat's 2023 rules are enforced at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.workflow.actions import ACTIONS
from config.notices import load_notice_templates
from config.settings import ConfigError


def test_every_event_that_notifies_the_citizen_has_a_template() -> None:
    templates = load_notice_templates()
    kinds = {action.notice for action in ACTIONS.values() if action.notice}
    assert kinds <= set(templates.oa) and kinds <= set(templates.mp)
    assert templates.field_max_chars == 20


@pytest.mark.parametrize("retired", ["first", "remark"])
def test_retired_first_and_remark_lines_are_refused(tmp_path: Path, retired: str) -> None:
    path = tmp_path / "notices.toml"
    path.write_text(
        f'[oa.accepted]\ntemplate_id = "t"\nfields = {{ {retired} = "您好", thing2 = "已受理" }}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc:
        load_notice_templates(path)
    assert "oa.accepted" in str(exc.value) and retired in str(exc.value)


def test_a_broken_field_text_names_the_notice(tmp_path: Path) -> None:
    path = tmp_path / "notices.toml"
    path.write_text('[oa.closed]\ntemplate_id = "t"\nfields = { thing2 = "{{ number" }\n')
    with pytest.raises(ConfigError) as exc:
        load_notice_templates(path)
    assert "oa.closed" in str(exc.value)


def test_values_are_flattened_and_cut_to_the_field_limit() -> None:
    templates = load_notice_templates()
    values = {"number": "TS1", "kind": "投诉", "note": "第一行\n第二行" + "很长" * 20}
    data = templates.render_oa("needs_info", values).data
    assert "\n" not in data["thing3"] and len(data["thing3"]) == 20
    assert data["thing3"].startswith("第一行 第二行") and data["thing3"].endswith("…")


def test_mini_program_fields_are_cut_to_their_type_limit() -> None:
    templates = load_notice_templates()
    assert templates.mp_limit("phrase2") == 5 and templates.mp_limit("character_string1") == 32
    assert templates.mp_limit("thing13") == 20
    rendered = templates.render_mp("replied", {"number": "TS1", "note": "答" * 30})
    assert rendered.page == "pages/case/detail?number=TS1"
    assert rendered.data["phrase2"] == "已答复" and len(rendered.data["thing3"]) == 20
    assert rendered.cut


def test_the_full_text_follows_only_what_was_cut() -> None:
    templates = load_notice_templates()
    short = templates.render_oa("replied", {"number": "TS1", "kind": "投诉", "note": "已退货"})
    assert not short.cut
    long = templates.render_oa("replied", {"number": "TS1", "kind": "投诉", "note": "经" * 40})
    assert long.cut and long.text == "您的投诉(编号TS1)答复如下:" + "经" * 40
