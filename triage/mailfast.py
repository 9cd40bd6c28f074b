"""The fast path of :func:`~triage.mailparse.parse_mail`: a Bugzilla notification in the shapes
Bugzilla sends, read without the general MIME machinery. Pure: bytes in, data out.

Almost every mail of a bugs-list archive is a notification with a plain header block and either a
single text/plain body or a multipart/alternative of a text and an HTML part. For those, the
general parser builds a :class:`~triage.mailheaders.Head` per header block, re-checks the block's
plainness with one regular expression and splits it with another, and parses every part's
headers the same way; that was a third of a backfill's parse. This module reads such a mail
directly: one byte-class check and one split per header block, the text part found by byte
search, its Content-Type parameters read once per distinct value. The identity headers and the
event itself come from the very functions the general path uses (``_basic``, ``_bugzilla``), on
the same inputs, so an accepted mail gives the same :class:`~triage.mailparse.ParsedMail`.

It **declines** (returns ``None``, and the caller runs the general parser) on anything it does
not recognise or that the general parser would judge: 8-bit or control bytes, CRLF line ends,
a line that is not a header, an unusual Content-Type or transfer encoding, a part without
headers, an attachment or a nested multipart before the text, an empty text part, a subject that
decodes to CR/LF or control characters, no From address, the bot's own mail. Quarantine and
loop decisions are therefore always the general parser's. ``tests/mail/test_fastpath.py`` runs
both paths over the recorded notifications, the test suite's mails and hostile variants and
asserts the same result.
"""

from __future__ import annotations

import re

from triage import mailparse
from triage.mailheaders import Headers, simple_content_type, undo_transfer_encoding
from triage.mailheaders import header_end as _header_end

# Bytes a plain LF header block may hold: TAB, LF and printable ASCII. Anything else (8-bit,
# controls, CR) sends the mail to the general parser, which names the defect.
_PLAIN_BYTES = b"\t\n" + bytes(range(0x20, 0x7F))
_HEADER_START = re.compile(r"\n(?![ \t])")  # a line break that does not fold
_BOT = mailparse.BOT_HEADER.lower()
_CTYPE_CACHE_SIZE = 256
_TEXT_PLAIN: tuple[str, dict[str, str]] = ("text/plain", {})
# Content-Type value → (type, parameters), or None when the value is not simple. The text
# part's value is the same in every notification; a multipart's differs by its boundary, so
# the cache is small and simply emptied when full.
_ctypes: dict[str, tuple[str, dict[str, str]] | None] = {}
_UNSEEN = object()
# Bugzilla's multipart value, which the general expression reads to the same answer (a
# lower-case type, one unquoted token parameter) at a fifth of the cost.
_MULTIPART = re.compile(r"(multipart/[a-z]+); boundary=([0-9A-Za-z.+_-]+)")


def plain_headers(block: bytes) -> Headers | None:
    """The first value of each header of a plain LF header block (no blank line, no body), as
    :func:`~triage.mailheaders.parse_header_block` gives them in ``Head.first``; ``None`` when
    the block is not plain or uses CRLF. Plain: only TAB, LF and printable ASCII, every line a
    ``Name:`` line or a continuation (SP/TAB first) of one, the first line not a continuation.

    Without the block and header regular expressions (measured slower than this loop): the
    byte class by ``bytes.translate``, the headers by splitting at every line break that no
    SP/TAB follows (a header with its continuation lines, which compat32 keeps in the value);
    a name that is empty or holds a blank (a line without a colon, a first line that is a
    continuation, an envelope ``From `` line) makes the block not plain."""
    if not block or block.translate(None, _PLAIN_BYTES):
        return None
    first: Headers = {}
    for header in reversed(_HEADER_START.split(block.decode("ascii"))):
        name, colon, value = header.partition(":")
        if not colon:
            return None
        first[name.lower()] = value.lstrip(" \t")  # the first one wins
    names = "".join(first)  # a bad name stays a key of its own: checked once, not per header
    if "" in first or " " in names or "\t" in names:
        return None
    return first


def _content_type(value: str | None) -> tuple[str, dict[str, str]] | None:
    """What ``Head.content_type`` / ``boundary`` / ``charset`` read from a simple value (the
    parameters must not be changed by the caller: they may be shared); None otherwise."""
    if value is None:
        return _TEXT_PLAIN
    cached = _ctypes.get(value, _UNSEEN)
    if cached is not _UNSEEN:
        return cached  # type: ignore[return-value]
    common = _MULTIPART.fullmatch(value)
    if common is not None:  # a boundary of its own in every mail: read, not cached
        return common.group(1), {"boundary": common.group(2)}
    found = simple_content_type(value)
    if len(_ctypes) >= _CTYPE_CACHE_SIZE:
        _ctypes.clear()
    _ctypes[value] = found
    return found


def _decoded(h: Headers, params: dict[str, str], body: bytes, limit: int) -> str | None:
    """A text/plain body decoded as the general path decodes it; None: let it decide."""
    payload = undo_transfer_encoding(h.get("content-transfer-encoding", "").lower(), body)
    if payload is None:
        return None
    charset = params.get("charset")
    text, problem = mailparse._decode_part(payload, None if charset is None else charset.lower(),
                                           limit)
    return None if problem else text


def _text(h: Headers, body: bytes, limit: int) -> str | None:
    """The text/plain body as ``mailparse._text_of`` finds it, for a single part or a flat
    multipart; None for every other shape (and for what would be a problem)."""
    ctype = _content_type(h.get("content-type"))
    if ctype is None:
        return None
    kind, params = ctype
    if kind == "text/plain":
        return _decoded(h, params, body, limit)
    if not kind.startswith("multipart/"):
        return ""  # no text part at all: what the general path says too
    boundary = (params.get("boundary") or "").rstrip()
    if not boundary:
        return None
    parts, defect = mailparse._split_multipart(body, boundary)
    if defect:
        return None
    for raw_part in parts:
        end = _header_end(raw_part)
        if end is None or raw_part.startswith((b"\n", b"\r\n")):
            return None
        part = plain_headers(raw_part[: end[0]])
        if part is None:
            return None
        if (part.get("content-disposition") or "").lower().startswith("attachment"):
            continue
        part_type = _content_type(part.get("content-type"))
        if part_type is None or part_type[0].startswith("multipart/"):
            return None
        if part_type[0] == "text/plain":
            return _decoded(part, part_type[1], raw_part[end[1] :], limit) or None
    return ""


def parse_notification(raw: bytes, bot_email: str,
                       limits: mailparse.ParseLimits) -> mailparse.ParsedMail | None:
    """The notification's :class:`~triage.mailparse.ParsedMail`, or None: not one of the shapes
    this path reads (the general parser then decides, problems and loops included)."""
    if len(raw) > limits.max_message_bytes:
        return None
    end = _header_end(raw)
    if end is None:
        return None
    h = plain_headers(raw[: end[0]])
    if h is None:
        return None
    if ("x-bugzilla-type" not in h and "x-bugzilla-id" not in h) or _BOT in h:
        return None
    base = mailparse._basic(raw, h)
    if not base.sender or (bot_email and base.sender == bot_email.lower()):
        return None
    subject = base.subject
    if ("\r" in subject or "\n" in subject or mailparse._TEXT_CONTROL.search(subject)
            or "\n" in mailparse._unfold_raw(h.get("subject") or "")):
        return None
    text = _text(h, raw[end[1] :], limits.max_text_chars)
    if text is None:
        return None
    return mailparse._bugzilla(base, h, text, limits)
