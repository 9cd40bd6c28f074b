"""Mails from the bugs list → typed :class:`~triage.model.MailEvent` s. Pure: bytes in, data out.

Bugzilla notifications are recognised by their ``X-Bugzilla-*`` headers, which are read first; the
text/plain body is consulted only for what the headers do not say: the old and new values of the
change table, the comment text, and the requester of a flag request (whose ``X-Bugzilla-Who`` is
empty). Anything else on the list is ordinary traffic (``LIST_MAIL``) unless it carries
``#triage <verb> <bug>`` lines (``COMMAND``).

Bad input is never an exception: :func:`parse_mail` returns a :class:`ParsedMail` whose ``problem``
says why the mail must be quarantined, or whose ``ignored`` says why it is skipped (the bot's own
mail echoed back by the list). The caller keeps the raw bytes.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from email.header import decode_header, make_header

from triage.config import Settings
from triage.mailauth import sender_auth, strict_from
from triage.mailheaders import (
    Head,
    Headers,
    header_end,
    is_plain,
    mail_date,
    parse_header_block,
    parse_unterminated,
)
from triage.model import FieldChange, MailEvent, MailEventKind, TriageCommand

BOT_HEADER = "X-Xentriage-Bot"
# Defects that mean the MIME structure cannot be trusted (a lost boundary swallows the body).
_FATAL_DEFECTS = (
    "StartBoundaryNotFoundDefect",
    "CloseBoundaryNotFoundDefect",
    "MultipartInvariantViolationDefect",
    "NoBoundaryInMultipartDefect",
    "MissingHeaderBodySeparatorDefect",
)
_RAW_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[\x21-\x7e]{1,990}>)", re.I | re.M)
_SIMPLE_ADDRESS = re.compile(r"^\s*(?:[\w .'-]*<)?([\w.+'-]+@[\w-]+(?:\.[\w-]+)+)>?\s*$", re.A)
_MSGID_CHARS = re.compile(r"(?:<[\x21-\x7e]{1,996}>)?")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_SUBJECT_BUG = re.compile(r"\[Bug ([0-9]+)\]")
_BUG_ID_LINE = re.compile(r"\s+Bug ID: \d+")  # a new bug's field block starts here
_COMMENT_START = re.compile(r"^--- Comment #(\d+) from (.*?) ---$", re.M)
_REQUESTER = re.compile(
    r"^(.*?) has (?:asked|canceled|granted|denied) (\S+)\s+for\s+(\S+?):", re.M
)
# "eve has canceled Admin <a@b>'s request for eve's needinfo:" (also granted / denied)
_ANSWERED = re.compile(
    r"^(\S+) has (canceled|granted|denied) (.*?)'s\s+request\s+for\s+(?:(\S+?)'s\s+)?(\S+?):",
    re.M | re.S,
)
_COMMAND = re.compile(
    r"^[ \t]*#triage[ \t]+(claim|unclaim|review[ \t]+accept|review[ \t]+reject)[ \t]+"
    r"(?:bug[ \t]*)?#?([0-9]{1,9})[ \t]*$",
    re.I | re.M,
)
# The reply to a confirmation request: the token in the kept subject, or on a line of its own.
_CONFIRM_CODE = r"[A-Za-z2-7]{26}"
_CONFIRM_LINE = re.compile(rf"^[ \t]*#triage[ \t]+confirm[ \t]+({_CONFIRM_CODE})[ \t]*$",
                           re.I | re.M)
_ANY_COMMAND = re.compile(r"#triage", re.I)  # cheap pre-check before the From is parsed
_CONFIRM_SUBJECT = re.compile(rf"\[xentriage confirm ({_CONFIRM_CODE})\]", re.I)
# Bugzilla's bug ids are positive 32-bit integers (a serial/INTEGER column in every backend).
MAX_BUG_ID = 2**31 - 1
_BUG_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
# In a header block: C0 controls other than TAB/CR/LF, DEL, and a CR that does not end a line.
_HEADER_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")
_BARE_LF = re.compile(rb"(?<!\r)\n")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_SIGNATURE = "\n-- \n"

# Display names in the body's change table → the internal names of X-Bugzilla-Changed-Fields.
FIELD_NAMES = {
    "Summary": "short_desc", "Product": "product", "Component": "component",
    "Version": "version", "Hardware": "rep_platform", "OS": "op_sys", "Status": "bug_status",
    "Resolution": "resolution", "Severity": "bug_severity", "Priority": "priority",
    "Assignee": "assigned_to", "QA Contact": "qa_contact", "CC": "cc",
    "Whiteboard": "status_whiteboard", "Keywords": "keywords", "Flags": "flagtypes.name",
    "Depends on": "dependson", "Blocks": "blocked", "Ever confirmed": "everconfirmed",
    "Target Milestone": "target_milestone", "URL": "bug_file_loc", "See Also": "see_also",
    "Alias": "alias", "Group": "bug_group", "Duplicates": "dup_id",
}
# X-Bugzilla-<Name> headers carry the *new* value of these fields (headers before body).
_HEADER_VALUES = {
    "bug_status": "X-Bugzilla-Status", "resolution": "X-Bugzilla-Resolution",
    "assigned_to": "X-Bugzilla-Assigned-To", "keywords": "X-Bugzilla-Keywords",
    "product": "X-Bugzilla-Product", "component": "X-Bugzilla-Component",
    "version": "X-Bugzilla-Version", "bug_severity": "X-Bugzilla-Severity",
    "priority": "X-Bugzilla-Priority", "target_milestone": "X-Bugzilla-Target-Milestone",
}


@dataclass(frozen=True)
class ParseLimits:
    max_message_bytes: int = 10 * 1024 * 1024  # larger mails are quarantined unparsed
    max_text_chars: int = 64 * 1024  # comment/description text kept in an event
    max_commands: int = 10  # ``#triage`` lines read per mail; the rest is counted, not read

    @classmethod
    def of(cls, settings: Settings) -> ParseLimits:
        return cls(max_message_bytes=settings.mail.max_message_bytes,
                   max_text_chars=settings.mail.max_text_chars,
                   max_commands=settings.commands.max_per_mail)


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    synthetic_id: bool
    subject: str = ""
    sender: str = ""
    date: datetime | None = None
    kind: str = MailEventKind.LIST_MAIL.value
    bug_id: int | None = None
    events: tuple[MailEvent, ...] = ()
    problem: str = ""  # set: quarantine with this reason
    ignored: str = ""  # set: recorded as ignored with this reason
    in_reply_to: str = ""
    references: tuple[str, ...] = field(default=())


def synthetic_message_id(raw: bytes) -> str:
    """Stable id for a mail without Message-ID: the same bytes always get the same id."""
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@xentriage.invalid>"


def normalise_message_id(value: str) -> str:
    value = "".join(value.split())
    if not value:
        return ""
    if not value.startswith("<"):
        value = "<" + value
    if not value.endswith(">"):
        value += ">"
    return value[:998]


def normalise_address(value: str) -> str:
    """``Eve Hobbyist <Eve.Hobbyist@Gmail.com>`` → ``eve.hobbyist@gmail.com``; ``""`` for
    anything that is not one plain address (``dev1@example.org <mallory@evil.example>``,
    two addresses): the display name is never taken for the address."""
    simple = _SIMPLE_ADDRESS.match(value)  # the common shapes, without the full RFC 5322 parser
    if simple:
        return simple.group(1).lower()
    if not value or value.isspace():
        return ""  # no address (a flag request's empty X-Bugzilla-Who): what strict_from says
    return strict_from([value])[0]


_FOLD = re.compile(r"\r?\n(?=[ \t])")


def _unfold_raw(value: str) -> str:
    """Undo header folding (CRLF before whitespace); any CR or LF left is part of the value."""
    return _FOLD.sub("", value)


def _decode(value: str | None) -> str:
    if value is None:
        return ""
    value = _unfold_raw(value)
    if value.isascii() and "=?" not in value:
        return value  # no encoded word: decode_header would hand it back unchanged
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError):
        return value


def _unfold(value: str | None) -> str:
    return " ".join((value or "").split())


def _header_problem(raw: bytes) -> tuple[bytes, str]:
    """The raw header block, and a reason if it carries 8-bit bytes (headers must be 7-bit ASCII
    unless SMTPUTF8 was negotiated, which a list archive cannot show)."""
    end = header_end(raw)
    block = raw[: end[0]] if end else raw
    if block.isascii():
        return block, ""
    bad = _NON_ASCII.search(block)
    if bad is None:
        return block, ""
    line_start = block.rfind(b"\n", 0, bad.start()) + 1
    name = block[line_start : block.find(b":", line_start)].decode("ascii", "replace")
    if not name.strip() or name.startswith((" ", "\t")):
        name = "a folded header"
    return block, f"8-bit data in header {name.strip()[:60]!r}"


def _header_name_at(block: bytes, pos: int) -> str:
    line_start = max(block.rfind(b"\n", 0, pos), block.rfind(b"\r", 0, pos)) + 1
    while line_start > 0 and block[line_start : line_start + 1] in (b" ", b"\t"):
        # a continuation line: the header it continues starts on an earlier line
        line_start = max(block.rfind(b"\n", 0, line_start - 1),
                         block.rfind(b"\r", 0, line_start - 1)) + 1
    name = block[line_start : block.find(b":", line_start)].decode("ascii", "replace")
    return name.strip()[:60] or "a header"


def _control_problem(block: bytes, plain: bool) -> str:
    """Bare CR, bare LF in a CRLF mail, or control characters anywhere in the header block: a
    header value the parser would split, or a terminal would obey. Checked on the raw block so
    every header (Subject, Message-ID, From, X-Bugzilla-*) is treated the same. A plain block
    (see :func:`~triage.mailheaders.is_plain`) has no control character nor bare CR."""
    bad = None if plain else _HEADER_CONTROL.search(block)
    if bad is not None:
        what = "bare CR" if bad.group() == b"\r" else f"control character {bad.group()!r}"
        return f"{what} in header {_header_name_at(block, bad.start())!r}"
    if b"\r\n" in block:
        lf = _BARE_LF.search(block)
        if lf is not None:
            return f"bare LF in header {_header_name_at(block, lf.start())!r}"
    return ""


def _split_multipart(body: bytes, boundary: str) -> tuple[list[bytes], str]:
    """Parts of a multipart body, found by plain byte search. The stdlib parser compiles a
    regular expression for every distinct boundary (one per Bugzilla mail), which costs more
    than the rest of the parse; this does the same job for well-formed input and names the
    defect otherwise."""
    delim = b"--" + boundary.encode("ascii", "replace")
    idx = body.find(delim)
    while idx > 0 and body[idx - 1 : idx] != b"\n":
        idx = body.find(delim, idx + 1)
    if idx < 0:
        return [], "StartBoundaryNotFoundDefect"
    parts: list[bytes] = []
    while True:
        after = idx + len(delim)
        if body.startswith(b"--", after):
            return parts, ""
        line_end = body.find(b"\n", after)
        if line_end < 0:
            return parts, "CloseBoundaryNotFoundDefect"
        nxt = body.find(b"\n" + delim, line_end)
        if nxt < 0:
            parts.append(body[line_end + 1 :])
            return parts, "CloseBoundaryNotFoundDefect"
        end = nxt - 1 if body[nxt - 1 : nxt] == b"\r" else nxt
        parts.append(body[line_end + 1 : end])
        idx = nxt + 1


def _decode_part(payload: bytes, declared: str | None, limit: int) -> tuple[str, str]:
    charset = (declared or "us-ascii").strip()
    try:
        codecs.lookup(charset)
    except (LookupError, ValueError):  # ValueError: a NUL in the name (found by fuzzing)
        return "", f"unknown charset {charset[:40]!r}"
    try:
        text = payload.decode(charset)
    except UnicodeDecodeError as exc:
        return "", f"body is not valid {charset}: {exc.reason} at byte {exc.start}"
    except (LookupError, TypeError, ValueError):  # a codec that is not a text encoding
        return "", f"charset {charset[:40]!r} is not a text encoding"
    return text[: limit + 16384].replace("\r\n", "\n"), ""


def _text_of(head: Head, body: bytes, limit: int, depth: int = 0) -> tuple[str, str]:
    """(text/plain body, problem): the first text/plain part that is not an attachment, decoded
    with its declared charset. An unknown or wrong charset, or a broken multipart structure, is
    a problem, not a guess. ``head`` holds headers only; ``body`` is the raw rest."""
    ctype = head.content_type()
    if ctype.startswith("multipart/"):
        boundary = head.boundary()
        if not boundary:
            return "", "broken MIME structure: NoBoundaryInMultipartDefect"
        parts, defect = _split_multipart(body, boundary)
        if defect:
            return "", f"broken MIME structure: {defect}"
        if depth >= 5:
            return "", ""
        for raw_part in parts:
            head_end = header_end(raw_part)
            if raw_part.startswith((b"\n", b"\r\n")):
                part_head, part_body = b"", raw_part.lstrip(b"\r\n")
            elif head_end:
                part_head, part_body = raw_part[: head_end[0]], raw_part[head_end[1] :]
            else:
                part_head, part_body = raw_part, b""
            part = parse_header_block(part_head)
            if (part.first.get("content-disposition") or "").lower().startswith("attachment"):
                continue
            part_type = part.content_type()
            if part_type.startswith("multipart/") or part_type == "text/plain":
                text, problem = _text_of(part, part_body, limit, depth + 1)
                if text or problem:
                    return text, problem
        return "", ""
    if ctype != "text/plain":
        return "", ""
    return _decode_part(head.decoded_body(body), head.charset(), limit)


def _strip_signature(text: str) -> str:
    cut = text.find(_SIGNATURE)
    return text if cut < 0 else text[:cut]


def parse_change_table(body: str) -> list[FieldChange]:
    """The ``What | Removed | Added`` table Bugzilla writes for a change. Wrapped cells continue on
    lines with an empty *What*; a cell filled to the column's width was cut mid-word (an e-mail
    address), a shorter one at a space."""
    if "|" not in body:
        return []  # no table (a comment, a flag mail): its header line has two bars
    lines = body.split("\n")
    start = next((i for i, line in enumerate(lines)
                  if line.strip().startswith("What") and line.count("|") == 2), None)
    if start is None:
        return []
    header = lines[start]
    bar1 = header.index("|")
    bar2 = header.index("|", bar1 + 1)
    width = bar2 - bar1 - 1
    rows: list[list[str]] = []
    last_len = [0, 0, 0]  # length of the last line segment per column, for the cut test
    for line in lines[start + 2 :]:
        if line.count("|") < 2 or not line.strip():
            break
        what, removed, added = line[:bar1], line[bar1 + 1 : bar2], line[bar2 + 1 :]
        if what.strip():
            rows.append([what.strip(), removed.rstrip(), added.rstrip()])
            last_len = [0, len(removed.rstrip()), len(added.rstrip())]
        elif rows:
            row = rows[-1]
            for i, cell in ((1, removed.rstrip()), (2, added.rstrip())):
                if not cell.strip():
                    continue
                previous = row[i]
                cut_mid_word = last_len[i] >= width - 1
                row[i] = previous + ("" if cut_mid_word or not previous else " ") + cell.strip()
                last_len[i] = len(cell)
    return [
        FieldChange(FIELD_NAMES.get(what, what), removed.strip(), added.strip())
        for what, removed, added in rows
    ]


def _comments(body: str, limit: int) -> str:
    """Text of every ``--- Comment #N from X ---`` block (a change can carry a comment)."""
    if "--- Comment #" not in body:
        return ""  # a change without a comment: no block to look for line by line
    body = _strip_signature(body)
    starts = list(_COMMENT_START.finditer(body))
    texts = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(body)
        texts.append(body[m.end() : end].strip("\n"))
    return "\n\n".join(texts)[:limit]


