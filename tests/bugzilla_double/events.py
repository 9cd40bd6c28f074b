"""What happened to a bug, as the mail renderer needs it (pure data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .state import User

# API field name -> (Bugzilla DB field name used in mail headers, label used in mail bodies).
FIELD_INFO: dict[str, tuple[str, str]] = {
    "is_confirmed": ("everconfirmed", "Ever confirmed"),
    "product": ("product", "Product"),
    "component": ("component", "Component"),
    "version": ("version", "Version"),
    "summary": ("short_desc", "Summary"),
    "assigned_to": ("assigned_to", "Assignee"),
    "qa_contact": ("qa_contact", "QA Contact"),
    "status": ("bug_status", "Status"),
    "resolution": ("resolution", "Resolution"),
    "platform": ("rep_platform", "Hardware"),
    "op_sys": ("op_sys", "OS"),
    "severity": ("bug_severity", "Severity"),
    "priority": ("priority", "Priority"),
    "target_milestone": ("target_milestone", "Target Milestone"),
    "url": ("bug_file_loc", "URL"),
    "whiteboard": ("status_whiteboard", "Whiteboard"),
    "keywords": ("keywords", "Keywords"),
    "cc": ("cc", "CC"),
    "flagtypes.name": ("flagtypes.name", "Flags"),
}
# The order changes are recorded in (matches the recorded history and mail headers).
CHANGE_ORDER = tuple(FIELD_INFO)


@dataclass(frozen=True)
class FieldChange:
    field: str  # API name, e.g. "status", "whiteboard", "flagtypes.name"
    removed: str
    added: str


@dataclass(frozen=True)
class NewComment:
    id: int
    count: int
    text: str
    is_private: bool = False
    attachment_id: int | None = None
    attachment_summary: str = ""


@dataclass(frozen=True)
class FlagRequest:
    """A flag-request notification: ``requested``, ``canceled``, ``granted`` or ``denied``."""

    action: str
    flag_name: str
    setter: User
    requestee: User | None
    recipient: User


@dataclass
class BugEvent:
    """One bug creation or one update of one bug by one user at one second."""

    kind: str  # "new" or "changed"
    bug_id: int
    who: User
    ts: int
    changes: list[FieldChange] = field(default_factory=list)
    comment: NewComment | None = None
    previous_assignee: int | None = None
    flag_requests: list[FlagRequest] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not self.changes and self.comment is None and self.kind != "new"
