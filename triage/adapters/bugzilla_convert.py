"""Pure translation between Bugzilla REST JSON and :mod:`triage.model` (no I/O, no python-bugzilla).

Kept apart from the gateway so the snapshot tracker reads the very same JSON shapes: a snapshot
file holds Bugzilla's own REST answers, and both trackers turn them into ``Bug`` objects here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from triage.model import (
    Attachment,
    Bug,
    BugUpdate,
    Comment,
    Flag,
    HistoryChange,
    HistoryEntry,
    NewBug,
    parse_bz_time,
)

# What a search or a batched get asks for: every field the Bug model carries, nothing more
# (Bugzilla's default set adds *_detail, estimates and more: about twice the bytes).
BUG_FIELDS: tuple[str, ...] = (
    "id", "summary", "product", "component", "status", "resolution", "creator", "creation_time",
    "last_change_time", "version", "assigned_to", "keywords", "whiteboard", "cc", "flags",
    "platform", "op_sys", "severity", "priority", "groups", "url", "is_open",
)
COMMENT_FIELDS: tuple[str, ...] = (
    "id", "bug_id", "count", "creator", "text", "creation_time", "is_private", "attachment_id",
)
ATTACHMENT_FIELDS: tuple[str, ...] = (
    "id", "bug_id", "file_name", "summary", "content_type", "creator", "creation_time",
    "is_patch", "is_obsolete", "size",
)


def _time(value: Any, fallback: Any = None) -> Any:
    parsed = parse_bz_time(value) if value else None
    if parsed is None and fallback is not None:
        return parse_bz_time(fallback)
    return parsed


def flag_from_rest(data: Mapping[str, Any]) -> Flag:
    return Flag(
        name=str(data.get("name", "")),
        status=str(data.get("status", "")),
        setter=str(data.get("setter", "") or ""),
        requestee=data.get("requestee") or None,
        id=data.get("id"),
        creation_date=_time(data.get("creation_date")),
        modification_date=_time(data.get("modification_date")),
    )


def comment_from_rest(data: Mapping[str, Any]) -> Comment:
    return Comment(
        id=int(data["id"]),
        bug_id=int(data["bug_id"]),
        count=int(data.get("count", 0)),
        author=str(data.get("creator") or data.get("author") or ""),
        text=str(data.get("text", "")),
        creation_time=_time(data.get("creation_time"), data.get("time")),
        is_private=bool(data.get("is_private", False)),
        attachment_id=data.get("attachment_id"),
    )


def attachment_from_rest(data: Mapping[str, Any]) -> Attachment:
    return Attachment(
        id=int(data["id"]),
        bug_id=int(data["bug_id"]),
        file_name=str(data.get("file_name", "")),
        summary=str(data.get("summary", "")),
        content_type=str(data.get("content_type", "")),
        creator=str(data.get("creator") or data.get("attacher") or ""),
        creation_time=_time(data.get("creation_time")),
        is_patch=bool(data.get("is_patch", False)),
        is_obsolete=bool(data.get("is_obsolete", False)),
        size=int(data.get("size", 0) or 0),
    )


def history_from_rest(entries: Iterable[Mapping[str, Any]]) -> tuple[HistoryEntry, ...]:
    return tuple(
        HistoryEntry(
            who=str(h.get("who", "")),
            when=_time(h.get("when")),
            changes=tuple(
                HistoryChange(
                    field_name=str(c.get("field_name", "")),
                    removed=str(c.get("removed", "")),
                    added=str(c.get("added", "")),
                    attachment_id=c.get("attachment_id"),
                )
                for c in h.get("changes", ())
            ),
        )
        for h in entries
    )


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(str(v) for v in value)


def bug_from_rest(
    data: Mapping[str, Any],
    *,
    comments: Sequence[Comment] = (),
    history: Sequence[HistoryEntry] = (),
    attachments: Sequence[Attachment] = (),
    open_statuses: Sequence[str] = (),
) -> Bug:
    """A REST bug object to a :class:`Bug`. ``is_open`` comes from Bugzilla when it sent it;
    otherwise from the configured open statuses."""
    status = str(data.get("status", ""))
    is_open = data.get("is_open")
    if is_open is None:
        is_open = status in open_statuses if open_statuses else not data.get("resolution")
    return Bug(
        id=int(data["id"]),
        summary=str(data.get("summary", "")),
        product=str(data.get("product", "")),
        component=str(data.get("component", "")),
        status=status,
        creator=str(data.get("creator", "")),
        creation_time=_time(data.get("creation_time")),
        last_change_time=_time(data.get("last_change_time"), data.get("creation_time")),
        version=str(data.get("version", "") or ""),
        resolution=str(data.get("resolution", "") or ""),
        assigned_to=str(data.get("assigned_to", "") or ""),
        keywords=_strings(data.get("keywords")),
        whiteboard=str(data.get("whiteboard", "") or ""),
        cc=_strings(data.get("cc")),
        flags=tuple(flag_from_rest(f) for f in data.get("flags", ()) or ()),
        platform=str(data.get("platform", "") or ""),
        op_sys=str(data.get("op_sys", "") or ""),
        severity=str(data.get("severity", "") or ""),
        priority=str(data.get("priority", "") or ""),
        groups=_strings(data.get("groups")),
        url=str(data.get("url", "") or ""),
        is_open=bool(is_open),
        comments=tuple(sorted(comments, key=lambda c: (c.count, c.id))),
        attachments=tuple(attachments),
        history=tuple(history),
    )


def comments_by_bug(payload: Mapping[str, Any]) -> dict[int, tuple[Comment, ...]]:
    """``GET /rest/bug/<id>/comment?ids=..`` answers ``{"bugs": {"<id>": {"comments": [..]}}}``."""
    out: dict[int, tuple[Comment, ...]] = {}
    for key, entry in (payload.get("bugs") or {}).items():
        out[int(key)] = tuple(comment_from_rest(c) for c in entry.get("comments", ()))
    return out


# --- writes ------------------------------------------------------------------------------------


def whiteboard_with(whiteboard: str, add: Iterable[str], remove: Iterable[str]) -> str:
    """The whiteboard with ``[tag]`` markers added/removed; free text around them is kept."""
    text = whiteboard
    for tag in remove:
        text = text.replace(f"[{tag}]", "")
    text = " ".join(text.split())
    for tag in add:
        if f"[{tag}]" not in text:
            text = f"{text} [{tag}]" if text else f"[{tag}]"
    return text


def needs_current_state(update: BugUpdate) -> bool:
    """Whiteboard tags and flag clears without an id need the bug's current values first."""
    return bool(
        update.whiteboard_add
        or update.whiteboard_remove
        or any(f.status == "X" and f.id is None for f in update.flags)
    )


