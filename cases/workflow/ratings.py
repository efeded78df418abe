"""The citizen's rating of a closed case: one per closure, on the scale in config/survey.toml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError

from cases.errors import TransitionNotAllowed, ValidationError
from cases.rules import Rules
from cases.store.models import Case, CaseEvent, Rating, Status

RATEABLE = frozenset({Status.CLOSED, Status.ARCHIVED})


class AlreadyRated(TransitionNotAllowed):
    code = "already_rated"


async def rate_case(rules: Rules, case: Case, answer: Mapping[str, Any], source: str) -> Rating:
    """Record the citizen's overall verdict, the dimensions they answered, and a comment."""
    scale = rules.survey
    if case.status not in RATEABLE:
        raise TransitionNotAllowed("案件办结后才能评价。", field="overall")
    overall = answer.get("overall")
    if overall not in scale.levels:
        raise ValidationError(
            f"请选择总体评价:{'、'.join(scale.levels.values())}。", field="overall"
        )
    raw_scores = answer.get("scores") or {}
    if not isinstance(raw_scores, Mapping):
        raise ValidationError("评价项格式不正确。", field="scores")
    scores = {}
    for dimension, level in raw_scores.items():
        if dimension not in scale.dimensions or level not in scale.levels:
            raise ValidationError(f"评价项“{dimension}”不正确。", field="scores")
        scores[dimension] = level
    comment = answer.get("comment") or ""
    if not isinstance(comment, str) or len(comment.strip()) > scale.comment_max_chars:
        raise ValidationError(f"意见请控制在 {scale.comment_max_chars} 字以内。", field="comment")
    closure = await CaseEvent.filter(case_id=case.id, action="close").count() or 1
    try:
        return await Rating.create(
            case=case,
            closure=closure,
            overall=overall,
            scores=scores,
            comment=comment.strip(),
            source=source,
        )
    except IntegrityError:
        raise AlreadyRated("您已评价过这次办理,感谢您的反馈。", field="overall") from None
