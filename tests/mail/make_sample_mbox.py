"""Bugzilla 5.2 notification mails in the exact format of the recorded ones (headers, MIME
structure, quoted-printable text part with the change table, HTML part), and the bundled sample
list archive built from them.

    python tests/mail/make_sample_mbox.py [OUT.mbox]   # default: triage/data/sample_bugs_list.mbox

The archive names the bugs of ``triage/data/sample_snapshot.json`` when that file exists (else a
built-in set), and mixes in ordinary list traffic and a few ``#triage claim`` replies. The same
factory functions serve the tests and ``bench/bench_mail.py``.
"""

from __future__ import annotations

import html
import json
import mailbox
import quopri
import random
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = REPO / "triage" / "data" / "sample_snapshot.json"
DEFAULT_OUT = REPO / "triage" / "data" / "sample_bugs_list.mbox"
BZ_URL = "https://bugzilla.xenproject.org/"
HOST = "bugzilla.xenproject.org"
LIST = "xen-bugs@lists.xenproject.org"
DAEMON = "bugzilla-daemon@xenproject.org"


@dataclass(frozen=True)
class SampleBug:
    id: int
    summary: str
    product: str = "Xen"
    component: str = "Hypervisor"
    version: str = "4.18"
    reporter: str = "eve.hobbyist@gmail.com"
    assignee: str = "xen-devel@lists.xenproject.org"
    description: str = "It crashes."
    status: str = "UNCONFIRMED"
    severity: str = "normal"


def _qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def _boundary(rng: random.Random) -> str:
    return f"{rng.randrange(10**10, 10**11)}.{rng.randrange(16**5):05x}.{rng.randrange(10**5)}"


def _headers(bug: SampleBug, *, subject: str, when: datetime, bz_type: str, who: str,
             changed: str, message_id: str, thread: str | None, keywords: str = "",
             flags: str = "", status: str | None = None, reason: str | None = "CC") -> str:
    if subject.isascii():
        folded = "\n".join(textwrap.wrap(subject, 75, subsequent_indent=" ",
                                         break_long_words=False)).lstrip()
    else:  # as Bugzilla does: RFC 2047 encoded words, folded
        folded = Header(subject, "utf-8", header_name="Subject").encode(linesep="\n")
    out = [f"From: {DAEMON}", f"To: {LIST}", "Subject: " + folded,
           f"Date: {format_datetime(when)}"]
    if reason is not None:
        out.append(f"X-Bugzilla-Reason: {reason}")
    out.append(f"X-Bugzilla-Type: {bz_type}")
    if reason is not None:
        out.append("X-Bugzilla-Watch-Reason: None")
    out += [
        f"X-Bugzilla-Product: {bug.product}", f"X-Bugzilla-Component: {bug.component}",
        f"X-Bugzilla-Version: {bug.version}", f"X-Bugzilla-Keywords: {keywords}",
        f"X-Bugzilla-Severity: {bug.severity}", f"X-Bugzilla-ID: {bug.id}",
        f"X-Bugzilla-Who: {who}", f"X-Bugzilla-Status: {status or bug.status}",
        "X-Bugzilla-Resolution: ", "X-Bugzilla-Priority: ---",
        f"X-Bugzilla-Assigned-To: {bug.assignee}", "X-Bugzilla-Target-Milestone: ---",
        f"X-Bugzilla-Flags: {flags}",
    ]
    if bz_type != "request":
        out.append(f"X-Bugzilla-Changed-Fields: {changed}")
    out.append(f"Message-ID: {message_id}")
    if thread:
        out += [f"In-Reply-To: {thread}", f"References: {thread}"]
    return "\n".join(out)


def _multipart(headers: str, text: str, html_body: str, when: datetime,
               rng: random.Random) -> bytes:
    b = _boundary(rng)
    common = (f"Date: {format_datetime(when)}\nMIME-Version: 1.0\n"
              "Content-Type: {ct}; charset=UTF-8\nContent-Transfer-Encoding: quoted-printable\n"
              f"X-Bugzilla-URL: {BZ_URL}\nAuto-Submitted: auto-generated\n\n")
    body = (
        f"{headers}\nContent-Type: multipart/alternative; boundary={b}\n"
        f"Content-Transfer-Encoding: 7bit\nX-Bugzilla-URL: {BZ_URL}\n"
        "Auto-Submitted: auto-generated\nMIME-Version: 1.0\n\n\n"
        f"--{b}\n" + common.replace("{ct}", "text/plain") + _qp(text) + f"\n--{b}\n"
        + common.replace("{ct}", "text/html") + _qp(html_body) + f"\n--{b}--\n\n"
    )
    return body.encode("ascii")


