"""Property-based tests (hypothesis) of the mail parser, the ``#triage`` command parser and the
address parser: whatever the input, no exception, and the outputs keep their promises. The
inputs the fuzzer (bench/fuzz_parsers.py) found crashing are replayed at the end."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.mailauth import authentication_results, strict_from
from triage.mailparse import MAX_BUG_ID, ParseLimits, normalise_address, parse_mail, read_commands

FUZZ_FOUND = Path(__file__).resolve().parent / "fixtures" / "fuzz"
PLAIN = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9.-]+$")
LIMITS = ParseLimits(max_message_bytes=64 * 1024, max_text_chars=8 * 1024, max_commands=5)
# In CI the examples are derived from the test's name (reproducible runs); locally they are
# random, so every run explores new inputs.
PROPS = settings(max_examples=300, deadline=None, derandomize=bool(os.environ.get("CI")),
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

header_names = st.sampled_from(["From", "To", "Subject", "Message-ID", "Date", "X-Bugzilla-ID",
                                "X-Bugzilla-Type", "Content-Type", "Authentication-Results",
                                "Sender", "Reply-To", "MIME-Version", "X-Bugzilla-Who"])
header_values = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"[ -~]{0,60}", fullmatch=True),
    st.sampled_from(["99999999999999999999", "-5", "0", "2147483648", "7", "new", "changed",
                     "multipart/mixed; boundary=XX", "text/plain; charset=\x00utf-8",
                     "=?utf-8?q?=1B]0;x=07?=", "a@b.example <c@d.example>",
                     "mx.example; dkim=pass header.d=example.org"]))
line_ending = st.sampled_from([b"\n", b"\r\n", b"\r"])
commands_text = st.lists(st.one_of(
    st.from_regex(r"#triage (claim|unclaim|review accept|review reject) #?-?[0-9]{1,25}",
                  fullmatch=True),
    st.from_regex(r"#triage confirm [A-Za-z2-7]{20,30}", fullmatch=True),
    st.text(max_size=40)), max_size=30).map("\n".join)


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    eol = draw(line_ending)
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=12))
    head = eol.join(f"{n}: {v}".encode("utf-8", "surrogatepass") for n, v in headers)
    body = draw(commands_text).encode("utf-8", "surrogatepass")
    noise = draw(st.binary(max_size=200))
    return head + eol + eol + body + draw(st.sampled_from([b"", noise]))


@PROPS
@given(mails())
def test_parse_mail_never_raises_and_keeps_its_promises(raw: bytes) -> None:
    parsed = parse_mail(raw, bot_email="bot@example.org", limits=LIMITS)
    assert all(0x21 <= ord(c) <= 0x7E for c in parsed.message_id)
    assert parsed.bug_id is None or 1 <= parsed.bug_id <= MAX_BUG_ID
    if parsed.problem:
        assert parsed.events == ()
    for event in parsed.events:
        real = [c for c in event.commands if c.verb != "confirm"]
        assert len(real) <= LIMITS.max_commands
        assert all(1 <= c.bug_id <= MAX_BUG_ID for c in real)
        if event.commands:
            assert event.auth is not None
            assert event.sender == event.auth.address  # commands act for the strict From only
    assert ("\r" not in parsed.subject and "\n" not in parsed.subject) or parsed.problem


@PROPS
@given(st.binary(max_size=2000))
def test_parse_mail_of_any_bytes(raw: bytes) -> None:
    parsed = parse_mail(raw, limits=LIMITS)
    assert parsed.message_id


@PROPS
@given(commands_text, st.text(max_size=60), st.integers(min_value=1, max_value=20))
def test_read_commands_is_bounded_and_in_range(text: str, subject: str, limit: int) -> None:
    commands, dropped = read_commands(text, "dev@example.org", subject, limit)
    real = [c for c in commands if c.verb != "confirm"]
    assert len(real) <= limit and dropped >= 0
    assert len({(c.verb, c.bug_id) for c in real}) == len(real)  # no duplicates
    assert all(1 <= c.bug_id <= MAX_BUG_ID for c in real)
    assert all(re.fullmatch(r"[A-Z2-7]{26}", c.token) for c in commands if c.verb == "confirm")
    # Nothing is invented: every command's line is in the text.
    assert all(c.line in text for c in real)


@PROPS
@given(st.lists(st.one_of(
    st.text(max_size=60),
    st.emails().map(str),
    st.tuples(st.text(max_size=20), st.emails()).map(lambda t: f"{t[0]} <{t[1]}>"),
    st.tuples(st.emails(), st.emails()).map(lambda t: f"{t[0]} <{t[1]}>"),
    st.tuples(st.emails(), st.emails()).map(lambda t: f"{t[0]}, {t[1]}")), max_size=3))
def test_strict_from_gives_one_plain_address_or_a_reason(values: list[str]) -> None:
    address, problem = strict_from(values)
    assert bool(address) != bool(problem)
    if address:
        assert len(values) == 1 and PLAIN.match(address)
        # the address is the one inside <...> when there is one, never a display name
        if "<" in values[0]:
            assert address == values[0].rsplit("<", 1)[1].split(">", 1)[0].lower()
    assert normalise_address(values[0]) in ("", address) if len(values) == 1 else True


@PROPS
@given(st.emails(), st.emails())
def test_a_display_name_is_never_the_address(shown: str, real: str) -> None:
    address, _problem = strict_from([f"{shown} <{real}>"])
    assert address in ("", real.lower())
    assert normalise_address(f"{shown} <{real}>") in ("", real.lower())


@PROPS
@given(st.lists(st.text(max_size=120), max_size=4))
def test_authentication_results_never_raise(values: list[str]) -> None:
    for r in authentication_results(values):
        assert r.method in ("dkim", "spf", "dmarc") and r.authserv_id


@pytest.mark.parametrize("path", sorted(FUZZ_FOUND.glob("*")), ids=lambda p: p.name)
def test_inputs_the_fuzzer_found(path: Path) -> None:
    raw = path.read_bytes()
    parsed = parse_mail(raw, limits=LIMITS)
    assert all(0x21 <= ord(c) <= 0x7E for c in parsed.message_id)
    text = raw.decode("utf-8", "replace")
    read_commands(text, "dev@example.org", text[:200], 10)
    strict_from([text[:400]])
    authentication_results([text[:2000]])
