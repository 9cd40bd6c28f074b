"""Small builders for Bug / Comment / MailEvent values in the claim tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from triage.model import (
    Attachment,
    AuthResult,
    Bug,
    Comment,
    Flag,
    HistoryChange,
    HistoryEntry,
    MailEvent,
    MailEventKind,
    SenderAuth,
    TriageCommand,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def comment(bug_id: int, count: int, author: str, text: str, at: datetime | None = None
            ) -> Comment:
    return Comment(id=bug_id * 1000 + count, bug_id=bug_id, count=count, author=author,
                   text=text, creation_time=at or day(count))


def attachment(bug_id: int, att_id: int, name: str, *, content_type: str = "text/plain",
               is_patch: bool = False, is_obsolete: bool = False, creator: str = "a@example.org",
               at: datetime | None = None) -> Attachment:
    return Attachment(id=att_id, bug_id=bug_id, file_name=name, summary=name,
                      content_type=content_type, creator=creator, creation_time=at or day(0),
                      is_patch=is_patch, is_obsolete=is_obsolete)


def history(who: str, at: datetime, **changes: tuple[str, str]) -> HistoryEntry:
    return HistoryEntry(who=who, when=at, changes=tuple(
        HistoryChange(field_name=name, removed=old, added=new)
        for name, (old, new) in changes.items()))


def bug(bug_id: int, *, status: str = "CONFIRMED", assigned_to: str = "xen-bugs@example.org",
        creator: str = "reporter@example.org", resolution: str = "",
        comments: Sequence[Comment] | None = None, attachments: Sequence[Attachment] = (),
        history_entries: Sequence[HistoryEntry] = (), flags: Sequence[Flag] = (),
        whiteboard: str = "", url: str = "", product: str = "Xen",
        component: str = "Hypervisor", created: datetime | None = None,
        cc: Sequence[str] = (),
        changed: datetime | None = None) -> Bug:
    comments = list(comments) if comments is not None else [
        comment(bug_id, 0, creator, "Xen 4.17.2 crashes on boot", created or T0)]
    return Bug(
        id=bug_id, summary=f"bug {bug_id}", product=product, component=component, status=status,
        creator=creator, creation_time=created or T0, last_change_time=changed or created or T0,
        resolution=resolution, assigned_to=assigned_to, whiteboard=whiteboard, url=url,
        is_open=status not in ("RESOLVED", "VERIFIED"), comments=tuple(comments),
        attachments=tuple(attachments), history=tuple(history_entries), flags=tuple(flags),
        cc=tuple(cc),
    )


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