def _footer(reason: str = "You are on the CC list for the bug.") -> str:
    return f"\n-- \nYou are receiving this mail because:\n{reason}"


def _html(inner: str) -> str:
    return (f'<html>\n    <head>\n      <base href="{BZ_URL}">\n    </head>\n    <body>'
            f"{inner}\n      <hr>\n      <span>You are receiving this mail because:</span>\n"
            "    </body>\n</html>")


def thread_id(bug_id: int) -> str:
    return f"<bug-{bug_id}-3-{HOST}/>"


def new_bug_mail(bug: SampleBug, when: datetime, rng: random.Random) -> bytes:
    fields = [("Bug ID", str(bug.id)), ("Summary", bug.summary), ("Product", bug.product),
              ("Version", bug.version), ("Hardware", "x86"), ("OS", "Linux"),
              ("Status", bug.status), ("Severity", bug.severity), ("Priority", "---"),
              ("Component", bug.component), ("Assignee", bug.assignee),
              ("Reporter", bug.reporter), ("Target Milestone", "---")]
    lines = []
    for name, value in fields:
        wrapped = textwrap.wrap(value, 52) or [""]
        lines.append(f"{name:>18}: {wrapped[0]}")
        lines += [" " * 20 + w for w in wrapped[1:]]
    text = (f"{BZ_URL}show_bug.cgi?id={bug.id}\n\n" + "\n".join(lines) + "\n\n"
            + bug.description + _footer())
    rows = "".join(f"<tr><th>{n}</th><td>{html.escape(v)}</td></tr>" for n, v in fields)
    headers = _headers(
        bug, subject=f"[Bug {bug.id}] New: {bug.summary}", when=when, bz_type="new",
        who=bug.reporter, message_id=thread_id(bug.id), thread=None,
        changed="bug_id short_desc product version rep_platform\n op_sys bug_status "
                "bug_severity priority component assigned_to reporter\n target_milestone")
    body_html = _html(f"<table>{rows}</table><pre>{html.escape(bug.description)}</pre>")
    return _multipart(headers, text, body_html, when, rng)


def _cell(text: str) -> list[str]:
    return textwrap.wrap(text, 27, break_long_words=True, break_on_hyphens=False) or [""]


def change_table(changes: list[tuple[str, str, str]]) -> str:
    out = ["           What    |Removed                     |Added", "-" * 76]
    for what, removed, added in changes:
        left, right = _cell(removed), _cell(added)
        for i in range(max(len(left), len(right))):
            name = what if i == 0 else ""
            a = left[i] if i < len(left) else ""
            b = right[i] if i < len(right) else ""
            out.append(f"{name:>19}|{a:<28}|{b}")
    return "\n".join(out)


def _msgid(bug_id: int, rng: random.Random) -> str:
    token = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                    for _ in range(10))
    return f"<bug-{bug_id}-3-{token}-{HOST}/>"


def change_mail(bug: SampleBug, when: datetime, rng: random.Random, *, who: str, who_name: str,
                changes: list[tuple[str, str, str]], changed: str, comment: str | None = None,
                comment_no: int = 1, status: str | None = None, keywords: str = "",
                flags: str = "") -> bytes:
    parts = [f"{BZ_URL}show_bug.cgi?id={bug.id}", ""]
    if changes:
        parts += [f"{who_name} <{who}> changed:", "", change_table(changes), ""]
    if comment is not None:
        parts += [f"--- Comment #{comment_no} from {who_name} <{who}> ---", comment]
    text = "\n".join(parts) + _footer()
    headers = _headers(bug, subject=f"[Bug {bug.id}] {bug.summary}", when=when,
                       bz_type="changed", who=who, changed=changed,
                       message_id=_msgid(bug.id, rng), thread=thread_id(bug.id),
                       status=status, keywords=keywords, flags=flags)
    inner = "".join(f"<tr><td>{html.escape(w)}</td><td>{html.escape(r)}</td>"
                    f"<td>{html.escape(a)}</td></tr>" for w, r, a in changes)
    if comment is not None:
        inner += f"<pre>{html.escape(comment)}</pre>"
    return _multipart(headers, text, _html(f"<table>{inner}</table>"), when, rng)


