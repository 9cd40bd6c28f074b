"""The one set of builders for the model's values (bugs, comments, attachments, history, flags)
and the configuration text the suites and benches start from.

Each suite keeps only its own defaults on top (tests/rules/builders.py: the rules' epoch and
settings; tests/claims/builders.py: the claims' epoch and mail events; tests/rules/world.py:
the Bugzilla double's world; bench/bench_triage.py: its corpus), so a field added to ``Bug`` is
handled here once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from triage.model import Attachment, Bug, Comment, Flag, HistoryChange, HistoryEntry

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


def days_from(epoch: datetime) -> Callable[[float], datetime]:
    """``day(n)``: ``n`` days after the suite's epoch."""
    return lambda n: epoch + timedelta(days=n)


def comment(bug_id: int, count: int, text: str, author: str = REPORTER, at: datetime = T0,
            cid: int | None = None) -> Comment:
    """Comment ``count`` of a bug (0 is the description); its id ``bug_id * 100 + count``
    unless given."""
    return Comment(id=cid or bug_id * 100 + count, bug_id=bug_id, count=count, author=author,
                   text=text, creation_time=at)


def attachment(bug_id: int, att_id: int, file_name: str, *, summary: str | None = None,
               content_type: str = "text/plain", creator: str = REPORTER, at: datetime = T0,
               is_patch: bool = False, is_obsolete: bool = False) -> Attachment:
    return Attachment(id=att_id, bug_id=bug_id, file_name=file_name,
                      summary=file_name if summary is None else summary,
                      content_type=content_type, creator=creator, creation_time=at,
                      is_patch=is_patch, is_obsolete=is_obsolete)


def history(who: str, at: datetime, **changes: tuple[str, str]) -> HistoryEntry:
    """One history entry: ``field=(removed, added)`` per changed field."""
    return HistoryEntry(who=who, when=at, changes=tuple(
        HistoryChange(field_name=name, removed=old, added=new)
        for name, (old, new) in changes.items()))


def needinfo_flag(requestee: str, setter: str = BOT, fid: int = 7) -> Flag:
    return Flag(name="needinfo", status="?", setter=setter, requestee=requestee, id=fid)


def cleared_needinfo(requestee: str, who: str, at: datetime) -> HistoryEntry:
    """The history entry of ``who`` clearing a needinfo asked of ``requestee``."""
    return history(who, at, **{"flagtypes.name": (f"needinfo?({requestee})", "")})


def make_bug(bug_id: int = 1, text: str | None = "It crashes.", *, summary: str = "guest crashes",
             status: str = "UNCONFIRMED", product: str = "Xen", component: str = "Hypervisor",
             creator: str = REPORTER, created: datetime = T0, changed: datetime | None = None,
             comments: Sequence[Comment] = (), **fields: Any) -> Bug:
    """A bug as Bugzilla would hold it. ``text`` is the description, comment 0 (by the
    reporter, at creation); ``text=None``: the comments are exactly ``comments``."""
    first = () if text is None else (comment(bug_id, 0, text, creator, created),)
    return Bug(id=bug_id, summary=summary, product=product, component=component, status=status,
               creator=creator, creation_time=created, last_change_time=changed or created,
               comments=(*first, *comments), **fields)


def add_comment(bug: Bug, text: str, author: str = REPORTER, at: datetime = T0) -> Bug:
    n = max(c.count for c in bug.comments) + 1
    return dataclasses.replace(bug, comments=(*bug.comments,
                                              comment(bug.id, n, text, author, at)))


def attach(bug: Bug, file_name: str, summary: str = "", author: str = REPORTER,
           at: datetime = T0, content_type: str = "text/plain", is_patch: bool = False) -> Bug:
    att = attachment(bug.id, bug.id * 100 + len(bug.attachments) + 1, file_name,
                     summary=summary, content_type=content_type, creator=author, at=at,
                     is_patch=is_patch)
    return dataclasses.replace(bug, attachments=(*bug.attachments, att))


def config_toml(state_dir: Path | str, *, bot_email: str = BOT,
                bugzilla: dict[str, Any] | None = None, sections: str = "",
                **general: Any) -> str:
    """A configuration file's text: ``[general]`` (state_dir, bot_email and ``general``'s keys),
    ``[bugzilla]`` with the given keys, then ``sections`` verbatim."""
    lines = ["[general]", f'state_dir = "{state_dir}"', f'bot_email = "{bot_email}"']
    lines += [f"{key} = {_toml(value)}" for key, value in general.items()]
    if bugzilla:
        lines += ["", "[bugzilla]", *(f"{k} = {_toml(v)}" for k, v in bugzilla.items())]
    return "\n".join(lines) + "\n" + sections


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
