"""The two kinds of trace the bot leaves in Bugzilla (pure: hashing and string work, no I/O).

* An **action marker** ``xentriage:<12 hex>`` (the first 12 hex digits of the SHA-256 of an
  action's idempotency key) ends every comment the bot posts (``[xentriage:...]``) and tags every
  bug it files: the writer finds it to tell "already applied" from "never sent".
* A **state tag** ``xt:<name>`` is a whiteboard tag a rule sets to record a state in Bugzilla
  itself (``xt:needinfo``, ``xt:corporate`` ...), so a bot with an empty store sees what was done.

Rules, the writer, the mail adapter and the tests all import them from here, so the formats have
one definition and the rules need not import the writer (which does I/O).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from triage.model import Bug, Change

ACTION_MARKER_PREFIX = "xentriage:"
STATE_TAG_PREFIX = "xt:"


def marker_for(key: str) -> str:
    """``xentriage:<12 hex>``: the Bugzilla-side trace of the action with this key."""
    return ACTION_MARKER_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def with_marker(comment: str, marker: str) -> str:
    return f"{comment.rstrip()}\n\n[{marker}]"


def marked_change(change: Change) -> Change:
    """The change as it is sent: the comment ends with the marker; a new bug's whiteboard carries
    it as a tag (and its description ends with it)."""
    marker = marker_for(change.key)
    if change.update is not None and change.update.comment is not None:
        return replace(change, update=replace(change.update,
                                              comment=with_marker(change.update.comment, marker)))
    if change.create is not None:
        wb = f"{change.create.whiteboard} [{marker}]".strip()
        return replace(change, create=replace(
            change.create, whiteboard=wb,
            description=with_marker(change.create.description, marker)))
    return change


def bug_has_marker(bug: Bug, marker: str) -> bool:
    """Whether the bug carries the action marker (in a comment or the whiteboard)."""
    token = f"[{marker}]"
    return token in bug.whiteboard or any(token in c.text for c in bug.comments)


def state_tag(name: str) -> str:
    """``xt:<name>``: the whiteboard tag a rule writes to record a state in Bugzilla."""
    return f"{STATE_TAG_PREFIX}{name}"


def has_state_tag(bug: Bug, tag: str) -> bool:
    return tag in bug.whiteboard_tags()
