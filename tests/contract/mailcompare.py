"""Structural comparison of notification mails with the recorded Bugzilla 5.2 ones."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from pathlib import Path

_BASE = re.compile(r"http://127\.0\.0\.1:\d+/")
_MSGID = re.compile(r"^<bug-(\d+)-(\d+)(-[A-Za-z0-9]{10})?-\d+@http\.127\.0\.0\.1/>$")
_ROW_LABEL = re.compile(r'<td style="text-align:right;">([^<]*)</td>')
_LIST_ITEM = re.compile(r"<li>([^<]*)</li>")


def load_recorded(directory: Path) -> list[EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for p in sorted(directory.glob("*.eml"))]


def normalise(text: str) -> str:
    return _BASE.sub("BASE/", text).replace("\r\n", "\n")


def sort_key(msg: Message) -> tuple[int, float, str, str]:
    when = parsedate_to_datetime(str(msg["Date"])).timestamp()
    return int(str(msg["X-Bugzilla-ID"])), when, str(msg["To"]), str(msg["X-Bugzilla-Type"])


def parts(msg: EmailMessage) -> dict[str, str]:
    """content type -> decoded, normalised body (multipart or single part)."""
    out = {}
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            # Bugzilla ends the last line with a soft break (no newline); EmailMessage always
            # adds one, so trailing newlines are not significant.
            text = normalise(part.get_content())  # type: ignore[attr-defined]
            out[part.get_content_type()] = text.rstrip("\n")
    return out


def compare_mail(recorded: EmailMessage, actual: EmailMessage) -> list[str]:
    problems: list[str] = []
    rec_names = {k.lower() for k in recorded}
    act_names = {k.lower() for k in actual}
    if rec_names != act_names:
        problems.append(f"headers: missing {sorted(rec_names - act_names)}, "
                        f"unexpected {sorted(act_names - rec_names)}")
    for name in sorted(rec_names):
        if name.startswith("x-bugzilla-") or name in ("subject", "to", "from",
                                                      "auto-submitted", "mime-version"):
            r = normalise(str(recorded[name] or ""))
            a = normalise(str(actual[name] or ""))
            if r != a:
                problems.append(f"{name}: {a!r} != recorded {r!r}")
    for name in ("message-id", "in-reply-to", "references"):
        r, a = recorded[name], actual[name]
        if (r is None) != (a is None):
            problems.append(f"{name}: present={a is not None}, recorded present={r is not None}")
            continue
        if r is None:
            continue
        rm, am = _MSGID.match(str(r)), _MSGID.match(str(a))
        if not am or not rm or rm.group(1, 2) != am.group(1, 2) or (
                (rm.group(3) is None) != (am.group(3) is None)):
            problems.append(f"{name}: {a} does not have the form of recorded {r}")
    if recorded.get_content_type() != actual.get_content_type():
        problems.append(f"content type {actual.get_content_type()} != "
                        f"{recorded.get_content_type()}")
    rp, ap = parts(recorded), parts(actual)
    if set(rp) != set(ap):
        problems.append(f"parts {sorted(ap)} != recorded {sorted(rp)}")
    if "text/plain" in rp and "text/plain" in ap and rp["text/plain"] != ap["text/plain"]:
        problems.append(f"text/plain body differs:\n--- recorded\n{rp['text/plain']}\n"
                        f"--- double\n{ap['text/plain']}")
    if "text/html" in rp and "text/html" in ap:
        for pattern, what in ((_ROW_LABEL, "change rows"), (_LIST_ITEM, "reasons")):
            r_items, a_items = pattern.findall(rp["text/html"]), pattern.findall(ap["text/html"])
            if r_items != a_items:
                problems.append(f"html {what}: {a_items} != recorded {r_items}")
    return problems
