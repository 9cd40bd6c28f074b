"""Bugzilla-style notification mails (new / changed / request), as ``EmailMessage`` objects.

Layout, headers and threading follow the real 5.2 mails in the contract (``mail/*.eml``).
Bugzilla's lost-mail quirk is reproduced the way Bugzilla produces it: a bug's mail covers the
changes made after its ``lastdiffed`` time, and an update in the same second as the previous
mail therefore finds nothing to send.
"""

from __future__ import annotations

import html
import mailbox
import secrets
import string
import textwrap
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from .bugview import BugRecord, can_see, load_bugs
from .events import FIELD_INFO, BugEvent, FlagRequest
from .state import State, User

FROM = "bugzilla-daemon@bugzilla.local"
ROLE_ORDER = ("AssignedTo", "QAcontact", "Reporter", "CC")
ROLE_TEXT = {
    "AssignedTo": "You are the assignee for the bug.",
    "QAcontact": "You are the QA Contact for the bug.",
    "Reporter": "You reported the bug.",
    "CC": "You are on the CC list for the bug.",
}
NEW_BUG_FIELDS = ("bug_id", "short_desc", "product", "version", "rep_platform", "op_sys",
                  "bug_status", "status_whiteboard", "keywords", "bug_severity", "priority",
                  "component", "assigned_to", "reporter", "qa_contact", "cc", "target_milestone")
DIFF_HEADER = "           What    |Removed                     |Added\n" + "-" * 76 + "\n"
_ALNUM = string.ascii_letters + string.digits


def wrap_comment(text: str) -> str:
    """Bugzilla's wrap_comment: lines of 80 columns or more are wrapped at word boundaries."""
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) < 80 or line.startswith(">"):
            out.append(line)
        else:
            out.extend(textwrap.wrap(line, 79, break_long_words=False, break_on_hyphens=False)
                       or [""])
    return "\n".join(out)


def _wrap_hard(text: str, columns: int) -> list[str]:
    """Text::Wrap with huge='wrap': at most columns-1 characters, long words broken."""
    return textwrap.wrap(text, columns - 1, break_on_hyphens=False) or [""]


def diff_rows(label: str, removed: str, added: str) -> str:
    parts = [_wrap_hard(label, 19), _wrap_hard(removed, 28), _wrap_hard(added, 28)]
    lines = []
    for i in range(max(len(p) for p in parts)):
        cell = [p[i] if i < len(p) else "" for p in parts]
        lines.append(f"{cell[0]:>19}|{cell[1]:<28}|{cell[2]}".rstrip() + "\n")
    return "".join(lines)


