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

import quopri
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

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


# A Content-Type value whose parameters the stdlib would read back unchanged: ``type/subtype``
# then ``; name=token`` or ``; name="quoted"`` (no quote, backslash, angle bracket or ';' inside,
# no RFC 2231 ``name*``), folding whitespace between. Anything else is left to the stdlib.
_RFC2045_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"  # noqa: S105 - a MIME token, not a secret
_WS = r"[ \t\r\n]*"
_PARAM_RE = rf";{_WS}([A-Za-z0-9_.-]+){_WS}={_WS}(\"[^\"\\<>;\r\n]*\"|[^\"\\<>;\s]+){_WS}"
_SIMPLE_CONTENT_TYPE = re.compile(
    rf"{_WS}({_RFC2045_TOKEN}/{_RFC2045_TOKEN}){_WS}((?:{_PARAM_RE})*)(?:;{_WS})?")
_PARAM = re.compile(_PARAM_RE)
# Content-Transfer-Encodings whose body get_payload(decode=True) hands back as it is (any other
# value but base64 and uuencode does too; those few are left to the Message).
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})


def simple_content_type(value: str) -> tuple[str, dict[str, str]] | None:
    """(lower-case type, parameters) of a Content-Type value in the simple form the general
    parser reads to the same answer; None for anything else (the Message decides then)."""
    m = _SIMPLE_CONTENT_TYPE.fullmatch(value)
    if m is None:
        return None
    params: dict[str, str] = {}
    for name, raw in _PARAM.findall(m.group(2)):
        params.setdefault(name.lower(), raw[1:-1] if raw.startswith('"') else raw)
    return m.group(1).lower(), params


def undo_transfer_encoding(cte: str, body: bytes) -> bytes | None:
    """``body`` with a common Content-Transfer-Encoding (lower-case ``cte``) undone as compat32's
    ``get_payload(decode=True)`` does it (the same ``quopri`` call); None for the others."""
    if cte == "quoted-printable":
        return quopri.decodestring(body)
    if cte in _IDENTITY_ENCODINGS:
        return body
    return None


class Head:
    """A parsed header block: ``first`` (value by lower-cased name), the ``Content-Type``
    answers the body parser needs, and the compat32 ``Message`` (built only when asked for).

    For a plain block with a simple Content-Type the answers come from one regular expression;
    they are what ``Message.get_content_type`` / ``get_boundary`` / ``get_content_charset``
    return (the stdlib re-parses the parameters on every call, which cost more than the header
    split). Anything else asks the Message."""

    __slots__ = ("_ctype", "_msg", "_pairs", "_payload", "first")

    def __init__(self, first: Headers, pairs: list[tuple[str, str]] | None = None,
                 payload: str = "", msg: Message | None = None) -> None:
        self.first = first
        self._pairs = pairs
        self._payload = payload
        self._msg = msg
        self._ctype: tuple[str, dict[str, str]] | None = None

    @property
    def message(self) -> Message:
        if self._msg is None:
            msg = Message()
            for name, value in self._pairs or ():
                msg.set_raw(name, value)
            msg.set_payload(self._payload)  # what the parser leaves there
            self._msg = msg
        return self._msg

    @property
    def defects(self) -> list[Exception]:
        return [] if self._pairs is not None else list(self.message.defects)

    def get_all(self, name: str) -> list[str]:
        return list(self.message.get_all(name) or [])

    def _simple(self) -> tuple[str, dict[str, str]] | None:
        if self._ctype is None and self._pairs is not None:
            value = self.first.get("content-type")
            if value is None:
                self._ctype = ("text/plain", {})
            else:
                self._ctype = simple_content_type(value)
        return self._ctype

    def content_type(self) -> str:
        simple = self._simple()
        return simple[0] if simple else self.message.get_content_type()

    def boundary(self) -> str | None:
        simple = self._simple()
        if simple is None:
            return self.message.get_boundary()
        found = simple[1].get("boundary")
        return None if found is None else found.rstrip()

    def decoded_body(self, body: bytes) -> bytes:
        """The body with its Content-Transfer-Encoding undone, as compat32's
        ``get_payload(decode=True)`` does it for a single part (the same ``quopri`` call); only
        the common encodings are done here, the rest by the Message."""
        if self._pairs is not None:
            cte = self.first.get("content-transfer-encoding", "").lower()
            done = undo_transfer_encoding(cte, body)
            if done is not None:
                return done
        msg = self.message
        msg.set_payload(body.decode("ascii", "surrogateescape"))
        payload = msg.get_payload(decode=True)
        return payload if isinstance(payload, bytes) else b""

    def charset(self) -> str | None:
        simple = self._simple()
        if simple is None:
            return self.message.get_content_charset()
        found = simple[1].get("charset")
        return None if found is None else found.lower()


