"""The one exception family of leadflow: every refusal names the field and the reason."""

from __future__ import annotations


class LeadflowError(Exception):
    """A refusal with a field and a human reason; nothing was changed."""

    status_code = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"error": self.message, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class PlaybookError(LeadflowError):
    """The playbook is invalid; `issues` holds every (path, reason) found."""

    def __init__(self, issues: list[tuple[str, str]], source: str = "playbook") -> None:
        self.issues = issues
        first_path, first_reason = issues[0] if issues else ("", "invalid playbook")
        super().__init__(
            f"{source}: {len(issues)} error(s); first: {first_path}: {first_reason}",
            field=first_path or None,
        )


class InvalidTransition(LeadflowError):
    """The playbook does not allow this status change."""

    status_code = 409


class MissingReason(LeadflowError):
    """The target status needs a reason and none was given."""


class UnknownReason(LeadflowError):
    """The reason is not in the playbook's list for the target status."""


class UnknownStatus(LeadflowError):
    """The status is neither one of the playbook's nor a mapped legacy status."""


class NotFound(LeadflowError):
    """A record that was asked for does not exist."""

    status_code = 404


class InitialSourceLocked(LeadflowError):
    """Initial Source is set once and never overwritten (D6)."""

    status_code = 409


class UnrecordedChange(LeadflowError):
    """A write reached the store outside the unit of work's change context."""

    status_code = 500


class InvalidInput(LeadflowError):
    """An input value is missing or malformed."""


class NotPermitted(InvalidInput):
    """The acting user's role or the ownership rules (P2-P5, R10) do not allow this change."""

    status_code = 403


class Conflict(LeadflowError):
    """The change conflicts with what is stored: a duplicate, or a stale write (the record changed since read)."""

    status_code = 409