class Mailer:
    """Turns bug events into mails, keeps them in ``outbox`` and optionally an mbox file."""

    def __init__(self, state: State, base_url: str, *, lose_same_second: bool = True,
                 mbox_path: str | Path | None = None) -> None:
        self.state = state
        self.base_url = base_url
        self.lose_same_second = lose_same_second
        self.mbox_path = Path(mbox_path) if mbox_path else None
        self.outbox: list[EmailMessage] = []
        self._lock = threading.Lock()

    @property
    def sitespec(self) -> str:
        """Bugzilla's Message-ID suffix: ``-8088@http.127.0.0.1/`` for http://127.0.0.1:8088/."""
        parts = urlsplit(self.base_url)
        spec = f"@{parts.scheme}.{parts.hostname}{parts.path or '/'}"
        return f"-{parts.port}{spec}" if parts.port else spec

    # -- entry point --------------------------------------------------------------------
    def process(self, events: list[BugEvent]) -> list[EmailMessage]:
        sent: list[EmailMessage] = []
        for event in events:
            bug = load_bugs(self.state, [event.bug_id]).get(event.bug_id)
            if bug is None:
                continue
            if not self._suppressed(bug, event) and not event.is_empty():
                sent.extend(self._bug_mails(bug, event))
            for request in event.flag_requests:
                if can_see(request.recipient, bug):
                    sent.append(self._request_mail(bug, event, request))
        with self._lock:
            self.outbox.extend(sent)
            if self.mbox_path is not None and sent:
                box = mailbox.mbox(str(self.mbox_path))
                try:
                    box.lock()
                    for msg in sent:
                        box.add(msg)
                    box.flush()
                finally:
                    box.unlock()
                    box.close()
        return sent

    def _suppressed(self, bug: BugRecord, event: BugEvent) -> bool:
        last = bug["lastdiffed"]
        self.state.db.execute("UPDATE bugs SET lastdiffed=? WHERE id=?", (event.ts, bug.id))
        return self.lose_same_second and last is not None and event.ts <= int(last)  # type: ignore[call-overload]

    # -- recipients ---------------------------------------------------------------------
    def _recipients(self, bug: BugRecord, event: BugEvent) -> dict[int, list[str]]:
        roles: dict[int, set[str]] = {}

        def add(uid: object, role: str) -> None:
            if uid is not None:
                roles.setdefault(int(uid), set()).add(role)  # type: ignore[call-overload]

        add(bug["assigned_to"], "AssignedTo")
        add(event.previous_assignee, "AssignedTo")
        add(bug["qa_contact"], "QAcontact")
        add(bug["reporter"], "Reporter")
        for uid in bug.cc:
            add(uid, "CC")
        for change in event.changes:  # people just removed from CC still hear about it
            if change.field == "cc" and change.removed:
                for login in change.removed.split(", "):
                    user = self.state.find_user(login)
                    add(user.id if user else None, "CC")
        out = {}
        for uid, rs in roles.items():
            user = self.state.user(uid)
            if uid == event.who.id or not user.email_enabled or not can_see(user, bug):
                continue
            out[uid] = [r for r in ROLE_ORDER if r in rs]
        return out

    # -- headers ------------------------------------------------------------------------
    def _common_headers(self, msg: EmailMessage, bug: BugRecord, to: User, subject: str,
                        when: datetime) -> None:
        msg["From"] = FROM
        msg["To"] = to.login
        msg["Subject"] = subject
        msg["Date"] = format_datetime(when)

    def _bug_headers(self, msg: EmailMessage, bug: BugRecord, who: str) -> None:
        st = self.state
        msg["X-Bugzilla-Product"] = str(bug["product"])
        msg["X-Bugzilla-Component"] = str(bug["component"])
        msg["X-Bugzilla-Version"] = str(bug["version"])
        msg["X-Bugzilla-Keywords"] = ", ".join(bug.keywords)
        msg["X-Bugzilla-Severity"] = str(bug["severity"])
        msg["X-Bugzilla-ID"] = str(bug.id)
        msg["X-Bugzilla-Who"] = who
        msg["X-Bugzilla-Status"] = str(bug["status"])
        msg["X-Bugzilla-Resolution"] = str(bug["resolution"])
        msg["X-Bugzilla-Priority"] = str(bug["priority"])
        msg["X-Bugzilla-Assigned-To"] = st.user(int(bug["assigned_to"])).login  # type: ignore[call-overload]
        if st.use_target_milestone:  # Bugzilla leaves the header out while milestones are off
            msg["X-Bugzilla-Target-Milestone"] = str(bug["target_milestone"])
        msg["X-Bugzilla-Flags"] = " ".join(f"{f['name']}{f['status']}" for f in bug.flags)

    def _thread_headers(self, msg: EmailMessage, bug: BugRecord, to: User, new: bool) -> None:
        root = f"<bug-{bug.id}-{to.id}{self.sitespec}>"
        if new:
            msg["Message-ID"] = root
            return
        token = "".join(secrets.choice(_ALNUM) for _ in range(10))
        msg["Message-ID"] = f"<bug-{bug.id}-{to.id}-{token}{self.sitespec}>"
        msg["In-Reply-To"] = root
        msg["References"] = root

    def _tail_headers(self, msg: EmailMessage) -> None:
        msg["X-Bugzilla-URL"] = self.base_url
        msg["Auto-Submitted"] = "auto-generated"

    # -- bug mails ----------------------------------------------------------------------
    def _bug_mails(self, bug: BugRecord, event: BugEvent) -> list[EmailMessage]:
        st = self.state
        when = datetime.fromtimestamp(event.ts, UTC)
        new = event.kind == "new"
        if new:
            subject = f"[Bug {bug.id}] New: {bug['summary']}"
            fields = [f for f in NEW_BUG_FIELDS if self._new_field_present(bug, f)]
        else:
            subject = f"[Bug {bug.id}] {bug['summary']}"
            fields = [FIELD_INFO[c.field][0] if c.field in FIELD_INFO else c.field
                      for c in event.changes]
        mails = []
        for uid, roles in sorted(self._recipients(bug, event).items()):
            to = st.user(uid)
            msg = EmailMessage()
            self._common_headers(msg, bug, to, subject, when)
            msg["X-Bugzilla-Reason"] = " ".join(roles)
            msg["X-Bugzilla-Type"] = "new" if new else "changed"
            msg["X-Bugzilla-Watch-Reason"] = "None"
            self._bug_headers(msg, bug, event.who.login)
            msg["X-Bugzilla-Changed-Fields"] = " ".join(fields)
            self._thread_headers(msg, bug, to, new)
            self._tail_headers(msg)
            text = self._new_text(bug, event) if new else self._changed_text(bug, event)
            footer = "\n\n-- \nYou are receiving this mail because:\n" + "\n".join(
                ROLE_TEXT[r] for r in roles)
            msg.set_content(text + footer, charset="utf-8", cte="quoted-printable")
            msg.add_alternative(self._html(bug, event, roles), subtype="html", charset="utf-8",
                                cte="quoted-printable")
            msg["Content-Transfer-Encoding"] = "7bit"
            for part in msg.iter_parts():
                part["Date"] = format_datetime(when)
                self._tail_headers(part)  # type: ignore[arg-type]
            mails.append(msg)
        return mails

    @staticmethod
    def _new_field_present(bug: BugRecord, field: str) -> bool:
        optional = {"status_whiteboard": bug["whiteboard"], "keywords": bug.keywords,
                    "qa_contact": bug["qa_contact"], "cc": bug.cc}
        return bool(optional[field]) if field in optional else True

    def _url(self, bug_id: int) -> str:
        return f"{self.base_url}show_bug.cgi?id={bug_id}"

    def _new_rows(self, bug: BugRecord) -> list[tuple[str, str]]:
        st = self.state
        rows = [("Bug ID", str(bug.id)), ("Summary", str(bug["summary"])),
                ("Product", str(bug["product"])), ("Version", str(bug["version"])),
                ("Hardware", str(bug["platform"])), ("OS", str(bug["op_sys"])),
                ("Status", str(bug["status"]))]
        if bug["resolution"]:
            rows.append(("Resolution", str(bug["resolution"])))
        if bug["whiteboard"]:
            rows.append(("Whiteboard", str(bug["whiteboard"])))
        if bug.keywords:
            rows.append(("Keywords", ", ".join(bug.keywords)))
        rows += [("Severity", str(bug["severity"])), ("Priority", str(bug["priority"])),
                 ("Component", str(bug["component"])),
                 ("Assignee", st.user(int(bug["assigned_to"])).login),  # type: ignore[call-overload]
                 ("Reporter", st.user(int(bug["reporter"])).login)]  # type: ignore[call-overload]
        if bug["qa_contact"]:
            rows.append(("QA Contact", st.user(int(bug["qa_contact"])).login))  # type: ignore[call-overload]
        if bug.cc:
            rows.append(("CC", ", ".join(st.user(u).login for u in bug.cc)))
        if st.use_target_milestone:
            rows.append(("Target Milestone", str(bug["target_milestone"])))
        if bug["url"]:
            rows.append(("URL", str(bug["url"])))
        return rows

    def _new_text(self, bug: BugRecord, event: BugEvent) -> str:
        lines = []
        for label, value in self._new_rows(bug):
            wrapped = textwrap.wrap(value, 55, break_on_hyphens=False) or [""]
            lines.append(f"{label:>18}: {wrapped[0]}")
            lines.extend(" " * 20 + w for w in wrapped[1:])
        description = wrap_comment(event.comment.text) if event.comment else ""
        return f"{self._url(bug.id)}\n\n" + "\n".join(lines) + "\n\n" + description

    def _comment_text(self, event: BugEvent) -> str:
        c = event.comment
        assert c is not None
        text = c.text
        if c.attachment_id is not None:
            first, _, rest = text.partition("\n")
            link = f"  --> {self.base_url}attachment.cgi?id={c.attachment_id}&action=edit"
            text = f"{first}\n{link}\n{rest}"
        return f"--- Comment #{c.count} from {event.who.display} ---\n{wrap_comment(text)}"

    def _changed_text(self, bug: BugRecord, event: BugEvent) -> str:
        out = f"{self._url(bug.id)}\n\n"
        shown = [c for c in event.changes if c.field in FIELD_INFO]
        if shown:
            out += f"{event.who.display} changed:\n\n{DIFF_HEADER}"
            for c in shown:
                out += diff_rows(FIELD_INFO[c.field][1], c.removed, c.added)
            if event.comment:
                out += "\n"
        if event.comment:
            out += self._comment_text(event)
        return out.rstrip("\n")

    def _html(self, bug: BugRecord, event: BugEvent, roles: list[str]) -> str:
        e = html.escape
        status, summary = str(bug["status"]), str(bug["summary"])
        link = (f'<a class="bz_bug_link \n          bz_status_{e(status)} "\n'
                f'   title="{e(status)} - {e(summary)}"\n   href="{e(self._url(bug.id))}">')
        body = ""
        if event.kind == "new":
            rows = "".join(f"\n        <tr>\n          <th>{e(label)}</th>\n          "
                           f"<td>{e(value)}\n          </td>\n        </tr>\n"
                           for label, value in self._new_rows(bug))
            body = f'<table border="1" cellspacing="0" cellpadding="8">{rows}</table>'
            if event.comment:
                body += f"\n      <p>\n        <div>\n        <pre>{e(event.comment.text)}</pre>"
                body += "\n        </div>\n      </p>\n"
        else:
            shown = [c for c in event.changes if c.field in FIELD_INFO]
            if shown:
                rows = "".join(
                    f'\n         <tr>\n           <td style="text-align:right;">'
                    f"{e(FIELD_INFO[c.field][1])}</td>\n           <td>{e(c.removed) or '&nbsp;'}"
                    f"\n           </td>\n           <td>{e(c.added) or '&nbsp;'}\n           "
                    "</td>\n         </tr>\n" for c in shown)
                body = (f'{e(event.who.display)} changed\n          {link}bug {bug.id}</a>\n'
                        '          <br>\n             <table border="1" cellspacing="0" '
                        'cellpadding="8">\n          <tr>\n            <th>What</th>\n'
                        "            <th>Removed</th>\n            <th>Added</th>\n"
                        f"          </tr>\n{rows}</table>\n")
            if event.comment:
                c = event.comment
                body += (f"\n      <p>\n        <div>\n            <b>{link}Comment # {c.count}"
                         f"</a>\n              on {link}bug {bug.id}</a>\n              from "
                         f"{e(event.who.display)}</b>\n        <pre>{e(c.text)}</pre>\n"
                         "        </div>\n      </p>\n")
        reasons = "".join(f"\n          <li>{e(ROLE_TEXT[r])}</li>" for r in roles)
        return (f'<html>\n    <head>\n      <base href="{e(self.base_url)}">\n    </head>\n'
                f"    <body>{body}\n\n      <hr>\n      <span>You are receiving this mail "
                f"because:</span>\n\n      <ul>{reasons}\n      </ul>\n    </body>\n</html>")

    # -- request mails ------------------------------------------------------------------
    def _request_mail(self, bug: BugRecord, event: BugEvent, req: FlagRequest) -> EmailMessage:
        when = datetime.fromtimestamp(event.ts, UTC)
        msg = EmailMessage()
        self._common_headers(msg, bug, req.recipient,
                             f"{req.flag_name} {req.action}: [Bug {bug.id}] {bug['summary']}",
                             when)
        msg["X-Bugzilla-Type"] = "request"
        self._bug_headers(msg, bug, "")
        self._thread_headers(msg, bug, req.recipient, new=False)
        self._tail_headers(msg)
        requestee = req.requestee.login if req.requestee else "anyone"
        if req.action == "requested":
            sentence = f"{req.setter.display} has asked {requestee} for {req.flag_name}:"
        elif req.action == "canceled":
            sentence = (f"{event.who.display} has canceled {req.setter.display}'s request for "
                        f"{requestee}'s {req.flag_name}:")
        else:
            sentence = (f"{event.who.display} has {req.action} {req.setter.display}'s request "
                        f"for {req.flag_name}:")
        text = (wrap_comment(sentence) + f"\nBug {bug.id}: {bug['summary']}\n"
                f"{self._url(bug.id)}\n\n")
        msg.set_content(text, charset="utf-8", cte="quoted-printable")
        return msg
