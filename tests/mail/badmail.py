"""Hostile and broken mails, one builder per quarantine case (used by several test modules)."""

from __future__ import annotations

from tests.mail.conftest import contract_mail


def _replace(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw, old
    return raw.replace(old, new, 1)


def broken_mime() -> bytes:
    """multipart whose boundary never appears: the body cannot be found."""
    raw = contract_mail("007_")
    raw = _replace(raw, b"Message-ID: <bug-2-6-nYvUyUbiPz", b"Message-ID: <broken-mime")
    return raw.replace(b"--17957389530.DDEe9.11915", b"--not-the-boundary")


def missing_headers() -> bytes:
    """A Bugzilla notification that names no bug anywhere."""
    raw = contract_mail("007_")
    raw = _replace(raw, b"X-Bugzilla-ID: 2\n", b"")
    raw = _replace(raw, b"Subject: [Bug 2] xl doesnt work", b"Subject: xl doesnt work")
    return _replace(raw, b"Message-ID: <bug-2-6-nYvUyUbiPz", b"Message-ID: <missing-hdr")


def unknown_charset() -> bytes:
    return (b"From: Eve <eve.hobbyist@gmail.com>\nTo: xen-bugs@lists.xenproject.org\n"
            b"Subject: odd charset\nMessage-ID: <charset-unknown@example.org>\n"
            b"MIME-Version: 1.0\nContent-Type: text/plain; charset=x-klingon-17\n\nnuqneH\n")


def wrong_charset() -> bytes:
    """Declared UTF-8, really Latin-1."""
    return (b"From: Eve <eve.hobbyist@gmail.com>\nTo: xen-bugs@lists.xenproject.org\n"
            b"Subject: wrong charset\nMessage-ID: <charset-wrong@example.org>\n"
            b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            b"Content-Transfer-Encoding: 8bit\n\nCaf\xe9 cr\xe8me\n")


def eight_bit_header() -> bytes:
    return ("From: J\u00fcrgen <juergen@example.org>\nTo: xen-bugs@lists.xenproject.org\n"
            "Subject: raw utf-8 in From\nMessage-ID: <eightbit@example.org>\n\nhello\n"
            ).encode("utf-8")


def crlf_subject() -> bytes:
    """An encoded word that decodes to CR LF plus a fake header."""
    return (b"From: Mallory <mallory@example.org>\nTo: xen-bugs@lists.xenproject.org\n"
            b"Subject: =?utf-8?q?hello=0D=0ABcc=3A_victim=40example=2Eorg?=\n"
            b"Message-ID: <crlf-subject@example.org>\n\nhi\n")


def huge_attachment(size: int = 50 * 1024 * 1024) -> bytes:
    head = (b"From: Eve <eve.hobbyist@gmail.com>\nTo: xen-bugs@lists.xenproject.org\n"
            b"Subject: full crash dump\nMessage-ID: <huge-attachment@example.org>\n"
            b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n"
            b"--XX\nContent-Type: text/plain\n\n#triage claim 2\n--XX\n"
            b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\n"
    return head + line * (size // len(line)) + b"--XX--\n"


def forged_bug(bug_id: int = 999999) -> bytes:
    """A well-formed notification for a bug that does not exist."""
    raw = contract_mail("007_")
    raw = _replace(raw, b"X-Bugzilla-ID: 2\n", f"X-Bugzilla-ID: {bug_id}\n".encode())
    raw = _replace(raw, b"Subject: [Bug 2]", f"Subject: [Bug {bug_id}]".encode())
    return _replace(raw, b"Message-ID: <bug-2-6-nYvUyUbiPz", b"Message-ID: <forged")


def loop_by_header() -> bytes:
    return (b"From: Xen Triage <someone-else@xenproject.org>\n"
            b"To: xen-bugs@lists.xenproject.org\nSubject: Re: [Bug 2] claimed\n"
            b"Message-ID: <loop-header@xenproject.org>\nX-Xentriage-Bot: prod-1\n\n"
            b"#triage claim 2\n")


def loop_by_sender() -> bytes:
    return (b"From: Triage Bot <Triage-Bot@XenProject.org>\n"
            b"To: xen-bugs@lists.xenproject.org\nSubject: Weekly digest\n"
            b"Message-ID: <loop-sender@xenproject.org>\n\n#triage claim 2\n")


def notification(bug_id: int | str, tag: str = "") -> bytes:
    """A well-formed comment notification naming ``bug_id`` (any text), with its own
    Message-ID."""
    raw = contract_mail("007_")
    raw = _replace(raw, b"X-Bugzilla-ID: 2\n", f"X-Bugzilla-ID: {bug_id}\n".encode())
    raw = _replace(raw, b"Subject: [Bug 2]", f"Subject: [Bug {bug_id}]".encode())
    return _replace(raw, b"Message-ID: <bug-2-6-nYvUyUbiPz",
                    f"Message-ID: <poison-{tag or bug_id}".encode())


def bare_cr_subject() -> bytes:
    return (b"From: Mallory <mallory@example.org>\nTo: xen-bugs@lists.xenproject.org\n"
            b"Subject: hello\rBcc: victim@example.org\n"
            b"Message-ID: <bare-cr@example.org>\n\nhi\n")


def control_message_id() -> bytes:
    return (b"From: Mallory <mallory@example.org>\nTo: xen-bugs@lists.xenproject.org\n"
            b"Subject: hello\nMessage-ID: <a\x1b]0;pwned\x07@example.org>\n\nhi\n")


def escape_in_encoded_subject() -> bytes:
    return (b"From: Mallory <mallory@example.org>\nTo: xen-bugs@lists.xenproject.org\n"
            b"Subject: =?utf-8?q?=1B]0;pwned=07=1B[2J?=\n"
            b"Message-ID: <esc-subject@example.org>\n\nhi\n")


QUARANTINE_CASES = {
    "20-digit-id": (lambda: notification("99999999999999999999"), "not a bug number"),
    "negative-id": (lambda: notification("-5"), "not a bug number"),
    "bare-cr-subject": (bare_cr_subject, "bare CR in header 'Subject'"),
    "control-message-id": (control_message_id, "in header 'Message-ID'"),
    "escape-in-encoded-subject": (escape_in_encoded_subject, "control characters"),
    "broken-mime": (broken_mime, "broken MIME structure"),
    "missing-headers": (missing_headers, "without X-Bugzilla-ID"),
    "unknown-charset": (unknown_charset, "unknown charset"),
    "wrong-charset": (wrong_charset, "not valid utf-8"),
    "8bit-header": (eight_bit_header, "8-bit data in header 'From'"),
    "crlf-subject": (crlf_subject, "CR/LF"),
}