def comment_mail(bug: SampleBug, when: datetime, rng: random.Random, *, who: str,
                 who_name: str, text: str, comment_no: int) -> bytes:
    return change_mail(bug, when, rng, who=who, who_name=who_name, changes=[], changed="",
                       comment=text, comment_no=comment_no)


def request_mail(bug: SampleBug, when: datetime, rng: random.Random, *, requester: str,
                 requester_name: str, requestee: str, flag: str = "needinfo") -> bytes:
    headers = _headers(bug, subject=f"{flag} requested: [Bug {bug.id}] {bug.summary}",
                       when=when, bz_type="request", who="", changed="",
                       message_id=_msgid(bug.id, rng), thread=thread_id(bug.id),
                       flags=f"{flag}?", reason=None)
    text = (f"{requester_name} <{requester}> has asked {requestee} for\n{flag}:\n"
            f"Bug {bug.id}: {bug.summary}\n{BZ_URL}show_bug.cgi?id={bug.id}\n\n\n")
    head = ("Content-Transfer-Encoding: quoted-printable\nContent-Type: text/plain; "
            "charset=UTF-8\n")
    return (head + headers + f"\nX-Bugzilla-URL: {BZ_URL}\nAuto-Submitted: auto-generated\n"
            "MIME-Version: 1.0\n\n" + _qp(text)).encode("ascii")


def list_mail(sender: str, subject: str, body: str, when: datetime, rng: random.Random, *,
              in_reply_to: str | None = None) -> bytes:
    mid = f"<{rng.randrange(16**12):012x}@mail.example.org>"
    head = [f"From: {sender}", f"To: {LIST}", f"Subject: {subject}",
            f"Date: {format_datetime(when)}", f"Message-ID: {mid}"]
    if in_reply_to:
        head += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    head += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=UTF-8",
             "Content-Transfer-Encoding: 8bit", f"List-Id: <{LIST.replace('@', '.')}>"]
    return ("\n".join(head) + "\n\n" + body + "\n").encode("utf-8")


def claim_mail(sender_name: str, sender: str, bug: SampleBug, when: datetime,
               rng: random.Random, verb: str = "claim") -> bytes:
    body = (f"On the bug report \"{bug.summary}\":\n\n#triage {verb} {bug.id}\n\n"
            "I can reproduce this on my test box and will look into it.\n\n-- \n"
            f"{sender_name}")
    return list_mail(f"{sender_name} <{sender}>", f"Re: [Bug {bug.id}] {bug.summary}", body,
                     when, rng, in_reply_to=thread_id(bug.id))


FALLBACK_BUGS = [
    SampleBug(101, "Hypervisor crash (GPF in vmx_vmexit_handler) during local migration",
              component="Hypervisor", reporter="frank@example.org", status="CONFIRMED",
              description="Xen 4.18.1, dom0 Debian 12.\nSteps: xl migrate guest1 localhost\n"
                          "Expected: migration. Actual: (XEN) FATAL TRAP: vector = 13"),
    SampleBug(102, "xl doesnt work", component="Tools", reporter="eve.hobbyist@gmail.com",
              description="it crashes. pls fix", status="RESOLVED"),
    SampleBug(103, "Unikraft build fails", component="Unikraft", version="unstable",
              reporter="frank@example.org", description="Build fails on my machine."),
    SampleBug(104, "xenstored leaks memory when watches are removed", component="Tools",
              reporter="alice.hv@citrix.com", description="Version: 4.17.1\nSteps: loop"),
]


def load_bugs(snapshot: Path = SNAPSHOT) -> list[SampleBug]:
    """The sample snapshot's bugs (``bugs`` list, ``comments`` by bug id), else the built-in set."""
    if not snapshot.exists():
        return FALLBACK_BUGS
    data = json.loads(snapshot.read_text(encoding="utf-8"))
    comments = data.get("comments", {})
    bugs = []
    for b in data.get("bugs", []):
        entry = comments.get(str(b["id"]), {})
        listed = entry.get("comments", []) if isinstance(entry, dict) else entry
        description = next((c.get("text", "") for c in listed if c.get("count") == 0), "")
        bugs.append(SampleBug(
            id=int(b["id"]), summary=b.get("summary", ""), product=b.get("product", "Xen"),
            component=b.get("component", "Hypervisor"), version=b.get("version", "unstable"),
            reporter=b.get("creator", "eve.hobbyist@gmail.com"),
            assignee=b.get("assigned_to", "") or "xen-devel@lists.xenproject.org",
            description=description or "No description.", status=b.get("status", "UNCONFIRMED"),
            severity=b.get("severity", "normal") or "normal"))
    return bugs or FALLBACK_BUGS


