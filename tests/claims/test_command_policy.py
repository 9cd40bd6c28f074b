"""The sender-authentication policy and the planner's handling of it, without I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.claims.builders import TRUSTED_MX, command_event, day
from tests.claims.test_commands import ALICE, alice_knows_bug, plan
from triage.commands.auth import (
    CONFIRM,
    REFUSED,
    VERIFIED,
    aligned,
    authenticate,
    make_token,
    organisational_domain,
    token_hash,
)
from triage.commands.confirm import AuthInputs, PendingConfirmation
from triage.config import CommandSettings
from triage.model import AuthResult, SenderAuth, TriageCommand


def test_organisational_domains_come_from_the_public_suffix_list():
    assert organisational_domain("lists.xen.example.co.uk") == "example.co.uk"
    assert organisational_domain("co.uk") == ""  # a public suffix aligns with nothing
    assert aligned("mail.example.org", "example.org")
    assert not aligned("mail.example.org", "example.org", "strict")
    assert not aligned("alice.github.io", "mallory.github.io")  # a private suffix counts too
    assert not aligned("example.org.evil.example", "example.org")


def auth(address: str, *results: tuple[str, str, str, str]) -> SenderAuth:
    return SenderAuth(address=address, results=tuple(AuthResult(*r) for r in results))


@pytest.mark.parametrize("evidence,status", [
    (None, REFUSED),
    (SenderAuth(problem="2 From headers"), REFUSED),
    (auth(ALICE, (TRUSTED_MX, "dkim", "pass", "example.org")), VERIFIED),
    (auth(ALICE, ("mx.other", "dkim", "pass", "example.org")), CONFIRM),
    (auth(ALICE, (TRUSTED_MX, "dkim", "pass", "evil.example")), CONFIRM),
    (auth(ALICE, (TRUSTED_MX, "dkim", "fail", "example.org")), REFUSED),
    (auth(ALICE, (TRUSTED_MX, "dkim", "temperror", "example.org")), CONFIRM),
    (auth(ALICE, (TRUSTED_MX, "spf", "fail", "example.org")), REFUSED),
    (auth(ALICE, (TRUSTED_MX, "spf", "fail", "bounce.other.example")), CONFIRM),
    (auth(ALICE, (TRUSTED_MX, "dmarc", "fail", "example.org")), REFUSED),
    # a failed foreign signature next to an aligned pass: the aligned pass decides
    (auth(ALICE, (TRUSTED_MX, "dkim", "fail", "evil.example"),
          (TRUSTED_MX, "dkim", "pass", "example.org")), VERIFIED),
])
def test_authenticate(evidence, status):
    assert authenticate(evidence, CommandSettings(authserv_ids=[TRUSTED_MX])).status == status


def test_policies():
    unsigned = auth(ALICE)
    assert authenticate(unsigned, CommandSettings(require="dkim")).status == REFUSED
    assert authenticate(unsigned, CommandSettings(require="from-header")).status == VERIFIED
    assert authenticate(SenderAuth(problem="x"),
                        CommandSettings(require="from-header")).status == REFUSED


def test_tokens_are_stable_secret_keyed_and_hashed():
    a = make_token(b"k1", "<m@x>", ALICE)
    assert a == make_token(b"k1", "<m@x>", ALICE) and len(a) == 26
    assert a != make_token(b"k2", "<m@x>", ALICE) and a != make_token(b"k1", "<m@x>", "b@x.org")
    assert token_hash(a) == token_hash(a.lower()) and a not in token_hash(a)


def test_mail_stored_before_authentication_is_refused_silently(settings):
    (p,) = plan(settings, [command_event("<old@example.org>", ALICE, ("claim", 7), auth=None)],
                [alice_knows_bug()])
    assert p.reply is None and p.changes == () and not p.outcomes[0].accepted
    assert "stored before commands were authenticated" in p.outcomes[0].decision.reason


def test_unsigned_command_asks_the_account_and_counts_against_its_day(settings):
    settings.commands.max_per_sender_per_day = 3
    inputs = AuthInputs(token_for=lambda mid, who: make_token(b"k", mid, who),
                        used_today={ALICE: 2})
    (p,) = plan(settings, [command_event("<u@example.org>", ALICE, ("claim", 7), ("claim", 8),
                                         auth=auth(ALICE))], [alice_knows_bug()], auth=inputs)
    (mail,) = p.changes
    assert mail.key == "commands:-:confirm:<u@example.org>" and mail.mail.to == (ALICE,)
    assert mail.mail.cc == () and p.counted == 1 and len(p.tokens) == 1
    assert [o.decision.outcome for o in p.outcomes] == ["claim-awaiting-confirmation",
                                                        "claim-refused"]
    assert "daily limit" in p.outcomes[1].decision.reason
    token = make_token(b"k", "<u@example.org>", ALICE)
    assert token in mail.mail.subject and token not in str(p.outcomes[0].decision)


def test_confirmation_checks(settings):
    token = make_token(b"k", "<u@example.org>", ALICE)
    cmd = command_event("<u@example.org>", ALICE, ("claim", 7)).commands
    pending = PendingConfirmation(token_hash(token), ALICE, "<u@example.org>", "crash", cmd,
                                  day(4), day(4) + timedelta(hours=48))
    confirm = command_event("<c@example.org>", ALICE, auth=auth(ALICE))
    confirm = replace(confirm, commands=(TriageCommand("confirm", 0, ALICE, "#triage confirm",
                                                       token),))
    inputs = AuthInputs(confirmations={pending.token_hash: pending})
    # the same token twice in one pass: only the first acts
    first, second = plan(settings, [confirm, replace(confirm, message_id="<d@example.org>")],
                         [alice_knows_bug()], auth=inputs)
    assert first.outcomes[0].accepted and first.token_uses == (pending.token_hash,)
    assert first.reply is not None and first.reply.key == "commands:-:reply:<u@example.org>"
    assert second.reply is None and "already used" in second.outcomes[0].decision.reason
    used = AuthInputs(confirmations={pending.token_hash: replace(pending, used_at=day(4))})
    (again,) = plan(settings, [confirm], [alice_knows_bug()], auth=used)
    assert again.changes == () and "already used" in again.outcomes[0].decision.reason
    late = AuthInputs(confirmations={pending.token_hash: replace(pending, expires_at=day(5))})
    (expired,) = plan(settings, [confirm], [alice_knows_bug()], auth=late)
    assert expired.changes == () and "expired" in expired.outcomes[0].decision.reason
    other = replace(confirm, sender="bob@example.org", auth=auth("bob@example.org"))
    (foreign,) = plan(settings, [other], [alice_knows_bug()], auth=inputs)
    assert foreign.changes == () and "another account" in foreign.outcomes[0].decision.reason
