"""Bugzilla notifications (the recorded real ones) and list traffic → MailEvents."""

from __future__ import annotations

import json

import pytest

from tests.mail import badmail
from tests.mail.conftest import contract_dir, contract_mail
from triage.mailparse import (
    ParseLimits,
    find_commands,
    parse_change_table,
    parse_mail,
    synthetic_message_id,
)
from triage.model import FieldChange, MailEventKind


def test_every_recorded_mail_parses_to_its_indexed_type() -> None:
    folder = contract_dir()
    index_file = folder / "_index.json"
    mails = sorted(folder.glob("*.eml"))
    assert mails
    index = ({e["file"]: e for e in json.loads(index_file.read_text())}
             if index_file.exists() else {})
    for path in mails:
        parsed = parse_mail(path.read_bytes())
        assert not parsed.problem, (path.name, parsed.problem)
        (event,) = parsed.events
        assert event.bug_id == parsed.bug_id and parsed.bug_id is not None
        if path.name in index:
            assert event.bugzilla_type == index[path.name]["type"]
            assert f"[Bug {event.bug_id}]" in index[path.name]["subject"]
        assert event.product == "Xen"


def test_new_bug_headers_first_and_description_from_body() -> None:
    p = parse_mail(contract_mail("001_"))
    (e,) = p.events
    assert e.kind is MailEventKind.NEW_BUG
    assert (e.bug_id, e.product, e.component, e.who) == (1, "Xen", "Hypervisor",
                                                          "alice.hv@citrix.com")
    assert p.subject.startswith("[Bug 1] New: Hypervisor crash") and "\n" not in p.subject
    assert e.comment_text.startswith("Xen version: 4.17.2")
    assert "FATAL TRAP: vector = 13" in e.comment_text  # quoted-printable decoded
    assert "You are receiving this mail" not in e.comment_text
    assert p.message_id == "<bug-1-1-8088@http.127.0.0.1/>"


def test_comment_only() -> None:
    (e,) = parse_mail(contract_mail("007_")).events
    assert e.kind is MailEventKind.COMMENT and e.changed_fields == ()
    assert e.comment_text.startswith("Thanks for the report.")
    assert e.who == "admin@bugzilla.local"


def test_change_table_joins_wrapped_cells_by_word_and_mid_word() -> None:
    (e,) = parse_mail(contract_mail("008_")).events
    assert e.kind is MailEventKind.FIELD_CHANGE
    assert e.changed_fields == (
        FieldChange("status_whiteboard", "", "triage:needinfo missing-version missing-logs"),
        FieldChange("keywords", "", "needs-triage"),
    )
    (f,) = parse_mail(contract_mail("010_")).events
    assert f.kind is MailEventKind.FLAG_REQUEST
    assert FieldChange("flagtypes.name", "", "needinfo?(eve.hobbyist@gmail.com)") in \
        f.changed_fields


def test_assignee_change_with_comment() -> None:
    (e,) = parse_mail(contract_mail("012_")).events
    assert e.kind is MailEventKind.FIELD_CHANGE
    assert FieldChange("assigned_to", "admin@bugzilla.local", "triager@xenproject.org") in \
        e.changed_fields
    assert FieldChange("bug_status", "UNCONFIRMED", "IN_PROGRESS") in e.changed_fields
    assert e.comment_text == "Claimed by triage bot"


def test_flag_request_who_comes_from_body_when_header_is_empty() -> None:
    (e,) = parse_mail(contract_mail("009_")).events
    assert e.kind is MailEventKind.FLAG_REQUEST and e.bugzilla_type == "request"
    assert e.who == "admin@bugzilla.local"
    assert e.changed_fields == (FieldChange("flagtypes.name", "",
                                            "needinfo?(eve.hobbyist@gmail.com)"),)
    (c,) = parse_mail(contract_mail("022_")).events
    assert c.who == "eve.hobbyist@gmail.com"
    assert c.changed_fields == (FieldChange("flagtypes.name",
                                            "needinfo?(eve.hobbyist@gmail.com)", ""),)


def test_attachment() -> None:
    (e,) = parse_mail(contract_mail("024_")).events
    assert e.kind is MailEventKind.ATTACHMENT
    assert "Created attachment 1" in e.comment_text