TRIAGER = ("triager@xenproject.org", "Xen Triage")


def bug_story(bug: SampleBug, start: datetime, rng: random.Random) -> Iterator[bytes]:
    """A plausible life of a bug on the list: filed, asked for details, answered, confirmed."""
    t = start
    final = bug.status
    bug = SampleBug(**{**bug.__dict__, "status": "UNCONFIRMED"})
    yield new_bug_mail(bug, t, rng)
    t += timedelta(hours=rng.randint(1, 30))
    yield comment_mail(bug, t, rng, who=TRIAGER[0], who_name=TRIAGER[1], comment_no=1,
                       text="Thanks for the report. Please attach the full `xl dmesg` log.")
    yield request_mail(bug, t, rng, requester=TRIAGER[0], requester_name=TRIAGER[1],
                       requestee=bug.reporter)
    t += timedelta(hours=rng.randint(2, 60))
    yield comment_mail(bug, t, rng, who=bug.reporter, who_name=bug.reporter.split("@")[0],
                       comment_no=2, text="Log attached: (XEN) Panic on CPU 0.")
    if final == "UNCONFIRMED":
        return
    t += timedelta(hours=rng.randint(1, 48))
    yield change_mail(bug, t, rng, who=TRIAGER[0], who_name=TRIAGER[1],
                      changes=[("Status", "UNCONFIRMED", "CONFIRMED"),
                               ("Whiteboard", "", "triage:complete"),
                               ("Ever confirmed", "0", "1")],
                      changed="bug_status status_whiteboard everconfirmed", status="CONFIRMED")
    if final in ("RESOLVED", "VERIFIED"):
        t += timedelta(days=rng.randint(2, 9))
        yield change_mail(bug, t, rng, who=bug.assignee, who_name=bug.assignee.split("@")[0],
                          changes=[("Status", "CONFIRMED", final), ("Resolution", "---", "FIXED")],
                          changed="bug_status resolution", status=final,
                          comment="Fixed by commit 5e1f0c2 (x86/vmx: handle the exit).",
                          comment_no=3)


def sample_archive(bugs: list[SampleBug], seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    start = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
    mails: list[tuple[datetime, bytes]] = []
    for i, bug in enumerate(bugs):
        t0 = start + timedelta(hours=9 * i)
        for j, raw in enumerate(bug_story(bug, t0, rng)):
            mails.append((t0 + timedelta(minutes=j), raw))
    claimers = [("Andrew Cooper", "andrew.cooper@citrix.com"), ("Jan Beulich", "jbeulich@suse.com")]
    open_for_dev = [b for b in bugs if b.status == "CONFIRMED"]
    candidates = open_for_dev + [b for b in bugs if b not in open_for_dev]
    for k, bug in enumerate(candidates[:2]):
        t = start + timedelta(days=6 + k)
        name, addr = claimers[k % len(claimers)]
        mails.append((t, claim_mail(name, addr, bug, t, rng)))
    t = start + timedelta(days=3)
    mails.append((t, list_mail("Lars Kurth <lars.kurth@xenproject.org>",
                               "Bug triage call this Thursday",
                               "Hi all,\n\nthe monthly bug triage call is on Thursday.\n", t, rng)))
    mails.append((t + timedelta(hours=2), list_mail(
        "Eve <eve.hobbyist@gmail.com>", "Re: Bug triage call this Thursday",
        "> the monthly bug triage call is on Thursday.\n\nI will join. Thanks!\n",
        t + timedelta(hours=2), rng)))
    mails.sort(key=lambda pair: pair[0])
    return [raw for _t, raw in mails]


def write_mbox(path: Path, raws: list[bytes]) -> None:
    if path.exists():
        path.unlink()
    box = mailbox.mbox(path)
    box.lock()
    try:
        for raw in raws:
            box.add(raw)
        box.flush()
    finally:
        box.unlock()
        box.close()


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    raws = sample_archive(load_bugs())
    write_mbox(out, raws)
    print(f"{out}: {len(raws)} mails")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
