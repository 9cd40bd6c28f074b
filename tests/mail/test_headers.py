"""The fast header path (triage.mailheaders) agrees with the stdlib parser it stands in for.

The backfill splits plain header blocks with one regular expression and reads simple
Content-Type parameters itself; everything it answers must be what ``BytesParser(policy=
compat32)`` and ``Message.get_content_type / get_boundary / get_content_charset`` answer, and a
whole ``parse_mail`` must come out the same with the fast path switched off."""

from __future__ import annotations

import os
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.mail import badmail
from tests.mail.conftest import FIXTURES
from tests.mail.make_sample_mbox import load_bugs, sample_archive
from triage import mailheaders, mailparse
from triage.mailauth import strict_from
from triage.mailheaders import Head, header_end, is_plain, mail_date, parse_header_block
from triage.mailparse import ParseLimits, normalise_address, parse_mail
from triage.model import utc

STDLIB = mailheaders._PARSER
PROPS = settings(max_examples=400, deadline=None, derandomize=bool(os.environ.get("CI")),
                 suppress_health_check=[HealthCheck.too_slow])
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")

names = st.one_of(st.sampled_from(["From", "Subject", "Content-Type", "content-type",
                                   "Message-ID", "X-Bugzilla-ID", "Content-Disposition",
                                   "Content-Transfer-Encoding", "Authentication-Results"]),
                  st.from_regex(r"[!-9;-~]{1,12}", fullmatch=True),
                  st.text(max_size=6))
ctype_values = st.one_of(
    st.sampled_from([
        "text/plain", "text/plain; charset=UTF-8", 'text/plain; charset="utf-8"',
        "multipart/alternative; boundary=81474619829.cca2a.89065",
        'multipart/mixed;\n boundary="==_x y "', "multipart/mixed; boundary=",
        'multipart/mixed; boundary=""', "Multipart/Alternative; BOUNDARY=AbC; boundary=second",
        "text/plain; charset*=utf-8''%E2", "text/plain; charset=\"a\\\"b\"",
        "multipart/mixed; boundary=\"<angle>\"", "multipart/mixed; boundary=<angle>",
        "text/plain;", "text/plain;;charset=x", "text / plain", "textplain", "",
        "multipart/mixed; boundary=\"a;b\"", "text/plain; charset=us-ascii (comment)",
    ]),
    st.from_regex(r"[a-z]{1,8}/[a-z.+-]{1,8}"
                  r"(;[ \t]?[a-zA-Z*]{1,8}=(\"[ -~]{0,10}\"|[!-~]{0,10})){0,3};?",
                  fullmatch=True))
values = st.one_of(st.text(max_size=40), st.from_regex(r"[ -~\t]{0,50}", fullmatch=True),
                   ctype_values)
eols = st.sampled_from(["\n", "\r\n"])


@st.composite
def header_blocks(draw: st.DrawFn) -> bytes:
    eol = draw(eols)
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        value = draw(values).replace("\n", eol + draw(st.sampled_from([" ", "\t", ""])))
        lines.append(f"{draw(names)}:{draw(st.sampled_from(['', ' ', '  ', chr(9)]))}{value}")
    block = eol.join(lines) + draw(st.sampled_from(["", eol]))
    return block.encode("utf-8", "surrogatepass")


def stdlib_answers(block: bytes) -> tuple[object, ...]:
    msg = STDLIB.parsebytes(block + b"\n\n", headersonly=True)
    return (msg.items(), mailheaders.header_dict(msg), msg.get_content_type(),
            msg.get_boundary(), msg.get_content_charset(),
            sorted(type(d).__name__ for d in msg.defects), msg.get_payload())


def fast_answers(head: Head) -> tuple[object, ...]:
    return (head.message.items(), head.first, head.content_type(), head.boundary(),
            head.charset(), sorted(type(d).__name__ for d in head.defects),
            head.message.get_payload())


