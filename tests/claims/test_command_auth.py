"""Forged ``#triage`` commands are refused, never answered to the forger; a signed one from the
real account is done; an unsigned one is done only after the account confirms a one-time token.

End to end on real mail bytes: mbox → ingest (strict From, Authentication-Results) → engine
(policy, tokens, caps) → Bugzilla double and a real SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from tests.claims import test_integration as integration
from tests.claims.test_integration import ALICE, command_mail, ingest
from triage.adapters import open_tracker
from triage.adapters.smtp import writer_mail_sender
from triage.cli import main
from triage.engine import TriageEngine
from triage.ingest import pending_events
from triage.store import Store
from triage.store.decisions import decisions_for_bug

world = integration.world  # the fixture: the double, a real SMTP server, a migrated store
MALLORY = "mallory@evil.example"
TRUSTED = "mx.test.example"
ATTACKER_HEADERS = (f"Sender: {MALLORY}\r\nReply-To: {MALLORY}\r\n"
                    f"Return-Path: <{MALLORY}>\r\n")


def run(settings, store: Store, at: datetime | None = None):
    tracker = open_tracker(settings, production=True)
    engine = TriageEngine(settings, store, tracker,
                          mail_sender=writer_mail_sender(settings, production=True),
                          **({"clock": lambda: at} if at else {}))
    return engine.run(production=True)


def refusals(store: Store, bug_id: int) -> list[str]:
    with store.session() as s:
        return [d.reason for d in decisions_for_bug(s, bug_id) if d.outcome.endswith("-refused")]


FORGED = {
    "display name is an address": dict(
        from_header=f"From: {ALICE} <{MALLORY}>",
        auth=f"{TRUSTED}; dkim=pass header.d=evil.example"),
    "quoted display name is another address": dict(
        from_header=f'From: "{ALICE}" <{MALLORY}>',
        auth=f"{TRUSTED}; dkim=pass header.d=evil.example"),
    "two addresses": dict(
        from_header=f"From: {ALICE}, {MALLORY}",
        auth=f"{TRUSTED}; dkim=pass header.d=example.org"),
    "two From headers": dict(
        from_header=f"From: Alice <{ALICE}>\r\nFrom: {MALLORY}",
        auth=f"{TRUSTED}; dkim=pass header.d=example.org"),
    "exact From, attacker Sender/Reply-To/Return-Path, dkim=fail from the trusted server": dict(
        extra=ATTACKER_HEADERS,
        auth=f"{TRUSTED}; dkim=fail header.d=example.org; spf=fail smtp.mailfrom=evil.example"),
    "exact From, spf=fail of the From domain from the trusted server": dict(
        extra=ATTACKER_HEADERS, auth=f"{TRUSTED}; spf=fail smtp.mailfrom={ALICE}"),
    "exact From, dmarc=fail from the trusted server": dict(
        auth=f"{TRUSTED}; dmarc=fail header.from=example.org"),
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_claim_is_refused_and_nothing_is_mailed(world, tmp_path, case):
    settings, store, double, smtp, bug_id = world
    ingest(settings, store, tmp_path, command_mail(bug_id, message_id="<forged@evil.example>",
                                                   **FORGED[case]))
    run(settings, store)
    got = double.bug(bug_id)
    assert got["assigned_to"] != ALICE and got["status"] == "CONFIRMED"
    assert smtp.wait_for(1, timeout=0.5) == []  # no refusal, no confirmation: no backscatter
    (reason,) = refusals(store, bug_id)
    assert "not answered" in reason
    with store.session() as s:
        assert pending_events(s) == []  # decided once, not retried
    shown = CliRunner().invoke(main, ["--config", str(settings.source), "explain", str(bug_id)])
    assert shown.exit_code == 0 and "claim-refused" in shown.output
    assert "sender not authenticated" in shown.output


@pytest.mark.parametrize("auth", [
    "mx.evil.example; dkim=pass header.d=example.org",  # an authserv-id nobody trusts
    # the trusted server's own header is on top; a forged one with its id sits below it
    f"{TRUSTED}; dkim=none\r\nAuthentication-Results: {TRUSTED}; dkim=pass header.d=example.org",
    None,
])
def test_unverified_pass_claims_are_not_believed(world, tmp_path, make_settings, auth):
    settings, store, double, smtp, bug_id = world
    ingest(settings, store, tmp_path, command_mail(bug_id, auth=auth, extra=ATTACKER_HEADERS))
    run(settings, store)
    assert double.bug(bug_id)["assigned_to"] != ALICE
    # Only the real account hears of it (a token it did not ask for); the forger gets nothing.
    (mail,) = smtp.wait_for(1)
    assert mail["To"] == ALICE and mail["Cc"] is None and "[xentriage confirm " in mail["Subject"]
    assert all(MALLORY not in str(v) for v in mail.values())


def test_dkim_policy_without_confirmation_refuses_unsigned_mail(world, tmp_path):
    settings, store, double, smtp, bug_id = world
    settings.commands.require = "dkim"
    ingest(settings, store, tmp_path, command_mail(bug_id, auth=None))
    run(settings, store)
    assert double.bug(bug_id)["assigned_to"] != ALICE
    assert smtp.wait_for(1, timeout=0.5) == []
    (reason,) = refusals(store, bug_id)
    assert "no DKIM signature aligned with example.org" in reason


@pytest.mark.parametrize("signer,alignment,accepted", [
    ("example.org", "relaxed", True),
    ("mail.example.org", "relaxed", True),  # same organisational domain (RFC 7489 relaxed)
    ("mail.example.org", "strict", False),
    ("example.org.evil.example", "relaxed", False),
])
def test_dkim_aligned_command_from_the_real_account_is_done(world, tmp_path, signer, alignment,
                                                            accepted):
    settings, store, double, smtp, bug_id = world
    settings.commands.alignment = alignment
    settings.commands.require = "dkim"
    ingest(settings, store, tmp_path, command_mail(
        bug_id, auth=f"{TRUSTED}; dkim=pass header.d={signer} header.s=k1"))
    run(settings, store)
    assert (double.bug(bug_id)["assigned_to"] == ALICE) is accepted
    mails = smtp.wait_for(1, timeout=2 if accepted else 0.5)
    assert len(mails) == (1 if accepted else 0)


def _token(mail) -> str:
    found = re.search(r"\[xentriage confirm ([A-Z2-7]{26})\]", mail["Subject"])
    assert found, mail["Subject"]
    assert found.group(1) in mail.get_content()
    return found.group(1)


def confirmation(token: str, message_id: str, sender: str = ALICE, **kw) -> bytes:
    return command_mail(0, sender=sender, message_id=message_id, auth=None,
                        line="yes, that was me",
                        subject=f"Re: [xentriage confirm {token}] Re: [Bug 1] crash", **kw)


def test_confirmation_round_trip_claims_exactly_once(world, tmp_path):
    settings, store, double, smtp, bug_id = world
    ingest(settings, store, tmp_path, command_mail(bug_id, auth=None))
    run(settings, store)
    run(settings, store)  # a re-run mails nothing more
    (ask,) = smtp.wait_for(2, timeout=0.5)
    assert ask["To"] == ALICE and double.bug(bug_id)["assigned_to"] != ALICE
    token = _token(ask)
    with store.session() as s:
        (d,) = [d for d in decisions_for_bug(s, bug_id) if d.rule == "commands"]
        assert d.outcome == "claim-awaiting-confirmation" and token not in str(d.details)

    # A forger who saw nothing cannot guess it, and cannot use it from another address.
    ingest(settings, store, tmp_path, confirmation("A" * 26, "<guess@evil.example>"),
           confirmation(token, "<stolen@evil.example>", sender=MALLORY))
    run(settings, store)
    assert double.bug(bug_id)["assigned_to"] != ALICE

    ingest(settings, store, tmp_path, confirmation(token, "<yes@example.org>"))
    run(settings, store)
    got = double.bug(bug_id)
    assert got["assigned_to"] == ALICE and got["status"] == "IN_PROGRESS"
    _ask, done = smtp.wait_for(2)
    assert done["To"] == ALICE and f"Done: #triage claim {bug_id}" in done.get_content()
    comments = len(double.comments(bug_id))

    # Replayed token (same mail again, or a new mail with it): nothing happens.
    writes = double.request_count("PUT")
    ingest(settings, store, tmp_path, confirmation(token, "<yes@example.org>"),
           confirmation(token, "<again@example.org>"))
    run(settings, store)
    assert double.request_count("PUT") == writes
    assert len(double.comments(bug_id)) == comments
    assert len(smtp.wait_for(3, timeout=0.5)) == 2
    assert any("already used" in r for r in refusals(store, bug_id))  # explain shows it


def test_expired_token_does_nothing(world, tmp_path):
    settings, store, double, smtp, bug_id = world
    start = datetime.now(UTC)
    ingest(settings, store, tmp_path, command_mail(bug_id, auth=None))
    run(settings, store, at=start)
    token = _token(smtp.wait_for(1)[0])
    ingest(settings, store, tmp_path, confirmation(token, "<late@example.org>"))
    run(settings, store, at=start + timedelta(hours=settings.commands.confirmation_hours,
                                              seconds=1))
    assert double.bug(bug_id)["assigned_to"] != ALICE
    assert len(smtp.wait_for(2, timeout=0.5)) == 1
    assert any("expired" in r for r in refusals(store, bug_id))


def test_a_thousand_commands_are_capped_with_one_short_reply(world, tmp_path):
    settings, store, double, smtp, bug_id = world
    lines = "\n".join(f"#triage claim {n}" for n in range(bug_id, bug_id + 1000))
    ingest(settings, store, tmp_path, command_mail(bug_id, line=lines))
    with store.session() as s:
        ((_, event),) = pending_events(s)
    assert len(event.commands) == settings.commands.max_per_mail
    assert event.commands_dropped == 1000 - settings.commands.max_per_mail
    run(settings, store)
    (reply,) = smtp.wait_for(1)
    text = reply.get_content()
    assert len(text) < 4000 and len(re.findall(r"#triage claim \d+", text)) == 10
    assert "990 more #triage line(s) were not read" in text
    assert double.bug(bug_id)["assigned_to"] == ALICE


def test_daily_limit_per_sender(world, tmp_path):
    settings, store, double, smtp, bug_id = world
    settings.commands.max_per_sender_per_day = 2
    for n in range(3):
        ingest(settings, store, tmp_path, command_mail(bug_id + 100 + n,
                                                       message_id=f"<d{n}@example.org>"))
    ingest(settings, store, tmp_path, command_mail(bug_id, message_id="<d9@example.org>"))
    run(settings, store)
    replies = smtp.wait_for(4)
    assert len(replies) == 4  # verified sender: each mail answered once
    assert "daily limit of 2 commands" in replies[-1].get_content()
    assert double.bug(bug_id)["assigned_to"] != ALICE
