"""The case store's tables. Rules live in the other modules of `cases`; these are only shapes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    INTAKE = "intake"
    HANDLER = "handler"
    LEADER = "leader"
    ADMIN = "admin"


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    NEEDS_INFO = "needs_info"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    REPLIED = "replied"
    CLOSED = "closed"
    ARCHIVED = "archived"
    REJECTED = "rejected"
    REFERRED_OUT = "referred_out"
    MERGED = "merged"
    WITHDRAWN = "withdrawn"


class NoticeStatus(StrEnum):
    PENDING = "pending"
    # Claimed by a worker until `locked_until`; a crashed worker's claim simply expires.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Department(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=100)
    role = fields.CharField(max_length=16)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "department"


class StaffUser(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=64)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=16)
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "cases.Department", related_name="staff", null=True, on_delete=fields.RESTRICT
    )
    department_id: int | None
    active = fields.BooleanField(default=True)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_user"


# One person across the official account and the mini-program (linked by UnionID).
class Citizen(Model):
    id = fields.IntField(primary_key=True)
    unionid = fields.CharField(max_length=64, unique=True, null=True)
    oa_openid = fields.CharField(max_length=64, unique=True, null=True)
    mp_openid = fields.CharField(max_length=64, unique=True, null=True)
    name = fields.CharField(max_length=50, default="")
    # Digits only (landlines keep their area code); lists show it through privacy.mask_phone.
    phone = fields.CharField(max_length=20, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    # When they last wrote to the official account: customer-service messages are allowed
    # for 48 hours after it.
    oa_last_seen_at = fields.DatetimeField(null=True)

    class Meta:
        table = "citizen"


class Case(Model):
    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=32, unique=True)
    kind = fields.CharField(max_length=32)
    category = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=32)
    severity = fields.CharField(max_length=32)
    status = fields.CharEnumField(Status, max_length=16)
    # Optimistic concurrency: every transition bumps it and checks the old value.
    version = fields.IntField(default=1)
    policy = fields.CharField(max_length=64)

    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "cases.Citizen", related_name="cases", null=True, on_delete=fields.RESTRICT
    )
    citizen_id: int | None
    anonymous = fields.BooleanField(default=False)
    contact_name = fields.CharField(max_length=50, default="")
    contact_phone = fields.CharField(max_length=20, default="", db_index=True)  # intake search
    contact_address = fields.CharField(max_length=200, default="")

    respondent_name = fields.CharField(max_length=100, default="")
    # Normalised respondent name for duplicate search (no spaces/punctuation, lower case).
    respondent_key = fields.CharField(max_length=100, default="", db_index=True)
    respondent_address = fields.CharField(max_length=200, default="")
    incident_at = fields.DatetimeField(null=True)
    incident_place = fields.CharField(max_length=200, default="")
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    description = fields.TextField()
    demands = fields.TextField(default="")

    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "cases.Department", related_name="cases", null=True, on_delete=fields.RESTRICT
    )
    department_id: int | None
    parent: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="linked", null=True, on_delete=fields.RESTRICT
    )
    merged_into: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="merged_cases", null=True, on_delete=fields.RESTRICT
    )
    duplicate_of: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="suspected_duplicates", null=True, on_delete=fields.RESTRICT
    )
    duplicate_of_id: int | None
    merged_into_id: int | None
    reject_reason = fields.CharField(max_length=64, default="")
    referred_to = fields.CharField(max_length=200, default="")
    # Recorded at closure: what the handling found (a code from the profile's [findings]) and
    # the staff member the complaint named, for the rates and the accountability counts.
    finding = fields.CharField(max_length=32, default="")
    named_staff = fields.CharField(max_length=50, default="")

    # Set by intake (not auto_now_add) so imports and tests keep the real filing time.
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField(auto_now=True)
    accepted_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    # Earliest due time of the running clocks, kept here so worklists sort on an index.
    next_due_at = fields.DatetimeField(null=True)

    class Meta:
        table = "case"
        indexes = (
            ("department_id", "status", "next_due_at"),
            ("status", "next_due_at"),
            ("created_at", "category"),
            # Statistics (cases/views/stats.py): each index holds the columns its counts read, so a
            # month is counted without visiting the wide case rows. Cases filed in a period by
            # kind, category, channel, unit; the rates' cohorts by acceptance and closure time.
            ("created_at", "status", "kind", "category", "channel", "department_id"),
            ("accepted_at", "status", "kind", "finding", "closed_at", "department_id"),
            ("closed_at", "kind", "finding", "department_id"),
            # A narrow copy of what the rates join clock runs and ratings to (unit, accepted,
            # closed): joining a month of them reads this index, not the wide case rows.
            ("id", "department_id", "accepted_at", "closed_at"),
            # The citizen's own cases by time: the daily quota, duplicates, their case list.
            ("citizen_id", "created_at"),
        )


# One run of one deadline clock of a case (a reopened case starts a new run).
class CaseClock(Model):
    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="clocks", on_delete=fields.RESTRICT
    )
    case_id: int
    name = fields.CharField(max_length=32)
    label = fields.CharField(max_length=32)
    amount = fields.IntField()
    unit = fields.CharField(max_length=16)
    rollover_holidays = fields.BooleanField(default=False)
    on_expiry = fields.CharField(max_length=32, default="")
    started_at = fields.DatetimeField()
    due_at = fields.DatetimeField()
    stopped_at = fields.DatetimeField(null=True)
    paused_at = fields.DatetimeField(null=True)
    # Closed pauses as [[iso start, iso end], ...]; appraisal and waiting time do not count.
    pauses: Any = fields.JSONField(default=list)
    extensions_used = fields.IntField(default=0)
    extended_by = fields.IntField(default=0)
    expiry_handled = fields.BooleanField(default=False)
    # The unit holding the case when this run started (the return window's unit is the one
    # that must answer; the case's own unit changes with a return and a new assignment).
    department_id = fields.IntField(null=True)

    class Meta:
        table = "case_clock"
        # The second serves the rates: one clock's runs stopped (or due) in a period; the
        # third a case's own clocks (workflow, deadlines, the bot's acceptance date).
        indexes = (
            ("stopped_at", "due_at"),
            ("name", "stopped_at", "due_at", "case_id"),
            ("case_id", "name"),
        )


# A due-soon or overdue reminder about one clock run, raised once per configured point
# ([reminders] in the profile) and shown to the case's unit and to intake until read.
class Reminder(Model):
    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="reminders", on_delete=fields.RESTRICT
    )
    case_id: int
    clock: fields.ForeignKeyRelation[CaseClock] = fields.ForeignKeyField(
        "cases.CaseClock", related_name="reminders", on_delete=fields.RESTRICT
    )
    clock_id: int
    point = fields.CharField(max_length=32)
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "cases.Department", related_name="reminders", null=True, on_delete=fields.RESTRICT
    )
    department_id: int | None
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)
    read_by = fields.CharField(max_length=64, default="")

    class Meta:
        table = "reminder"
        unique_together = (("clock", "point"),)
        indexes = (("department_id", "read_at"),)


# The append-only timeline: rows are inserted, never updated or deleted.
class CaseEvent(Model):
    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="events", on_delete=fields.RESTRICT
    )
    case_id: int
    at = fields.DatetimeField()
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.IntField(null=True)
    actor_name = fields.CharField(max_length=64, default="")
    action = fields.CharField(max_length=32)
    from_status = fields.CharField(max_length=16, default="")
    to_status = fields.CharField(max_length=16, default="")
    note = fields.TextField(default="")
    data: Any = fields.JSONField(default=dict)
    # Shown to the citizen in their timeline (internal notes are not).
    public = fields.BooleanField(default=True)

    class Meta:
        table = "case_event"
        # Timelines read by case; the leader's list finds pending extensions by action.
        indexes = (("case_id", "at"), ("action", "case_id"))

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if self._saved_in_db:
            raise PermissionError("case events are append-only")
        await super().save(*args, **kwargs)

    async def delete(self, *_args: Any, **_kwargs: Any) -> None:
        raise PermissionError("case events are append-only")


class EvidenceFile(Model):
    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="evidence", null=True, on_delete=fields.RESTRICT
    )
    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "cases.Citizen", related_name="uploads", null=True, on_delete=fields.RESTRICT
    )
    sha256 = fields.CharField(max_length=64, db_index=True)
    size_bytes = fields.IntField()
    mime = fields.CharField(max_length=64)
    width = fields.IntField()
    height = fields.IntField()
    storage_key = fields.CharField(max_length=128)
    thumb_key = fields.CharField(max_length=128, default="")
    # pending / pass / risky / review / skipped: risky and review images: staff only.
    content_check = fields.CharField(max_length=16, default="pending")
    # mediaCheckAsync's trace id: the verdict push names it.
    check_trace_id = fields.CharField(max_length=64, default="", db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "evidence_file"
        # The citizen's photos not yet on a case (the chat's filing, the upload's attach).
        indexes = (("citizen_id", "case_id", "created_at"),)


# Transactional outbox: written with the event it announces, delivered by the worker.
class Notice(Model):
    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="notices", on_delete=fields.RESTRICT
    )
    event: fields.ForeignKeyRelation[CaseEvent] = fields.ForeignKeyField(
        "cases.CaseEvent", related_name="notices", on_delete=fields.RESTRICT
    )
    case_id: int
    event_id: int
    kind = fields.CharField(max_length=32)
    channel = fields.CharField(max_length=32)
    payload: Any = fields.JSONField(default=dict)
    status = fields.CharEnumField(NoticeStatus, max_length=16, default=NoticeStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_error = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    locked_until = fields.DatetimeField(null=True)
    # WeChat's msgid, and what its TEMPLATESENDJOBFINISH report said about it.
    delivery_id = fields.CharField(max_length=64, default="", db_index=True)
    delivery_status = fields.CharField(max_length=64, default="")

    class Meta:
        table = "notice"
        indexes = (("status", "next_attempt_at"),)


# A staff member's console or API session: the cookie/bearer token is stored as its SHA-256.
class StaffSession(Model):
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "cases.StaffUser", related_name="sessions", on_delete=fields.CASCADE
    )
    user_id: int
    # Per-session secret that every form must echo (CSRF).
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "staff_session"


# Mini-program sign-in: the citizen's bearer token, stored only as its SHA-256.
class MpSession(Model):
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "cases.Citizen", related_name="mp_sessions", on_delete=fields.CASCADE
    )
    citizen_id: int
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "mp_session"


# A submission's answer kept under the client's Idempotency-Key: a retry gets it again.
class IdempotencyRecord(Model):
    id = fields.IntField(primary_key=True)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "cases.Citizen", related_name="idempotency_records", on_delete=fields.CASCADE
    )
    citizen_id: int
    key = fields.CharField(max_length=64)
    request_hash = fields.CharField(max_length=64)
    status = fields.IntField()
    body: Any = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "idempotency_record"
        unique_together = (("citizen", "key"),)


class SurveyStatus(StrEnum):
    SCHEDULED = "scheduled"  # the invitation notice waits for its send time
    ANSWERED = "answered"
    UNANSWERED = "unanswered"  # the window closed without an answer (not "satisfied")
    CANCELLED = "cancelled"  # the case was reopened before an answer came


# The satisfaction survey of one closure: invitation time, answer window, outcome.
class Survey(Model):
    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="surveys", on_delete=fields.RESTRICT
    )
    case_id: int
    closure = fields.IntField()
    status = fields.CharEnumField(SurveyStatus, max_length=16, default=SurveyStatus.SCHEDULED)
    invite_at = fields.DatetimeField()
    closes_at = fields.DatetimeField(db_index=True)
    answered_at = fields.DatetimeField(null=True)
    # 不满意 with the result: waits for a leader to reopen the case or uphold the closure.
    needs_review = fields.BooleanField(default=False, db_index=True)
    reviewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "survey"
        unique_together = (("case", "closure"),)


# The citizen's verdict on a closed case; one per closure (a reopened case is rated again).
class Rating(Model):
    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "cases.Case", related_name="ratings", on_delete=fields.RESTRICT
    )
    case_id: int
    closure = fields.IntField(default=1)
    overall = fields.CharField(max_length=16)
    scores: Any = fields.JSONField(default=dict)  # dimension -> level
    comment = fields.TextField(default="")
    source = fields.CharField(max_length=32)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "rating"
        unique_together = (("case", "closure"),)
        indexes = (("created_at", "overall", "case_id"),)  # 满意率: the ratings of a period


# Mini-program subscribe-message consents: each "accept" in wx.requestSubscribeMessage allows
# WeChat to deliver one message of that template, so the ledger counts what is left.
class SubscribeConsent(Model):
    id = fields.IntField(primary_key=True)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "cases.Citizen", related_name="consents", on_delete=fields.CASCADE
    )
    citizen_id: int
    template_id = fields.CharField(max_length=64)
    remaining = fields.IntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "subscribe_consent"
        unique_together = (("citizen", "template_id"),)


# Where a citizen is in a chat-bot dialogue; each step is saved so nothing typed is lost.
class ConversationState(Model):
    id = fields.IntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    state = fields.CharField(max_length=32)
    data: Any = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation_state"


# Shared access-token cache: one row per appid, so every process uses the same token.
class WeChatToken(Model):
    appid = fields.CharField(max_length=64, primary_key=True)
    token = fields.CharField(max_length=512)
    expires_at = fields.FloatField()

    class Meta:
        table = "wechat_token"


# One row per WeChat push handled: a retried push finds it and gets the same answer.
class PushReceipt(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=128, unique=True)
    reply = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "push_receipt"


# Per-day case number sequences, incremented with one atomic upsert.
class NumberCounter(Model):
    key = fields.CharField(max_length=16, primary_key=True)
    value = fields.IntField()

    class Meta:
        table = "number_counter"
