"""Bugs, contexts and settings for the rule tests (pure: no store, no server)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from triage.model import Attachment, Bug, Comment, Flag, HistoryChange, HistoryEntry, TriageState
from triage.rules.base import RuleContext, StateRecord

BOT = "triage-bot@xen.example.org"
REPORTER = "eve@example.org"
DEV = "dev@xen.example.org"
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)

COMPLETE_XEN = """Xen 4.17.2 on x86_64, Dell PowerEdge R740 with an Intel Xeon Gold 6230.
Dom0 is Debian 12 with kernel 6.1.0-13-amd64.

Steps to reproduce:
1. xl create /etc/xen/guest.cfg
2. xl console guest

Expected: the guest boots. Actual: the host hangs after a few seconds.

(XEN) Xen version 4.17.2 (Debian 4.17.2+76-ge1f9cb16e2-1~deb12u1)
(XEN) Panic on CPU 3:
(XEN) FATAL TRAP: vector = 6 (invalid opcode)
"""

TOML = f"""
[general]
state_dir = "state"
bot_email = "{BOT}"
bot_accounts = ["{BOT}", "ci-bot@xen.example.org"]

[orgs]
domains = {{ "citrix.com" = "Citrix", "amd.com" = "AMD" }}
accounts = {{ "alice@citrix.com" = "", "contractor@example.org" = "Vates" }}
groups = ["xen-partners"]

[nag]
cooldown_days = 7
acknowledged_days = 14

[rules.followup]
reminder_days = 7
expire_days = 30
max_rounds = 2

[rules.review]
reviewer = "reviewer@xen.example.org"
"""


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def comment(bug_id: int, count: int, text: str, author: str = REPORTER, at: datetime = T0,
            cid: int | None = None) -> Comment:
    return Comment(id=cid or bug_id * 100 + count, bug_id=bug_id, count=count, author=author,
                   text=text, creation_time=at)


def make_bug(bug_id: int = 1, text: str = "It crashes.", *, creator: str = REPORTER,
             product: str = "Xen", component: str = "Hypervisor", created: datetime = T0,
             comments: tuple[Comment, ...] = (), **fields: Any) -> Bug:
    fields.setdefault("status", "UNCONFIRMED")
    fields.setdefault("summary", "guest crashes")
    return Bug(id=bug_id, product=product, component=component, creator=creator,
               creation_time=created, last_change_time=created,
               comments=(comment(bug_id, 0, text, creator, created), *comments), **fields)


def add_comment(bug: Bug, text: str, author: str = REPORTER, at: datetime = T0) -> Bug:
    n = max(c.count for c in bug.comments) + 1
    return dataclasses.replace(bug, comments=(*bug.comments, comment(bug.id, n, text, author, at)))


def attach(bug: Bug, file_name: str, summary: str = "", author: str = REPORTER,
           at: datetime = T0, content_type: str = "text/plain", is_patch: bool = False) -> Bug:
    att = Attachment(id=bug.id * 100 + len(bug.attachments) + 1, bug_id=bug.id,
                     file_name=file_name, summary=summary, content_type=content_type,
                     creator=author, creation_time=at, is_patch=is_patch)
    return dataclasses.replace(bug, attachments=(*bug.attachments, att))


def needinfo_flag(requestee: str, setter: str = BOT, fid: int = 7) -> Flag:
    return Flag(name="needinfo", status="?", setter=setter, requestee=requestee, id=fid)


def cleared_needinfo(requestee: str, who: str, at: datetime) -> HistoryEntry:
    return HistoryEntry(who=who, when=at, changes=(
        HistoryChange("flagtypes.name", f"needinfo?({requestee})", ""),))


def context(settings: Any, now: datetime = T0, state: TriageState = TriageState.NEW,
            bug_id: int = 1, **kw: Any) -> RuleContext:
    return RuleContext(now=now, settings=settings, state=StateRecord(bug_id, state=state,
                                                                       since=T0), **kw)


def posted(bug: Bug, key: str, at: datetime, text: str = "a bot comment") -> Bug:
    """The bug after the writer posted the comment of the change with ``key`` at ``at``."""
    from triage.markers import marker_for, with_marker

    return add_comment(bug, with_marker(text, marker_for(key)), author=BOT, at=at)