@PROPS
@given(header_blocks())
def test_header_block_answers_are_the_stdlib_parsers(block: bytes) -> None:
    if _BLANK_LINE.search(block):
        return  # a header block never holds a blank line (header_end cut it there)
    # compat32 itself can raise on some hostile blocks (a tuple charset from RFC 2231
    # parameters): then both must raise the same error.
    assert (outcome(lambda b: fast_answers(parse_header_block(b)), block)
            == outcome(stdlib_answers, block))


@pytest.mark.parametrize("value", [
    "multipart/alternative; boundary=81474619829.cca2a.89065",
    'multipart/mixed;\r\n boundary="==_x y "', "text/plain; charset=UTF-8",
    "text/plain; charset*=utf-8''x", "text/plain; charset=\"a\\\"b\"",
    "multipart/mixed; boundary=\"<angle>\"", "text / plain", "", "multipart/mixed; boundary=",
])
def test_content_type_answers_match_for_awkward_values(value: str) -> None:
    block = f"From: a@b.example\r\nContent-Type: {value}".encode()
    head = parse_header_block(block)
    assert is_plain(block)
    assert fast_answers(head) == stdlib_answers(block)


def test_plain_blocks_take_the_fast_path_and_others_do_not() -> None:
    assert is_plain(b"From: a@b.example\nSubject: x\n y")
    assert not is_plain(b"")  # nothing to split
    for block in (b"From a@b Sat Jan  1 00:00:00 2000\nSubject: x",  # envelope line
                  b" Subject: continuation first", b"Subject: caf\xc3\xa9",  # 8-bit
                  b"Subject: a\rb", b"Subject: bell\x07", b"Bad Name: x", b"no colon"):
        assert not is_plain(block), block
        # compat32 itself can raise on some hostile blocks (a tuple charset from RFC 2231
    # parameters): then both must raise the same error.
    assert (outcome(lambda b: fast_answers(parse_header_block(b)), block)
            == outcome(stdlib_answers, block))


@PROPS
@given(st.binary(max_size=40).map(lambda b: b.replace(b"x", b"\n").replace(b"y", b"\r")),
       st.integers(0, 4))
def test_header_end_finds_what_the_regular_expression_finds(raw: bytes, start: int) -> None:
    found = _BLANK_LINE.search(raw, start)
    assert header_end(raw, start) == (found.span() if found else None)


def corpus() -> list[bytes]:
    mails = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]
    mails += [p.read_bytes() for p in sorted((FIXTURES / "fuzz").glob("*.eml"))]
    mails += sample_archive(load_bugs()[:12])
    mails += [getattr(badmail, name)() for name in (
        "broken_mime", "missing_headers", "unknown_charset", "wrong_charset",
        "eight_bit_header", "crlf_subject", "forged_bug", "loop_by_header", "loop_by_sender",
        "bare_cr_subject", "control_message_id", "escape_in_encoded_subject")]
    return mails


def test_parse_mail_is_the_same_without_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    mails = corpus()
    limits = ParseLimits()
    fast = [parse_mail(m, bot_email="triage-bot@xenproject.org", limits=limits) for m in mails]
    assert sum(1 for m in mails if is_plain(m[: (header_end(m) or (len(m), 0))[0]])) > 20
    monkeypatch.setattr(mailparse, "is_plain", lambda _block: False)
    monkeypatch.setattr(mailheaders, "is_plain", lambda _block: False)
    slow = [parse_mail(m, bot_email="triage-bot@xenproject.org", limits=limits) for m in mails]
    assert fast == slow


def test_crlf_corpus_parses_the_same_as_lf() -> None:
    """The contract mails with CRLF line ends: same events (the fast path strips the CR)."""
    for path in sorted(Path(FIXTURES).glob("*.eml")):
        lf = path.read_bytes().replace(b"\r\n", b"\n")
        crlf = lf.replace(b"\n", b"\r\n")
        a, b = parse_mail(lf), parse_mail(crlf)
        assert (a.kind, a.bug_id, a.problem, a.subject) == (b.kind, b.bug_id, b.problem,
                                                            b.subject), path.name
        assert [e.changed_fields for e in a.events] == [e.changed_fields for e in b.events]