def test_dependency_change_from_a_generated_mail() -> None:
    import random
    from datetime import UTC, datetime

    from tests.mail.make_sample_mbox import FALLBACK_BUGS, change_mail

    raw = change_mail(FALLBACK_BUGS[0], datetime(2026, 11, 1, tzinfo=UTC), random.Random(1),
                      who="jbeulich@suse.com", who_name="Jan Beulich",
                      changes=[("Depends on", "", "104"), ("Blocks", "", "7, 8")],
                      changed="dependson blocked")
    (e,) = parse_mail(raw).events
    assert e.kind is MailEventKind.DEPENDENCY
    assert e.changed_fields == (FieldChange("dependson", "", "104"),
                                FieldChange("blocked", "", "7, 8"))


def test_header_value_used_when_body_has_no_table() -> None:
    raw = contract_mail("017_")
    head, _sep, _body = raw.partition(b"\n\n")
    minimal = head + b"\n\nno table here\n"
    minimal = minimal.replace(b"multipart/alternative", b"text/plain")
    (e,) = parse_mail(minimal).events
    assert FieldChange("bug_status", "", "CONFIRMED") in e.changed_fields


def test_change_table_parser_alone() -> None:
    body = (
        "           What    |Removed                     |Added\n" + "-" * 76 + "\n"
        "             Status|UNCONFIRMED                 |RESOLVED\n"
        "         Resolution|---                         |FIXED\n\n"
    )
    assert parse_change_table(body) == [FieldChange("bug_status", "UNCONFIRMED", "RESOLVED"),
                                        FieldChange("resolution", "---", "FIXED")]
    assert parse_change_table("no table") == []


def test_commands_in_list_replies() -> None:
    raw = (b"From: Roger Pau Monne <Roger.Pau@Citrix.com>\nTo: xen-bugs@lists.xenproject.org\n"
           b"Subject: Re: [Bug 7] crash\nMessage-ID: <c1@citrix.com>\n\n"
           b"> #triage claim 9\n#triage claim 7\n  #Triage review accept #8\n"
           b"#triage review   reject 8\n#triage unclaim 6\n#triage claims 5\n#triage frob 4\n"
           b"-- \n#triage claim 3\n")
    p = parse_mail(raw)
    (e,) = p.events
    assert e.kind is MailEventKind.COMMAND
    assert [(c.verb, c.bug_id) for c in e.commands] == [
        ("claim", 7), ("review-accept", 8), ("review-reject", 8), ("unclaim", 6)]
    assert {c.sender for c in e.commands} == {"roger.pau@citrix.com"}
    assert e.bug_id is None  # several bugs: no single one


def test_ordinary_list_mail() -> None:
    raw = (b"From: Lars <lars@xenproject.org>\nTo: xen-bugs@lists.xenproject.org\n"
           b"Subject: triage call\nMessage-ID: <x@y>\n\nSee you Thursday.\n")
    (e,) = parse_mail(raw).events
    assert e.kind is MailEventKind.LIST_MAIL and e.commands == ()
    assert find_commands("#triage claim 12", "a@b")[0].bug_id == 12


def test_missing_message_id_gets_a_stable_synthetic_one() -> None:
    raw = b"From: a@example.org\nSubject: hi\n\nbody\n"
    p1, p2 = parse_mail(raw), parse_mail(raw)
    assert p1.synthetic_id and p1.message_id == p2.message_id == synthetic_message_id(raw)
    assert parse_mail(raw + b"x").message_id != p1.message_id


@pytest.mark.parametrize("case", sorted(badmail.QUARANTINE_CASES))
def test_bad_input_is_a_problem_not_an_exception(case: str) -> None:
    build, reason = badmail.QUARANTINE_CASES[case]
    p = parse_mail(build())
    assert reason in p.problem, p.problem
    assert p.events == ()


def test_subject_disagreeing_with_id_header_is_forgery() -> None:
    raw = contract_mail("007_").replace(b"X-Bugzilla-ID: 2\n", b"X-Bugzilla-ID: 3\n")
    assert "disagrees with subject [Bug 2]" in parse_mail(raw).problem


def test_oversized_mail_is_not_parsed_and_text_is_capped() -> None:
    small = ParseLimits(max_message_bytes=1024 * 1024, max_text_chars=100)
    p = parse_mail(badmail.huge_attachment(2 * 1024 * 1024), limits=small)
    assert "message too large" in p.problem and p.message_id == "<huge-attachment@example.org>"
    (e,) = parse_mail(contract_mail("001_"), limits=small).events
    assert len(e.comment_text) == 100


@pytest.mark.parametrize("build", [badmail.loop_by_header, badmail.loop_by_sender])
def test_own_mail_is_ignored(build) -> None:
    p = parse_mail(build(), bot_email="triage-bot@xenproject.org")
    assert p.ignored == "own mail (loop)" and p.events == ()
