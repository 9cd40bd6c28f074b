"""Header blocks → :class:`email.message.Message` (compat32), without the feed parser when it can.

Almost every mail on the list has a *plain* header block: 7-bit printable ASCII, every line a
``Name: value`` line or a folded continuation of one, no envelope ``From `` line, no control
characters or bare CRs. For such a block the stdlib's ``FeedParser`` does nothing but split the
lines and call ``policy.header_source_parse`` on each header, yet it costs more than the rest of
the parse (a Python-level state machine per line). :func:`parse_header_block` builds the same
``Message`` from one regular expression over the block: the same ``(name, value)`` pairs in the
same order, no defects. Any block that is not plain (8-bit bytes, a line the feed parser would
flag, an envelope line) goes through the stdlib parser unchanged, so bad input is still judged
by the parser the rest of the module was written against. ``tests/mail/test_headers.py``
checks the two agree on generated and hostile blocks.
"""

from __future__ import annotations

import re
from email import policy
from email.message import Message
from email.parser import BytesParser

_PARSER = BytesParser(policy=policy.compat32)  # compat32: several times faster than default

# A header name as the feed parser accepts it (printable ASCII without ':' or space), a value
# of TAB and printable ASCII, continuation lines starting with SP or TAB; lines end in LF or
# CRLF. Anything else (8-bit, controls, bare CR, "From " envelope lines, a first line that is
# a continuation) is not plain.
_PLAIN_BLOCK = re.compile(
    rb"[\x21-\x39\x3b-\x7e]+:[\t\x20-\x7e]*"
    rb"(?:\r?\n(?:[\x21-\x39\x3b-\x7e]+:|[\t ])[\t\x20-\x7e]*)*(?:\r?\n)?"
)
# One header: its name, and its value as compat32's header_source_parse returns it: the first
# line's value without leading SP/TAB, the continuation lines joined with their line breaks,
# trailing CR/LF stripped (done in code).
_HEADER = re.compile(r"^([\x21-\x39\x3b-\x7e]+):[ \t]*(.*(?:\r?\n[ \t].*)*)", re.M)

Headers = dict[str, str]  # lower-cased name → first value (compat32 .get() scans a list)


def header_end(raw: bytes, start: int = 0) -> tuple[int, int] | None:
    """``(start, end)`` of the first blank line (``\\r?\\n\\r?\\n``) at or after ``start``:
    where the header block ends and where the body begins. Plain ``bytes.find`` rather than
    the equivalent regular expression, which has no literal prefix to skip ahead with and
    costs ten times more on a 3 kB mail."""
    lf = raw.find(b"\n\n", start)
    crlf = raw.find(b"\n\r\n", start, lf + 2 if lf >= 0 else len(raw))
    i = crlf if crlf >= 0 else lf  # the first LF that a blank line follows
    if i < 0:
        return None
    begin = i - 1 if i > start and raw[i - 1 : i] == b"\r" else i
    return begin, i + (3 if i == crlf else 2)


def is_plain(block: bytes) -> bool:
    return bool(block) and _PLAIN_BLOCK.fullmatch(block) is not None


def parse_header_block(block: bytes, plain: bool | None = None) -> tuple[Message, Headers]:
    """``(message, first value by lower-cased name)`` of a header block (no blank line, no
    body): exactly what ``BytesParser(policy=compat32).parsebytes(block + b"\\n\\n",
    headersonly=True)`` gives, with its headers as a dict. ``plain``: :func:`is_plain` of
    the block, when the caller has it already."""
    if not (is_plain(block) if plain is None else plain):
        msg = _PARSER.parsebytes(block + b"\n\n", headersonly=True)
        return msg, header_dict(msg)
    msg = Message()
    first: Headers = {}
    for name, value in _HEADER.findall(block.decode("ascii")):
        value = value.rstrip("\r\n")
        msg.set_raw(name, value)
        first.setdefault(name.lower(), value)
    msg.set_payload("\n" if block.endswith(b"\n") else "")  # what the parser leaves there
    return msg, first


def parse_unterminated(raw: bytes) -> tuple[Message, Headers]:
    """A mail without the blank line after its headers: the parser decides where they end
    (and records the defect)."""
    msg = _PARSER.parsebytes(raw, headersonly=True)
    return msg, header_dict(msg)


def header_dict(msg: Message) -> Headers:
    out: Headers = {}
    for name, value in msg.items():
        out.setdefault(name.lower(), value)
    return out