@pytest.mark.parametrize("cte", ["", "7bit", "8bit", "binary", "quoted-printable",
                                 "Quoted-Printable", "quoted-printable ", "base64", "x-uuencode",
                                 "x-token"])
@pytest.mark.parametrize("body", [b"caf=C3=A9 =\nsoft break\n", b"Y2Fmw6k=\n", b"\xe9 raw\r\n",
                                  b"begin 644 x\n#8V%T\n`\nend\n", b""])
def test_decoded_body_is_what_get_payload_decodes(cte: str, body: bytes) -> None:
    block = f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {cte}".encode()
    msg = STDLIB.parsebytes(block + b"\n\n", headersonly=True)
    msg.set_payload(body.decode("ascii", "surrogateescape"))
    assert parse_header_block(block).decoded_body(body) == msg.get_payload(decode=True)


@pytest.mark.parametrize("value", ["", " ", "\t", " \r\n ", "\u2003", "\x0b"])
def test_a_blank_address_is_no_address_as_strict_from_says(value: str) -> None:
    assert normalise_address(value) == strict_from([value])[0] == ""


def reference_mail_date(value: str | None) -> datetime | None:
    """How ``_basic`` read the Date header before the direct path (the oracle)."""
    try:
        return utc(parsedate_to_datetime(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def outcome(read: Any, value: str | None) -> object:
    try:
        return read(value)
    except Exception as exc:  # the same error, or the same value
        return type(exc)


_WEEKDAYS = ["", "Mon, ", "Sun, ", "Xyz, ", "mon, "]
_MONTH_NAMES = ["Jan", "Feb", "Jun", "Dec", "jan", "Foo"]


@given(st.sampled_from(_WEEKDAYS), st.integers(0, 40), st.sampled_from(_MONTH_NAMES),
       st.sampled_from([1, 99, 1969, 2019, 2026, 9999]), st.integers(0, 61), st.integers(0, 61),
       st.integers(0, 61), st.sampled_from(["+", "-"]), st.integers(0, 99),
       st.sampled_from([0, 30, 45, 59, 60]),
       st.sampled_from(["", " ", "\t", " (UTC)", " GMT", "\n "]))
def test_mail_date_is_the_stdlib_reading(weekday: str, day: int, month: str, year: int,
                                         hh: int, mm: int, ss: int, sign: str, zh: int,
                                         zm: int, tail: str) -> None:
    value = (f"{weekday}{day:02d} {month} {year:04d} {hh:02d}:{mm:02d}:{ss:02d} "
             f"{sign}{zh:02d}{zm:02d}")
    for variant in (value, value + tail, tail + value, value.replace(" ", "  ", 1)):
        assert outcome(mail_date, variant) == outcome(reference_mail_date, variant), variant


def test_mail_date_on_the_corpus_and_odd_forms() -> None:
    fixtures = sorted((Path(__file__).parent / "fixtures").rglob("*.eml"))
    dates = [line.split(b":", 1)[1].decode("ascii", "replace").strip()
             for p in fixtures for line in p.read_bytes().splitlines()
             if line.lower().startswith(b"date:")]
    assert len(dates) > 20
    odd = ["", "   ", "Tue, 01 Jan 2019 00:04:00 -0000", "1 Jan 19 00:04:00 EST",
           "Tue, 1 Jan 2019 00:04 +0100", "Tue, 01 Jan 2019 00:04:00", "garbage",
           "Tue, 31 Feb 2019 00:04:00 +0000", "Tue, 01 Jan 0001 00:00:00 +0100"]
    for value in [*dates, *odd, None]:
        assert outcome(mail_date, value) == outcome(reference_mail_date, value), value
