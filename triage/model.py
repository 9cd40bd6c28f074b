"""Pure data at the service's boundaries: bugs as Bugzilla holds them, mail events, and what the
triage rules conclude (Decision) and want to write (Change).

Nothing here does I/O. Adapters translate to and from these types; rules consume and produce them;
the store serialises them with :func:`to_jsonable` / the ``from_dict`` constructors.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utc(dt: datetime) -> datetime:
    """Normalise to an aware UTC datetime (Bugzilla speaks UTC; naive values are taken as UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_bz_time(value: str | datetime | None) -> datetime | None:
    """Parse Bugzilla's REST time format (``2026-11-27T01:02:03Z``) into aware UTC."""
    if type(value) is str and len(value) == 20 and value[19] == "Z":
        # The common case, on the hot path of every stored bug read: Python 3.11 parses the
        # "Z" itself, as UTC.
        return datetime.fromisoformat(value)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return utc(value)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return utc(datetime.fromisoformat(text))


def format_bz_time(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Flag:
    """A Bugzilla flag on a bug, e.g. ``needinfo?(eve@example.org)``."""

    name: str
    status: str  # '?', '+', '-'
    setter: str = ""
    requestee: str | None = None
    id: int | None = None
    creation_date: datetime | None = None
    modification_date: datetime | None = None


@dataclass(frozen=True)
class Comment:
    id: int
    bug_id: int
    count: int  # 0 is the description
    author: str
    text: str
    creation_time: datetime
    is_private: bool = False
    attachment_id: int | None = None


@dataclass(frozen=True)
class Attachment:
    id: int
    bug_id: int
    file_name: str
    summary: str
    content_type: str
    creator: str
    creation_time: datetime
    is_patch: bool = False
    is_obsolete: bool = False
    size: int = 0


@dataclass(frozen=True)
class HistoryChange:
    field_name: str
    removed: str
    added: str
    attachment_id: int | None = None


@dataclass(frozen=True)
class HistoryEntry:
    who: str
    when: datetime
    changes: tuple[HistoryChange, ...] = ()


@dataclass(frozen=True)
class Bug:
    """A bug as Bugzilla holds it: Bugzilla is the source of truth for these fields."""

    id: int
    summary: str
    product: str
    component: str
    status: str
    creator: str
    creation_time: datetime
    last_change_time: datetime
    version: str = ""
    resolution: str = ""
    assigned_to: str = ""
    keywords: tuple[str, ...] = ()
    whiteboard: str = ""
    cc: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()
    platform: str = ""
    op_sys: str = ""
    severity: str = ""
    priority: str = ""
    groups: tuple[str, ...] = ()
    url: str = ""
    is_open: bool = True
    comments: tuple[Comment, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    @property
    def description(self) -> str:
        """Comment 0 is the reporter's description."""
        for comment in self.comments:
            if comment.count == 0:
                return comment.text
        return ""

    def whiteboard_tags(self) -> tuple[str, ...]:
        """``[tag]`` markers in the whiteboard, in order, e.g. ``('xt:needinfo', 'no-nag')``."""
        tags: list[str] = []
        rest = self.whiteboard
        while "[" in rest and "]" in rest:
            start = rest.index("[")
            end = rest.find("]", start)
            if end < 0:
                break
            tags.append(rest[start + 1 : end].strip())
            rest = rest[end + 1 :]
        return tuple(tags)

    def flags_named(self, name: str) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.name == name)


class MailEventKind(enum.StrEnum):
    NEW_BUG = "new-bug"
    COMMENT = "comment"
    FIELD_CHANGE = "field-change"
    ATTACHMENT = "attachment"
    DEPENDENCY = "dependency"
    FLAG_REQUEST = "flag-request"
    COMMAND = "command"  # a list mail carrying '#triage ...' commands
    LIST_MAIL = "list-mail"  # ordinary list traffic: recorded, not acted on


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class TriageCommand:
    """``#triage claim 1234`` and friends, as written in a list mail."""

    verb: str  # claim | unclaim | review-accept | review-reject | confirm
    bug_id: int  # 0 for ``confirm``, which names a token, not a bug
    sender: str
    line: str = ""
    token: str = ""  # ``confirm`` only: the one-time token the bot mailed to the account


@dataclass(frozen=True)
class AuthResult:
    """One ``method=result`` of an ``Authentication-Results`` header (RFC 8601), as written by
    the server named ``authserv_id``. ``domain``: ``header.d`` for DKIM (else the domain of
    ``header.i``), ``smtp.mailfrom``'s domain for SPF, ``header.from`` for DMARC."""

    authserv_id: str
    method: str
    result: str
    domain: str = ""


@dataclass(frozen=True)
class SenderAuth:
    """What a command mail shows about who sent it, read at ingest. The policy (which servers
    to believe, alignment, confirmation) is applied when commands are planned, so a changed
    policy applies to mail already stored."""

    address: str = ""  # the one From address, strictly parsed; "" when From is not acceptable
    problem: str = ""  # why From is not acceptable
    results: tuple[AuthResult, ...] = ()  # every parseable result, topmost header first


@dataclass(frozen=True)
class MailEvent:
    kind: MailEventKind
    message_id: str
    subject: str = ""
    sender: str = ""
    date: datetime | None = None
    bug_id: int | None = None
    product: str = ""
    component: str = ""
    who: str = ""
    bugzilla_type: str = ""  # X-Bugzilla-Type: new | changed | request
    changed_fields: tuple[FieldChange, ...] = ()
    comment_text: str = ""
    commands: tuple[TriageCommand, ...] = ()
    auth: SenderAuth | None = None  # command mails only
    commands_dropped: int = 0  # ``#triage`` lines past the per-mail cap, not read


class TriageState(enum.StrEnum):
    """A bug's place in the process (DESIGN.md §2)."""

    NEW = "new"
    EXCLUDED = "excluded"  # corporate
    NEEDS_INFO = "needs-info"
    REMINDED = "reminded"
    EXPIRED = "expired"
    COMPLETE = "complete"
    IN_REVIEW = "in-review"
    REJECTED = "rejected"
    OPEN_FOR_DEV = "open-for-dev"
    CLAIMED = "claimed"
    NUDGED = "nudged"
    FIX_DOCUMENTED = "fix-documented"
    CLOSED = "closed"


@dataclass(frozen=True)
class Decision:
    """What a rule concluded about a bug and why: stored so ``xentriage explain`` can replay it."""

    bug_id: int
    rule: str
    outcome: str
    reason: str
    state: TriageState | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlagChange:
    name: str
    status: str  # '?', '+', '-', 'X' (clear)
    requestee: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class BugUpdate:
    """One write to one bug; empty fields mean 'leave alone'."""

    comment: str | None = None
    comment_private: bool = False
    status: str | None = None
    resolution: str | None = None
    assigned_to: str | None = None
    keywords_add: tuple[str, ...] = ()
    keywords_remove: tuple[str, ...] = ()
    whiteboard_add: tuple[str, ...] = ()  # tags, written as '[tag]'
    whiteboard_remove: tuple[str, ...] = ()
    flags: tuple[FlagChange, ...] = ()
    cc_add: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in dataclasses.fields(self))


@dataclass(frozen=True)
class NewBug:
    product: str
    component: str
    summary: str
    description: str
    version: str = "unspecified"
    keywords: tuple[str, ...] = ()
    whiteboard: str = ""
    platform: str = "All"
    op_sys: str = "All"
    severity: str = "normal"


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows inline (``<img src="cid:...">``): sent as a
    multipart/related part beside the HTML, never fetched from anywhere."""

    cid: str  # without angle brackets, e.g. "trend@xentriage"
    data: bytes
    subtype: str = "png"


@dataclass(frozen=True)
class OutgoingMail:
    """A mail the bot plans to send (a command reply, a digest). Transports add the bot's own
    ``X-Xentriage-Bot`` header so the mail is recognised if the list echoes it back (loop guard)."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    images: tuple[InlineImage, ...] = ()  # inline images of the HTML part


@dataclass(frozen=True)
class Change:
    """A planned external write. ``key`` is the idempotency key: stable across runs, so a re-run
    (or a crash between sending and recording) never writes the same thing twice."""

    @property
    def kind(self) -> str:
        return "update" if self.update else "create" if self.create else "mail"


    key: str
    rule: str
    reason: str
    bug_id: int | None = None  # None with ``create`` set: file a new bug
    update: BugUpdate | None = None
    create: NewBug | None = None
    mail: OutgoingMail | None = None  # a mail to send (bug_id, if set, is what it is about)
    recipient: str | None = None  # the person this acts on (the nag ledger's unit)
    nag: bool = False  # counts against the nag ledger's cooldown

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.update, self.create, self.mail)) != 1:
            raise ValueError("a Change carries exactly one of update, create or mail")
        if self.update is not None and self.bug_id is None:
            raise ValueError("an update needs a bug_id")


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})
_UNSEEN = ()  # marker: the type was not looked at yet (never a dataclass's field names)
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}  # type → field names; None: no dataclass


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, datetimes and tuples to JSON-compatible values (for the store).

    Exact types first and field names cached per class: the mail backfill serialises every
    event and bug through here, and ``dataclasses.fields`` per value cost more than the rest."""
    kind = type(value)
    if kind in _PLAIN_TYPES:  # exact types: a StrEnum is a str but must become its value
        return value
    names = _FIELD_NAMES.get(kind, _UNSEEN)
    if names is _UNSEEN:
        names = _FIELD_NAMES[kind] = (
            tuple(f.name for f in dataclasses.fields(value))
            if dataclasses.is_dataclass(value) and not isinstance(value, type) else None)
    if names is not None:
        return {name: (v if type(v) in _PLAIN_TYPES else to_jsonable(v))
                for name in names for v in (getattr(value, name),)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return format_bz_time(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def bug_from_dict(data: Mapping[str, Any]) -> Bug:
    """Inverse of ``to_jsonable(bug)``."""

    def t(key: str) -> datetime:
        parsed = parse_bz_time(data[key])
        assert parsed is not None
        return parsed

    comments = tuple(
        Comment(
            id=c["id"],
            bug_id=c["bug_id"],
            count=c["count"],
            author=c["author"],
            text=c["text"],
            creation_time=parse_bz_time(c["creation_time"]) or t("creation_time"),
            is_private=c.get("is_private", False),
            attachment_id=c.get("attachment_id"),
        )
        for c in data.get("comments", ())
    )
    attachments = tuple(
        Attachment(
            id=a["id"],
            bug_id=a["bug_id"],
            file_name=a["file_name"],
            summary=a["summary"],
            content_type=a["content_type"],
            creator=a["creator"],
            creation_time=parse_bz_time(a["creation_time"]) or t("creation_time"),
            is_patch=a.get("is_patch", False),
            is_obsolete=a.get("is_obsolete", False),
            size=a.get("size", 0),
        )
        for a in data.get("attachments", ())
    )
    history = tuple(
        HistoryEntry(
            who=h["who"],
            when=parse_bz_time(h["when"]) or t("creation_time"),
            changes=tuple(HistoryChange(**ch) for ch in h.get("changes", ())),
        )
        for h in data.get("history", ())
    )
    flags = tuple(
        Flag(
            name=f["name"],
            status=f["status"],
            setter=f.get("setter", ""),
            requestee=f.get("requestee"),
            id=f.get("id"),
            creation_date=parse_bz_time(f.get("creation_date")),
            modification_date=parse_bz_time(f.get("modification_date")),
        )
        for f in data.get("flags", ())
    )
    simple = {
        k: data[k]
        for k in (
            "summary", "product", "component", "status", "creator", "version", "resolution",
            "assigned_to", "whiteboard", "platform", "op_sys", "severity", "priority", "url",
            "is_open",
        )
        if k in data
    }
    return Bug(
        id=int(data["id"]),
        creation_time=t("creation_time"),
        last_change_time=t("last_change_time"),
        keywords=tuple(data.get("keywords", ())),
        cc=tuple(data.get("cc", ())),
        groups=tuple(data.get("groups", ())),
        flags=flags,
        comments=comments,
        attachments=attachments,
        history=history,
        **simple,
    )
