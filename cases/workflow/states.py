"""The states a case passes through, grouped as the workflow reads them, and their names."""

from __future__ import annotations

from cases.store.models import Status

S = Status

OPEN_STATES = frozenset(
    {S.DRAFT, S.SUBMITTED, S.NEEDS_INFO, S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS, S.REPLIED}
)
FINISHED_STATES = frozenset({S.CLOSED, S.REJECTED, S.REFERRED_OUT, S.MERGED, S.WITHDRAWN})
# Before a unit has the case: the centre's acceptance stage.
ACCEPTING = frozenset({S.SUBMITTED, S.NEEDS_INFO})
BEFORE_HANDLING = frozenset({*ACCEPTING, S.ACCEPTED})
# Where a decision a profile may put under a leader's approval (reject, refer_out, reply) can be
# drafted, and so approved or refused.
DRAFTABLE_STATES = frozenset({*BEFORE_HANDLING, S.IN_PROGRESS})

STATUS_LABELS = {
    S.DRAFT: "草稿",
    S.SUBMITTED: "待受理",
    S.NEEDS_INFO: "待补充材料",
    S.ACCEPTED: "已受理",
    S.ASSIGNED: "已交办",
    S.IN_PROGRESS: "办理中",
    S.REPLIED: "已答复",
    S.CLOSED: "已办结",
    S.ARCHIVED: "已归档",
    S.REJECTED: "不予受理",
    S.REFERRED_OUT: "已移送",
    S.MERGED: "已合并",
    S.WITHDRAWN: "已撤回",
}