def _new_bug_description(body: str, limit: int) -> str:
    """For a new bug: the description follows the field block (aligned ``Name: value`` lines)."""
    body = _strip_signature(body)
    lines = body.split("\n")
    i = 0
    while i < len(lines) and not _BUG_ID_LINE.match(lines[i]):
        i += 1
    if i == len(lines):
        return body.strip()[:limit]
    while i < len(lines) and lines[i].strip():
        i += 1
    return "\n".join(lines[i:]).strip("\n")[:limit]


def _request_change(text: str) -> tuple[list[FieldChange], str]:
    """A flag request mail's one change and who made it (its X-Bugzilla-Who is empty)."""
    asked = _REQUESTER.search(text)
    if asked:
        flag, requestee = asked.group(3), asked.group(2)
        return [FieldChange("flagtypes.name", "", f"{flag}?({requestee})")], normalise_address(
            asked.group(1))
    answered = _ANSWERED.search(text)
    if answered:
        who, verb, _requester, requestee, flag = answered.groups()
        new = {"canceled": "", "granted": f"{flag}+", "denied": f"{flag}-"}[verb]
        old = f"{flag}?({requestee})" if requestee else f"{flag}?"
        return [FieldChange("flagtypes.name", old, new)], normalise_address(who)
    return [], ""