def parse_header_block(block: bytes, plain: bool | None = None) -> Head:
    """The :class:`Head` of a header block (no blank line, no body): the headers that
    ``BytesParser(policy=compat32).parsebytes(block + b"\\n\\n", headersonly=True)`` finds, in
    its order, without running the feed parser on a plain block. ``plain``: :func:`is_plain`
    of the block, when the caller has it already."""
    if not (is_plain(block) if plain is None else plain):
        msg = _PARSER.parsebytes(block + b"\n\n", headersonly=True)
        return Head(header_dict(msg), msg=msg)
    text = block.decode("ascii")
    pairs: list[tuple[str, str]] = _HEADER.findall(text)
    if "\r" in text:  # CRLF lines: the value's last line keeps its CR ('.' stops at LF only)
        pairs = [(name, value.rstrip("\r\n")) for name, value in pairs]
    first = {name.lower(): value for name, value in reversed(pairs)}  # the first one wins
    return Head(first, pairs, "\n" if block.endswith(b"\n") else "")


def parse_unterminated(raw: bytes) -> Head:
    """A mail without the blank line after its headers: the parser decides where they end
    (and records the defect)."""
    msg = _PARSER.parsebytes(raw, headersonly=True)
    return Head(header_dict(msg), msg=msg)


def header_dict(msg: Message) -> Headers:
    out: Headers = {}
    for name, value in msg.items():
        out.setdefault(name.lower(), value)
    return out


# The Date form every Bugzilla and list mail uses ("Tue, 01 Jan 2019 00:04:00 +0000"): read
# directly, because ``parsedate_to_datetime``'s general tokeniser cost a backfill more than the
# rest of the mail's identity. Any other form (obsolete zones, years below 1000, "-0000", extra
# spaces or comments) takes the stdlib unchanged; tests compare the two.
_DATE = re.compile(
    r"[ \t]*(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})[ \t]*")
_MONTHS = {name: n for n, name in enumerate(
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


# "+0100" → its timezone: building one per mail cost more than the rest of the date. At most
# 2 x 100 x 100 keys (the expression allows two digits each), in practice a handful.
_ZONES: dict[str, timezone] = {}


def _zone(zone: str) -> timezone:
    offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
    tz = UTC if offset == 0 else timezone(timedelta(seconds=-offset if zone[0] == "-" else offset))
    _ZONES[zone] = tz  # after the constructor: an offset it refuses is never cached
    return tz


def mail_date(value: str | None) -> datetime | None:
    """A Date header as an aware UTC datetime; None when absent or unreadable (as
    ``utc(parsedate_to_datetime(value))`` with its errors caught)."""
    if not value:
        return None
    m = _DATE.fullmatch(value)
    if m is not None:
        day, month, year, hh, mm, ss, sign, zh, zm = m.groups()
        zone = sign + zh + zm
        if zone != "-0000":  # -0000: no zone (naive), the stdlib's case
            try:
                tz = _ZONES.get(zone) or _zone(zone)
                local = datetime(int(year), _MONTHS[month], int(day), int(hh), int(mm), int(ss),
                                 tzinfo=tz)
                return local if tz is UTC else local.astimezone(UTC)
            except (ValueError, OverflowError):
                pass  # out of range here: the stdlib decides (and most likely refuses too)
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
