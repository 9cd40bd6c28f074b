"""The claim tests' defaults (their epoch, a CONFIRMED bug, mail events with sender
authentication) on top of the shared builders (tests/builders.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tests import builders as shared
from tests.builders import days_from, history  # noqa: F401 - the suite's names
from triage.model import (
    Attachment,
    AuthResult,
    Bug,
    Comment,
    Flag,
    HistoryEntry,
    MailEvent,
    MailEventKind,
    SenderAuth,
    TriageCommand,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
day = days_from(T0)


def comment(bug_id: int, count: int, author: str, text: str, at: datetime | None = None
            ) -> Comment:
    """The claims tests name the author first; ids ``bug_id * 1000 + count``."""
    return shared.comment(bug_id, count, text, author, at or day(count),
                          cid=bug_id * 1000 + count)


def attachment(bug_id: int, att_id: int, name: str, *, content_type: str = "text/plain",
               is_patch: bool = False, is_obsolete: bool = False, creator: str = "a@example.org",
               at: datetime | None = None) -> Attachment:
    return shared.attachment(bug_id, att_id, name, content_type=content_type, creator=creator,
                             at=at or day(0), is_patch=is_patch, is_obsolete=is_obsolete)


def bug(bug_id: int, *, status: str = "CONFIRMED", assigned_to: str = "xen-bugs@example.org",
        creator: str = "reporter@example.org", resolution: str = "",
        comments: Sequence[Comment] | None = None, attachments: Sequence[Attachment] = (),
        history_entries: Sequence[HistoryEntry] = (), flags: Sequence[Flag] = (),
        whiteboard: str = "", url: str = "", product: str = "Xen",
        component: str = "Hypervisor", created: datetime | None = None,
        cc: Sequence[str] = (),
        changed: datetime | None = None) -> Bug:
    """A claims-suite bug: CONFIRMED, with the component's account as assignee and a one-line
    description unless ``comments`` says otherwise."""
    comments = list(comments) if comments is not None else [
        comment(bug_id, 0, creator, "Xen 4.17.2 crashes on boot", created or T0)]
    return shared.make_bug(
        bug_id, None, summary=f"bug {bug_id}", product=product, component=component,
        status=status, creator=creator, created=created or T0, changed=changed,
        comments=comments, resolution=resolution, assigned_to=assigned_to,
        whiteboard=whiteboard, url=url, is_open=status not in ("RESOLVED", "VERIFIED"),
        attachments=tuple(attachments), history=tuple(history_entries), flags=tuple(flags),
        cc=tuple(cc))


TRUSTED_MX = "mx.test.example"  # the authserv-id the claims tests' settings trust


def dkim_pass(sender: str, server: str = TRUSTED_MX) -> SenderAuth:
    """What a trusted receiving server shows for a mail its sender's domain signed."""
    return SenderAuth(address=sender, results=(
        AuthResult(server, "dkim", "pass", sender.rpartition("@")[2]),))


def command_event(message_id: str, sender: str, *commands: tuple[str, int],
                  subject: str = "Re: [Bug] crash", command_sender: str | None = None,
                  at: datetime | None = None, auth: SenderAuth | str | None = "dkim",
                  dropped: int = 0) -> MailEvent:
    cmds = tuple(
        TriageCommand(verb=verb, bug_id=bug_id, sender=command_sender or sender,
                      line=f"#triage {verb.replace('-', ' ')} {bug_id}")
        for verb, bug_id in commands
    )
    return MailEvent(kind=MailEventKind.COMMAND, message_id=message_id, subject=subject,
                     sender=sender, date=at or T0, commands=cmds, commands_dropped=dropped,
                     auth=dkim_pass(sender) if auth == "dkim" else auth,  # type: ignore[arg-type]
                     bug_id=cmds[0].bug_id if len({c.bug_id for c in cmds}) == 1 else None)