_DEPENDENCY_FIELDS = frozenset({"dependson", "blocked"})


def _classify(bz_type: str, changed: list[str], comment: str) -> MailEventKind:
    if bz_type == "new":
        return MailEventKind.NEW_BUG
    if bz_type == "request":
        return MailEventKind.FLAG_REQUEST
    if not changed:
        return MailEventKind.COMMENT if comment else MailEventKind.FIELD_CHANGE
    names = set(changed)
    if any(n.startswith("attachments.") for n in names):
        return MailEventKind.ATTACHMENT
    if not names.isdisjoint(_DEPENDENCY_FIELDS):
        return MailEventKind.DEPENDENCY
    if "flagtypes.name" in names:
        return MailEventKind.FLAG_REQUEST
    if names:
        return MailEventKind.FIELD_CHANGE
    return MailEventKind.COMMENT if comment else MailEventKind.FIELD_CHANGE


def find_commands(text: str, sender: str) -> tuple[TriageCommand, ...]:
    """``#triage`` lines outside quoted text (``>``) and outside the signature."""
    return read_commands(text, sender)[0]


def read_commands(text: str, sender: str, subject: str = "", limit: int | None = None
                  ) -> tuple[tuple[TriageCommand, ...], int]:
    """``(commands, dropped)``: the distinct ``#triage`` lines outside quoted text and the
    signature, at most ``limit`` of them (``dropped`` counts the rest), plus one ``confirm``
    for a confirmation token in the subject or body."""
    own = _strip_signature(text)
    found: list[TriageCommand] = []
    seen: set[tuple[str, int]] = set()
    dropped = 0
    token = _CONFIRM_SUBJECT.search(subject) or _CONFIRM_LINE.search(own)
    if token is not None:
        found.append(TriageCommand(verb="confirm", bug_id=0, sender=sender,
                                   line="#triage confirm", token=token.group(1).upper()))
    for m in _COMMAND.finditer(own):
        verb = "-".join(m.group(1).lower().split())
        key = (verb, int(m.group(2)))
        if key in seen or key[1] == 0:
            continue
        seen.add(key)
        if limit is not None and len(seen) > limit:
            dropped += 1
            continue
        found.append(TriageCommand(verb=verb, bug_id=key[1], sender=sender,
                                   line=m.group(0).strip()))
    return tuple(found), dropped


