"""Domain errors. Each carries a stable code, a message a person understands, and the field."""

from __future__ import annotations


class CaseError(Exception):
    """Base of every refusal by the case store; faces map `status` to HTTP."""

    code = "case_error"
    status = 400

    def __init__(self, message: str, *, field: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "field": self.field}


class ValidationError(CaseError):
    """Input that breaks an intake rule; nothing has been written."""

    code = "invalid"
    status = 422


class NotFound(CaseError):
    """Missing, or not yours to see: the same answer for both."""

    code = "not_found"
    status = 404


class TransitionNotAllowed(CaseError):
    """The workflow does not allow this action in the case's current state."""

    code = "transition_not_allowed"
    status = 409


class PermissionDenied(CaseError):
    """The actor's role (or unit) may not take this action."""

    code = "forbidden"
    status = 403


class TooManyRequests(CaseError):
    """Slow down: allowed again after `retry_after` seconds (sent as Retry-After)."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int, field: str = "") -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class ConcurrentChange(CaseError):
    """Someone else changed the case first; reload and try again."""

    code = "concurrent_change"
    status = 409