def update_payload(update: BugUpdate, current: Bug | None) -> dict[str, Any]:
    """The JSON body of ``PUT /rest/bug/<id>`` for one :class:`BugUpdate`.

    The comment rides in the same request as the field changes, so Bugzilla applies them as one
    change (one history entry, one notification mail) and a retry can never half-apply them.
    """
    body: dict[str, Any] = {}
    if update.comment is not None:
        # ``comment.comment`` is the spelling python-bugzilla sends (recorded in the contract);
        # Bugzilla 5 accepts it as an alias of ``comment.body``.
        body["comment"] = {"comment": update.comment, "is_private": update.comment_private}
    if update.status:
        body["status"] = update.status
    if update.resolution:
        body["resolution"] = update.resolution
    if update.assigned_to:
        body["assigned_to"] = update.assigned_to
    if update.keywords_add or update.keywords_remove:
        kw: dict[str, list[str]] = {}
        if update.keywords_add:
            kw["add"] = list(update.keywords_add)
        if update.keywords_remove:
            kw["remove"] = list(update.keywords_remove)
        body["keywords"] = kw
    if update.whiteboard_add or update.whiteboard_remove:
        if current is None:
            raise ValueError("whiteboard tags need the bug's current whiteboard")
        new = whiteboard_with(current.whiteboard, update.whiteboard_add, update.whiteboard_remove)
        if new != current.whiteboard:
            body["whiteboard"] = new
    if update.cc_add:
        body["cc"] = {"add": list(update.cc_add)}
    flags: list[dict[str, Any]] = []
    for change in update.flags:
        if change.status == "X":
            if change.id is not None:
                flags.append({"id": change.id, "status": "X"})
                continue
            # Bugzilla clears a flag only by its id (a name alone is rejected, code 50).
            for flag in (current.flags if current else ()):
                if flag.name == change.name and flag.id is not None and (
                    change.requestee is None or flag.requestee == change.requestee
                ):
                    flags.append({"id": flag.id, "status": "X"})
            continue
        entry: dict[str, Any] = {"status": change.status}
        if change.id is not None:
            entry["id"] = change.id
        else:
            entry["name"] = change.name
        if change.requestee:
            entry["requestee"] = change.requestee
        flags.append(entry)
    if flags:
        body["flags"] = flags
    return body


def create_payload(new: NewBug) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product": new.product,
        "component": new.component,
        "summary": new.summary,
        "description": new.description,
        "version": new.version,
        "platform": new.platform,
        "op_sys": new.op_sys,
        "severity": new.severity,
    }
    if new.keywords:
        body["keywords"] = list(new.keywords)
    if new.whiteboard:
        body["whiteboard"] = new.whiteboard
    return body


def update_is_reflected(update: BugUpdate, bug: Bug) -> bool:
    """Whether ``bug`` already shows every field effect of ``update`` (the comment aside).

    Used to recognise a field-only write that reached Bugzilla before a crash: setting a status
    or adding a keyword that is already there is a no-op, so "already reflected" is "done".
    """
    if update.status and bug.status != update.status:
        return False
    if update.resolution and bug.resolution != update.resolution:
        return False
    if update.assigned_to and bug.assigned_to != update.assigned_to:
        return False
    if any(k not in bug.keywords for k in update.keywords_add):
        return False
    if any(k in bug.keywords for k in update.keywords_remove):
        return False
    tags = bug.whiteboard_tags()
    if any(t not in tags for t in update.whiteboard_add):
        return False
    if any(t in tags for t in update.whiteboard_remove):
        return False
    if any(c not in bug.cc for c in update.cc_add):
        return False
    for change in update.flags:
        if change.status == "X":
            if change.id is not None and any(f.id == change.id for f in bug.flags):
                return False
            if change.id is None and any(
                f.name == change.name
                and (change.requestee is None or f.requestee == change.requestee)
                for f in bug.flags
            ):
                return False
        elif not any(
            f.name == change.name
            and f.status == change.status
            and (change.requestee is None or f.requestee == change.requestee)
            for f in bug.flags
        ):
            return False
    return True