def bug_number(text: str) -> int | None:
    """A bug id as Bugzilla can have it (1..2**31-1, ASCII digits), else None."""
    if not _BUG_NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_BUG_ID else None


def _basic(raw: bytes, h: Headers) -> ParsedMail:
    mid = normalise_message_id(h.get("message-id") or "")
    if not _MSGID_CHARS.fullmatch(mid):
        mid = ""  # control or 8-bit characters: stored under the synthetic id, never raw
    refs = tuple(normalise_message_id(r) for r in (h.get("references") or "").split() if r)
    date = mail_date(h.get("date"))
    return _with(
        _BLANK,
        message_id=mid or synthetic_message_id(raw),
        synthetic_id=not mid,
        subject=_decode(h.get("subject")),
        sender=normalise_address(h.get("from") or ""),
        date=date,
        in_reply_to=normalise_message_id(h.get("in-reply-to") or ""),
        references=refs,
    )


_PARSED_FIELDS = frozenset(f.name for f in fields(ParsedMail))
_BLANK = ParsedMail(message_id="", synthetic_id=True)  # the defaults, which _basic fills in


def _with(base: ParsedMail, **changes: object) -> ParsedMail:
    """``base`` with ``changes``: a copy of its fields, as ``dataclasses.replace`` makes it but
    without the frozen ``__init__`` (one guarded ``__setattr__`` per field cost more than the
    rest of a notification's classification). ParsedMail has no ``__post_init__`` to skip;
    unknown names are refused as the constructor would refuse them."""
    if not changes.keys() <= _PARSED_FIELDS:
        raise TypeError(f"ParsedMail has no field(s) {sorted(changes.keys() - _PARSED_FIELDS)}")
    new = object.__new__(ParsedMail)
    new.__dict__.update(base.__dict__, **changes)
    return new


