"""The notification fast path (triage.mailfast) against the general parser it stands in for.

Every mail is run through both: ``parse_notification`` (None when it declines) and
``parse_mail_general``. Whatever the fast path accepts must be the general parser's result,
field for field (events, bug, kind, identity); what it declines is the general parser's to
judge, so quarantine and loop decisions are identical by construction, and checked here too:
``parse_mail`` (fast path first) gives the general result on every mail, hostile ones included.
"""

from __future__ import annotations

import inspect
import os
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.corpus.corpus import HELDOUT, HELDOUT2, TUNING
from tests.corpus.corpus import load as load_corpus
from tests.mail import badmail
from tests.mail.conftest import FIXTURES, contract_dir
from tests.mail.make_sample_mbox import (
    SampleBug,
    change_mail,
    comment_mail,
    load_bugs,
    new_bug_mail,
    request_mail,
    sample_archive,
)
from tests.mail.test_headers import header_blocks
from tests.mail.test_ingest import story_mails
from triage.mailfast import _content_type, parse_notification, plain_headers
from triage.mailheaders import is_plain, parse_header_block
from triage.mailparse import ParseLimits, parse_mail, parse_mail_general

BOT = "triage-bot@xenproject.org"
LIMITS = ParseLimits()
SMALL = ParseLimits(max_message_bytes=4096, max_text_chars=300, max_commands=3)
PROPS = settings(max_examples=300, deadline=None, derandomize=bool(os.environ.get("CI")),
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def recorded() -> list[bytes]:
    """The contract's recorded notifications and every .eml of the mail tests."""
    paths = sorted(contract_dir().glob("*.eml")) + sorted(FIXTURES.rglob("*.eml"))
    return [p.read_bytes() for p in paths]


def corpus_mails() -> list[bytes]:
    """The labelled corpus's reports as Bugzilla would mail them: the new-bug notification,
    each later comment, a status change and a flag request (non-ASCII text included)."""
    rng = random.Random(16)
    when = datetime(2026, 10, 1, tzinfo=UTC)
    out: list[bytes] = []
    cases = load_corpus(TUNING) + load_corpus(HELDOUT, 1000) + load_corpus(HELDOUT2, 2000)
    for case in cases:
        b = case.bug
        bug = SampleBug(id=b.id, summary=b.summary, product=b.product, component=b.component,
                        reporter=b.creator, description=b.description)
        out.append(new_bug_mail(bug, when, rng))
        for n, comment in enumerate(b.comments[1:], 1):
            out.append(comment_mail(bug, when + timedelta(hours=n), rng, who=comment.author,
                                    who_name="Someone", text=comment.text, comment_no=n))
        out.append(change_mail(bug, when, rng, who="dev@xenproject.org", who_name="Dev",
                               changes=[("Status", "UNCONFIRMED", "CONFIRMED"),
                                        ("CC", "", b.creator)], changed="bug_status cc",
                               status="CONFIRMED", comment="Confirmed on staging."))
        out.append(request_mail(bug, when, rng, requester="dev@xenproject.org",
                                requester_name="Dev", requestee=b.creator))
    return out


def is_notification(raw: bytes) -> bool:
    return re.search(rb"^X-Bugzilla-Type:", raw, re.M | re.I) is not None


_NOTIFICATIONS = [m for m in recorded() if is_notification(m)]


def hostile() -> list[bytes]:
    builders = [f for name, f in inspect.getmembers(badmail, inspect.isfunction)
                if not name.startswith("_") and f.__module__ == badmail.__name__
                and name not in {"huge_attachment", "notification"}]
    mails = [f() for f in builders]
    mails += [badmail.notification(i) for i in (1, 7, "0", "x1", "2147483648", " 42")]
    # Multipart shapes the fast path must read exactly as the general path (or decline).
    text_part = b"\nContent-Type: text/plain; charset=UTF-8"
    for raw in _NOTIFICATIONS[:6]:
        if text_part in raw:
            mails += [raw.replace(text_part, b"\nContent-Disposition: attachment" + text_part, 1),
                      raw.replace(text_part, b"\nContent-Type: text/html; charset=UTF-8", 1),
                      raw.replace(text_part, text_part + b"\nContent-Type: text/html", 1),
                      raw.replace(b"Content-Transfer-Encoding: quoted-printable",
                                  b"Content-Transfer-Encoding: 8bit", 1),
                      raw.replace(b"charset=UTF-8", b"charset=us-ascii", 1)]
    return mails


def everything() -> list[bytes]:
    base = [*recorded(), *sample_archive(load_bugs()), *story_mails(), *corpus_mails(),
            *hostile()]
    return base + [m.replace(b"\n", b"\r\n") for m in base[:60]]


def check(raw: bytes, limits: ParseLimits = LIMITS) -> bool:
    """Both paths on one mail; True when the fast path accepted it."""
    general = parse_mail_general(raw, bot_email=BOT, limits=limits)
    fast = parse_notification(raw, BOT, limits)
    if fast is not None:
        assert fast == general
    assert parse_mail(raw, bot_email=BOT, limits=limits) == general
    return fast is not None


def test_both_paths_agree_on_every_recorded_and_generated_mail() -> None:
    mails = everything()
    accepted = [check(m) for m in mails]
    # The fast path must be the path the notifications take, not a branch nothing reaches.
    notifications = [ok for m, ok in zip(mails, accepted, strict=True)
                     if is_notification(m) and b"\r\n" not in m
                     and parse_mail_general(m, bot_email=BOT).problem == ""]
    assert len(notifications) > 300
    assert sum(notifications) == len(notifications)
    contract = [m for m in recorded()
                if is_notification(m) and not parse_mail_general(m, bot_email=BOT).problem]
    assert contract and all(parse_notification(m, BOT, LIMITS) is not None for m in contract)
    # ...and it declines what it must leave to the general parser (CRLF, 8-bit, loops...).
    assert not any(check(m) for m in mails if b"\r\n" in m)
    for name in ("loop_by_header", "loop_by_sender", "eight_bit_header", "crlf_subject",
                 "bare_cr_subject", "broken_mime", "control_message_id"):
        assert parse_notification(getattr(badmail, name)(), BOT, LIMITS) is None, name


def test_both_paths_agree_with_small_limits() -> None:
    """Texts cut at the limit and mails over the size limit (the fast path declines those)."""
    for raw in recorded() + corpus_mails()[:40]:
        check(raw, SMALL)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A recorded notification with hostile edits where the fast path looks: header names
    and values, folding, the MIME structure, the text part's headers and body."""
    raw = draw(st.sampled_from(_NOTIFICATIONS))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "header", "dup"]))
        pos = draw(st.integers(0, len(raw)))
        if op == "insert":
            raw = raw[:pos] + draw(st.sampled_from(
                [b"\n", b"\r", b" ", b"\t", b":", b"\x00", b"\xc3\xa9", b"\n\n", b"--", b"=",
                 b"\nX-Bugzilla-ID: 3", b"\nContent-Type: text/html", b"\n ",
                 b"\nFrom x@y Sat Jan  1 00:00:00 2000", b"=?utf-8?q?=0D=0A?="])) + raw[pos:]
        elif op == "delete":
            raw = raw[:pos] + raw[pos + draw(st.integers(1, 40)):]
        elif op == "replace":
            raw = raw[:pos] + draw(st.binary(min_size=1, max_size=6)) + raw[pos + 3:]
        elif op == "header":
            name = draw(st.sampled_from([b"X-Bugzilla-Type", b"X-Bugzilla-ID", b"Subject",
                                         b"From", b"Content-Type", b"X-Bugzilla-Who",
                                         b"Content-Transfer-Encoding", b"X-Xentriage-Bot",
                                         b"X-Bugzilla-Changed-Fields", b"Message-ID"]))
            value = draw(st.one_of(st.from_regex(rb"[ -~]{0,30}", fullmatch=True),
                                   st.sampled_from([b"new", b"request", b"changed", b"",
                                                    b"multipart/mixed; boundary=x",
                                                    b"base64", b"2147483648",
                                                    BOT.encode()])))
            raw = name + b": " + value + b"\n" + raw
        else:
            line_end = raw.find(b"\n", pos)
            line_start = raw.rfind(b"\n", 0, pos) + 1
            if line_end > 0:
                raw = raw[:line_start] + raw[line_start:line_end + 1] * 2 + raw[line_end + 1:]
    return raw


