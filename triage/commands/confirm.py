"""Confirmation of commands from a domain that does not sign its mail (pure).

The bot mails the Bugzilla account's own address, and only that address (not the list), a
one-time token; the commands are acted on when a mail carrying the token comes back from the
same account before the token expires. A token works once. Whoever forged the ``From`` never
sees the token, so they cannot complete it; the account holder sees what was asked in their
name. Tokens are an HMAC of the command mail's Message-ID and the account under a key only
the bot has (:func:`triage.commands.auth.make_token`): a re-plan after a crash mails the
same token, and the store keeps only its hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from triage.commands.auth import token_hash
from triage.model import Change, OutgoingMail, TriageCommand
from triage.rules.base import render, sanitize, trusted

RULE = "commands"
TokenMaker = Callable[[str, str], str]  # (command mail's Message-ID, account) → token


@dataclass(frozen=True)
class PendingConfirmation:
    """A token the bot issued (a ``command_tokens`` row)."""

    token_hash: str
    sender: str
    message_id: str  # of the command mail it confirms
    subject: str
    commands: tuple[TriageCommand, ...]
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True)
class AuthInputs:
    """What the planner needs from the store to authenticate (all optional: without a token
    maker no confirmation can be asked, and every unsigned command is refused)."""

    token_for: TokenMaker | None = None
    confirmations: Mapping[str, PendingConfirmation] = field(default_factory=dict)
    used_today: Mapping[str, int] = field(default_factory=dict)  # commands per sender today


def confirmation_request(message_id: str, subject: str, sender: str,
                         commands: tuple[TriageCommand, ...], token: str, now: datetime,
                         hours: int, known: PendingConfirmation | None, project: str
                         ) -> tuple[Change, PendingConfirmation]:
    """The token mail and the token record (kept as it was if already issued)."""
    record = known or PendingConfirmation(
        token_hash=token_hash(token), sender=sender, message_id=message_id,
        subject=subject[:500], commands=commands, issued_at=now,
        expires_at=now + timedelta(hours=hours))
    text = render("command_confirm.j2", sender=sanitize(sender),
                  lines=[sanitize(c.line or c.verb, max_length=100) for c in commands],
                  message_id=sanitize(message_id, max_length=200), token=trusted(token),
                  expires=trusted(f"{record.expires_at:%Y-%m-%d %H:%M} UTC"),
                  project=trusted(project))
    shown = str(sanitize(subject, max_length=150)).strip() or "#triage"
    mail = OutgoingMail(to=(sender,), subject=f"[xentriage confirm {token}] {shown}", text=text)
    change = Change(key=f"{RULE}:-:confirm:{message_id}", rule=RULE,
                    reason=f"confirmation request to {sender} for {len(commands)} command(s)",
                    bug_id=None, mail=mail, recipient=sender, nag=False)
    return change, record


def check_token(command: TriageCommand, address: str, now: datetime,
                confirmations: Mapping[str, PendingConfirmation], used: set[str]
                ) -> tuple[PendingConfirmation | None, str]:
    """``(pending, "")`` when ``command`` (a ``confirm``) completes a pending confirmation for
    ``address``, else ``(None, why not)``."""
    digest = token_hash(command.token)
    pending = confirmations.get(digest)
    if pending is None:
        return None, "the confirmation token is not one the bot issued"
    if pending.used_at is not None or digest in used:
        return None, "the confirmation token was already used"
    if now >= pending.expires_at:
        return None, f"the confirmation token expired at {pending.expires_at:%Y-%m-%d %H:%M} UTC"
    if address != pending.sender:
        return None, "the confirmation token was issued to another account"
    return pending, ""