def parse_headers_only(raw_head: bytes) -> ParsedMail:
    """Identity of a mail from its header block alone (for oversized mails)."""
    block = raw_head[: end[0]] if (end := header_end(raw_head)) else raw_head
    return _basic(raw_head, parse_header_block(block).first)


def parse_mail(
    raw: bytes, *, bot_email: str = "", limits: ParseLimits = ParseLimits()
) -> ParsedMail:
    """Classify one mail. Never raises on bad input: see ``problem`` and ``ignored``.

    A Bugzilla notification in one of the usual shapes is read by the fast path
    (:mod:`triage.mailfast`); everything else, and everything it declines, by
    :func:`parse_mail_general`. Both give the same result for what the fast path accepts."""
    fast = mailfast.parse_notification(raw, bot_email, limits)
    if fast is not None:
        return fast
    return parse_mail_general(raw, bot_email=bot_email, limits=limits)


def parse_mail_general(
    raw: bytes, *, bot_email: str = "", limits: ParseLimits = ParseLimits()
) -> ParsedMail:
    """:func:`parse_mail` without the fast path: every mail through the general MIME code."""
    block, problem_8bit = _header_problem(raw)
    if len(raw) > limits.max_message_bytes:
        base = parse_headers_only(block + b"\n\n")
        return _with(base, problem=f"message too large ({len(raw)} bytes, limit "
                                   f"{limits.max_message_bytes}): kept raw, not parsed")
    try:
        end = header_end(raw)
        body = raw[end[1] :] if end else b""
        plain = bool(end) and is_plain(block)
        if end:
            head = parse_header_block(block, plain)
        else:  # no blank line: the parser finds where the headers end (and any defect)
            head = parse_unterminated(raw)
        h = head.first
        base = _basic(raw, h)
    except Exception as exc:  # the parser is lenient; anything escaping it is broken input
        found = _RAW_MESSAGE_ID.search(block)
        mid = normalise_message_id(found.group(1).decode("ascii", "replace")) if found else ""
        return ParsedMail(message_id=mid or synthetic_message_id(raw), synthetic_id=not mid,
                          problem=problem_8bit or f"unparseable message: {type(exc).__name__}")
    # The loop guard comes first: our own mail is never quarantined nor acted on.
    if BOT_HEADER.lower() in h or (bot_email and base.sender == bot_email.lower()):
        return _with(base, ignored="own mail (loop)")
    if problem_8bit:
        return _with(base, problem=problem_8bit)
    control = _control_problem(block, plain)
    if control:
        return _with(base, problem=f"{control} (header injection attempt)")
    raw_subject = _unfold_raw(h.get("subject") or "")
    if any(c in base.subject or c in raw_subject for c in "\r\n"):
        return _with(base, problem="subject contains CR/LF (header injection attempt)")
    if _TEXT_CONTROL.search(base.subject):
        return _with(base, problem="control characters in the decoded Subject")
    fatal = [type(d).__name__ for d in head.defects if type(d).__name__ in _FATAL_DEFECTS]
    if fatal:
        return _with(base, problem=f"broken MIME structure: {', '.join(sorted(set(fatal)))}")
    text, text_problem = _text_of(head, body, limits.max_text_chars)
    if text_problem:
        return _with(base, problem=text_problem)
    if "x-bugzilla-type" in h or "x-bugzilla-id" in h:
        if not base.sender:
            return _with(base, problem="missing or unreadable From header")
        return _bugzilla(base, h, text, limits)
    commands: tuple[TriageCommand, ...] = ()
    dropped = 0
    if _ANY_COMMAND.search(text) or "xentriage confirm" in base.subject.lower():
        auth = sender_auth([_unfold_raw(v) for v in head.get_all("from")],
                           head.get_all("authentication-results"))
        # Commands act for the strictly parsed From address only: with an unacceptable From
        # they are kept (sender "") so that the refusal is a decision `explain` shows.
        commands, dropped = read_commands(text, auth.address, base.subject, limits.max_commands)
    if not commands and not base.sender:
        return _with(base, problem="missing or unreadable From header")
    if not commands:
        event = MailEvent(kind=MailEventKind.LIST_MAIL, message_id=base.message_id,
                          subject=base.subject, sender=base.sender, date=base.date)
        return _with(base, events=(event,))
    bug_ids = {c.bug_id for c in commands if c.bug_id > 0}
    bug_id = next(iter(bug_ids)) if len(bug_ids) == 1 else None
    kind = MailEventKind.COMMAND
    event = MailEvent(kind=kind, message_id=base.message_id, subject=base.subject,
                      sender=auth.address, date=base.date, bug_id=bug_id, commands=commands,
                      auth=auth, commands_dropped=dropped)
    return _with(base, kind=kind.value, bug_id=bug_id, events=(event,))