@PROPS
@given(mutated())
def test_both_paths_agree_on_mutated_notifications(raw: bytes) -> None:
    check(raw)


@PROPS
@given(header_blocks())
def test_plain_headers_is_a_plain_blocks_first_values(block: bytes) -> None:
    """The fast path's header split never calls a block plain that the general path does not,
    and gives the same first values."""
    found = plain_headers(block)
    if found is not None:
        assert is_plain(block)
        assert found == parse_header_block(block).first


@PROPS
@given(st.one_of(
    st.from_regex(r"[Mm]ultipart/[a-zA-Z]{1,12}; ?[Bb]oundary=[ -~]{0,24}", fullmatch=True),
    st.from_regex(r"text/plain(; charset=[A-Za-z0-9\"-]{0,10})?", fullmatch=True),
    st.text(max_size=30)))
def test_content_type_reading_is_the_general_paths(value: str) -> None:
    head = parse_header_block(b"Content-Type: " + value.encode("utf-8", "surrogatepass"))
    found = _content_type(value)
    if found is not None:
        assert found[0] == head.content_type()
        assert (found[1].get("boundary") or "").rstrip() == (head.boundary() or "")
        assert found[1].get("charset", "").lower() == (head.charset() or "")


@pytest.mark.parametrize("block", [
    b"From: a@b\nSubject: x\n y", b"Subject: a\n\tb\nX: ", b"A: 1\nA: 2", b"A:b:c",
])
def test_plain_headers_reads_plain_blocks(block: bytes) -> None:
    assert plain_headers(block) == parse_header_block(block).first


@pytest.mark.parametrize("block", [
    b"", b" Subject: continuation first", b"Subject: caf\xc3\xa9", b"Subject: a\r\nB: c",
    b"Subject: bell\x07", b"Bad Name: x", b"no colon", b":no name", b"A: 1\nBad\tName: 2",
    b"From a@b Sat Jan  1 00:00:00 2000\nSubject: x", b"A: 1\n",
])
def test_plain_headers_declines_what_is_not_plain(block: bytes) -> None:
    assert plain_headers(block) is None