def _bugzilla(base: ParsedMail, h: Headers, text: str, limits: ParseLimits) -> ParsedMail:
    bz_type = _unfold(h.get("x-bugzilla-type")).lower()
    id_header = _unfold(h.get("x-bugzilla-id"))
    subject_bug = _SUBJECT_BUG.search(base.subject)
    if not id_header and subject_bug is None:
        return _with(base, problem="Bugzilla notification without X-Bugzilla-ID or [Bug N]")
    number = id_header or subject_bug.group(1)  # type: ignore[union-attr]
    bug_id = bug_number(number)
    if bug_id is None:
        where = "X-Bugzilla-ID" if id_header else "the subject's [Bug N]"
        return _with(base, problem=f"{where} is not a bug number Bugzilla can have "
                                   f"(1..{MAX_BUG_ID}): {number[:40]!r}")
    if subject_bug is not None and subject_bug.group(1) != str(bug_id):
        return _with(base, bug_id=bug_id, problem=(
            f"X-Bugzilla-ID {bug_id} disagrees with subject [Bug {subject_bug.group(1)[:40]}]"))
    if bz_type not in {"new", "changed", "request"}:
        return _with(base, bug_id=bug_id, problem=f"unknown X-Bugzilla-Type {bz_type[:40]!r}")
    changed_names = _unfold(h.get("x-bugzilla-changed-fields")).split()
    who = normalise_address(_unfold(h.get("x-bugzilla-who")))
    changes: list[FieldChange] = []
    comment = ""
    if bz_type == "new":
        comment = _new_bug_description(text, limits.max_text_chars)
    elif bz_type == "request":
        changes, requester = _request_change(text)
        who = who or requester
    else:
        table = {c.field: c for c in parse_change_table(text)}
        for name in changed_names:
            found = table.pop(name, None)
            if found is None:  # headers name it, the body does not: the header's new value
                header = _HEADER_VALUES.get(name)
                found = FieldChange(name, "", _unfold(h.get(header.lower())) if header else "")
            changes.append(found)
        changes.extend(table.values())  # body rows the header list left out (never lost)
        comment = _comments(text, limits.max_text_chars)
    kind = _classify(bz_type, changed_names, comment)
    event = MailEvent(
        kind=kind, message_id=base.message_id, subject=base.subject, sender=base.sender,
        date=base.date, bug_id=bug_id,
        product=_unfold(h.get("x-bugzilla-product")),
        component=_unfold(h.get("x-bugzilla-component")),
        who=who, bugzilla_type=bz_type, changed_fields=tuple(changes), comment_text=comment,
    )
    return _with(base, kind=kind.value, bug_id=bug_id, events=(event,))



# At the end: the fast path reads this module's helpers (its import of this module finds them
# defined), and parse_mail only calls it at run time.
from triage import mailfast  # noqa: E402
