"""``#triage`` commands from list mail: authorise, plan the Bugzilla writes, plan one reply.

Planned per *mail*, not per bug (see "Requests from part B" in docs/rules.md): one reply answers
every command of a mail, including commands about a bug the bot cannot see, and is keyed by the
command mail's Message-ID, so it is sent once however often the plan is made.

Authorisation (the rule the issue states: a command is accepted only from the email address of
the Bugzilla account it acts for):

- the command must come from the mail's own ``From`` address (a command line that claims another
  sender is refused); display names are never looked at, so ``"alice@x" <mallory@y>`` is mallory;
- ``claim``: the sender claims for themself, and must be a known Bugzilla account that is a person
  (an account Bugzilla has shown on a triaged bug, or ``rules.claims.developers``);
- ``unclaim``: only the current claimant or one of ``rules.claims.maintainers``;
- ``review accept|reject``: only a reviewer named in ``rules.review.reviewers`` (or
  ``rules.review.reviewer``), and only for a bug waiting for review;
- mail from the bot itself is never answered (loop guard);
- before any of that, the sender must be authenticated (:mod:`triage.commands.auth`):
  DKIM aligned with ``From`` as a trusted receiving server saw it, or a confirmation round trip
  (:mod:`triage.commands.confirm`); an unauthenticated mail is refused *without a reply*;
- at most ``commands.max_per_mail`` commands per mail (the parser reads no more) and
  ``commands.max_per_sender_per_day`` per sender and day.

Every refusal says why, in one line the sender can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from triage.claims.core import (
    ClaimsSettings,
    People,
    claim_in_bugzilla,
    claims_settings,
    default_assignee,
    known_accounts,
)
from triage.commands.auth import CONFIRM, REFUSED, Verdict, authenticate, token_hash
from triage.commands.confirm import (
    AuthInputs,
    PendingConfirmation,
    check_token,
    confirmation_request,
)
from triage.config import Settings
from triage.model import (
    Bug,
    BugUpdate,
    Change,
    Decision,
    MailEvent,
    MailEventKind,
    OutgoingMail,
    TriageCommand,
    TriageState,
)
from triage.rules.base import RuleContext, StateRecord, StateUpdate, render, sanitize, trusted

RULE = "commands"  # Decision.rule and the reply's key prefix
CLAIMS_RULE = "claims"  # the Bugzilla writes belong to the claims rule (templates claims_*.j2)
_MSGID = re.compile(r"^<[!-;=?A-~]+@[!-;=?A-~]+>$")


@dataclass(frozen=True)
class CommandOutcome:
    command: TriageCommand
    accepted: bool
    message: str  # one line for the reply
    decision: Decision
    changes: tuple[Change, ...] = ()
    state: StateUpdate | None = None


@dataclass(frozen=True)
class EventPlan:
    """What one command mail leads to. Apply like a rule result: all changes, then the states."""

    row_id: int
    message_id: str
    sender: str
    outcomes: tuple[CommandOutcome, ...] = ()
    reply: Change | None = None
    ignored: str = ""  # why nothing at all is done (the bot's own mail)
    counted: int = 0  # commands counted against the sender's daily limit
    tokens: tuple[PendingConfirmation, ...] = ()  # confirmation tokens to record before sending
    token_uses: tuple[str, ...] = ()  # token hashes this mail uses up (once applied)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(o.decision for o in self.outcomes)

    @property
    def changes(self) -> tuple[Change, ...]:
        out = [c for o in self.outcomes for c in o.changes]
        return tuple(out + ([self.reply] if self.reply is not None else []))

    @property
    def states(self) -> dict[int, StateUpdate]:
        return {o.command.bug_id: o.state for o in self.outcomes if o.state is not None}


@dataclass
class _Pass:
    """What the commands of this pass have done so far (two mails claiming one bug: the first
    wins, the second is refused)."""

    settings: Settings
    claims: ClaimsSettings
    people: People
    accounts: frozenset[str]
    bugs: Mapping[int, Bug]
    states: Mapping[int, StateRecord]
    applied_keys: frozenset[str]
    now: datetime
    auth: AuthInputs = field(default_factory=AuthInputs)
    holder: dict[int, str | None] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)  # commands per sender today
    used_tokens: set[str] = field(default_factory=set)  # tokens used earlier in this pass

    def claimant(self, bug: Bug) -> str | None:
        if bug.id in self.holder:
            return self.holder[bug.id]
        claim = claim_in_bugzilla(bug, self.people, self.settings.bugzilla.workflow)
        return claim.claimant if claim else None


def _decision(cmd: TriageCommand, outcome: str, reason: str, event: MailEvent,
              state: TriageState | None = None) -> Decision:
    return Decision(bug_id=cmd.bug_id, rule=RULE, outcome=outcome, reason=reason, state=state,
                    details={"message_id": event.message_id, "sender": event.sender,
                             "command": sanitize(cmd.line or cmd.verb, max_length=120)})


def _refuse(cmd: TriageCommand, event: MailEvent, message: str) -> CommandOutcome:
    return CommandOutcome(cmd, False, message,
                          _decision(cmd, f"{cmd.verb}-refused", message, event))


def _already_done(bug: Bug, key: str, p: _Pass) -> bool:
    from triage.markers import bug_has_marker, marker_for

    return key in p.applied_keys or bug_has_marker(bug, marker_for(key))


def _claim(cmd: TriageCommand, event: MailEvent, bug: Bug, p: _Pass) -> CommandOutcome:
    sender = event.sender
    if sender not in p.accounts:
        return _refuse(cmd, event, f"{sender} is not a known Bugzilla account: commands are "
                                   "accepted only from the address of your Bugzilla account")
    if not p.people.is_person(sender):
        return _refuse(cmd, event, f"{sender} is not a person's account (a list, a default "
                                   "assignee or a bot) and cannot hold a bug")
    holder = p.claimant(bug)
    done = f"bug {bug.id} is claimed by you ({sender})"
    if holder is not None and holder != sender:
        return _refuse(cmd, event, f"bug {bug.id} is already claimed by {holder}; ask them "
                                   "or a maintainer to give it back first")
    p.holder[bug.id] = sender
    state = StateUpdate(TriageState.CLAIMED, f"claimed by {sender} by email",
                        claimed_by=sender, claimed_at=p.now)
    decision = _decision(cmd, "claim-accepted", done, event, TriageState.CLAIMED)
    if holder == sender:
        return CommandOutcome(cmd, True, done, decision, state=state)
    workflow = p.settings.bugzilla.workflow
    comment = None
    if p.claims.comment_on_email_claim:
        comment = render("claims_email_claim.j2", claimant=sanitize(sender), bug_id=bug.id,
                         message_id=sanitize(event.message_id))
    update = BugUpdate(comment=comment, assigned_to=sender,
                       status=workflow.in_progress if bug.status != workflow.in_progress else None)
    change = Change(key=f"{CLAIMS_RULE}:{bug.id}:email-claim:{event.message_id}",
                    rule=CLAIMS_RULE, reason=f"#triage claim {bug.id} from {sender}",
                    bug_id=bug.id, update=update, recipient=sender, nag=False)
    return CommandOutcome(cmd, True, done, decision, (change,), state)


def _unclaim(cmd: TriageCommand, event: MailEvent, bug: Bug, p: _Pass) -> CommandOutcome:
    sender = event.sender
    key = f"{CLAIMS_RULE}:{bug.id}:email-unclaim:{event.message_id}"
    done = f"bug {bug.id} is given back and open for developers again"
    holder = p.claimant(bug)
    if holder is None:
        if _already_done(bug, key, p):  # this very command was applied on an earlier run
            return CommandOutcome(cmd, True, done, _decision(
                cmd, "unclaim-accepted", done, event, TriageState.OPEN_FOR_DEV))
        return _refuse(cmd, event, f"bug {bug.id} is not claimed by anyone")
    if sender != holder and sender not in p.claims.maintainers:
        return _refuse(cmd, event, f"bug {bug.id} is claimed by {holder}; only they or a "
                                   "maintainer can give it back")
    target = default_assignee(bug, p.people)
    if target is None:
        return _refuse(cmd, event, f"no default assignee is configured for {bug.product}/"
                                   f"{bug.component}; a maintainer has to reset it in Bugzilla")
    p.holder[bug.id] = None
    comment = None
    if p.claims.comment_on_email_claim:
        comment = render("claims_email_unclaim.j2", sender=sanitize(sender),
                         claimant=sanitize(holder), bug_id=bug.id,
                         message_id=sanitize(event.message_id))
    update = BugUpdate(comment=comment, assigned_to=target,
                       status=p.settings.bugzilla.workflow.confirmed)
    change = Change(key=key, rule=CLAIMS_RULE, reason=f"#triage unclaim {bug.id} from {sender}",
                    bug_id=bug.id, update=update, recipient=holder, nag=False)
    state = StateUpdate(TriageState.OPEN_FOR_DEV, f"given back by {sender} by email",
                        clear_claim=True)
    return CommandOutcome(cmd, True, done, _decision(
        cmd, "unclaim-accepted", done, event, TriageState.OPEN_FOR_DEV), (change,), state)


def _review(cmd: TriageCommand, event: MailEvent, bug: Bug, p: _Pass) -> CommandOutcome:
    """The review rule's own transitions (:func:`triage.rules.review.accept` / ``reject``): the
    same changes under the same keys as a verdict given in Bugzilla, so both ways apply once."""
    from triage.rules import review

    cfg = review.review_settings(p.settings)
    allowed = {r.lower() for r in [*cfg.reviewers, cfg.reviewer] if r}
    if not allowed:
        return _refuse(cmd, event, "no reviewers are configured (rules.review.reviewers), so "
                                   "review commands by email are not accepted")
    if event.sender not in allowed:
        return _refuse(cmd, event, f"{event.sender} is not a reviewer: only the configured "
                                   "reviewers can accept or reject a bug")
    record = p.states.get(bug.id, StateRecord(bug.id))
    in_review = record.state in (TriageState.COMPLETE, TriageState.IN_REVIEW) or \
        review.REVIEW_MARKER in bug.whiteboard_tags()
    if not in_review:
        return _refuse(cmd, event, f"bug {bug.id} is not waiting for review (its triage state "
                                   f"is {record.state.value})")
    ctx = RuleContext(now=p.now, settings=p.settings, state=record,
                      applied_keys=p.applied_keys)
    accepted = cmd.verb == "review-accept"
    via = f"email command {event.message_id}"
    result = (review.accept(bug, ctx, event.sender, via) if accepted
              else review.reject(bug, ctx, event.sender, via))
    done = (f"bug {bug.id} is accepted and open for developers" if accepted
            else f"bug {bug.id} is rejected and closed")
    outcome = "review-accept-accepted" if accepted else "review-reject-accepted"
    state = result.state.state if result.state is not None else None
    return CommandOutcome(cmd, True, done, _decision(cmd, outcome, done, event, state),
                          result.changes, result.state)


def _evaluate(cmd: TriageCommand, event: MailEvent, p: _Pass) -> CommandOutcome:
    if cmd.sender.strip().lower() != event.sender:
        return _refuse(cmd, event, "the command names a different sender than the mail's "
                                   "From address")
    bug = p.bugs.get(cmd.bug_id)
    if bug is None:
        return _refuse(cmd, event, f"bug {cmd.bug_id} is not known to the triage bot (it does "
                                   "not exist, is private, or is not in a triaged product)")
    if not bug.is_open:
        closed = f"{bug.status} {bug.resolution}".strip()
        return _refuse(cmd, event, f"bug {bug.id} is closed ({closed}); reopen it in Bugzilla "
                                   "first")
    if cmd.verb == "claim":
        return _claim(cmd, event, bug, p)
    if cmd.verb == "unclaim":
        return _unclaim(cmd, event, bug, p)
    if cmd.verb in ("review-accept", "review-reject"):
        return _review(cmd, event, bug, p)
    return _refuse(cmd, event, f"unknown command {sanitize(cmd.verb, max_length=40)!s}")


def _reply(event: MailEvent, outcomes: Sequence[CommandOutcome], p: _Pass) -> Change:
    results = [{"accepted": o.accepted, "line": sanitize(o.command.line or o.command.verb,
                                                         max_length=100),
                "message": sanitize(o.message, max_length=300)} for o in outcomes]
    text = render("command_reply.j2", results=results,
                  refused=any(not o.accepted for o in outcomes),
                  project=trusted("/".join(p.settings.bugzilla.products) or "Xen"))
    subject = event.subject.strip() or "#triage"
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    parent = event.message_id if _MSGID.match(event.message_id) else None
    cc = (p.settings.mail.list_address,) if p.claims.reply_cc_list else ()
    mail = OutgoingMail(to=(event.sender,), cc=cc, subject=subject, text=text,
                        in_reply_to=parent, references=(parent,) if parent else ())
    first_bug = outcomes[0].command.bug_id if outcomes else None
    verdicts = ", ".join(f"{o.command.verb} {o.command.bug_id}: "
                         f"{'done' if o.accepted else 'refused'}" for o in outcomes)
    return Change(key=f"{RULE}:-:reply:{event.message_id}", rule=RULE,
                  reason=f"reply to {event.sender} ({verdicts})",
                  bug_id=first_bug if first_bug in p.bugs else None, mail=mail,
                  recipient=event.sender, nag=False)


def plan_mail_commands(
    events: Sequence[tuple[int, MailEvent]],
    bugs: Mapping[int, Bug],
    states: Mapping[int, StateRecord],
    settings: Settings,
    now: datetime,
    *,
    applied_keys: frozenset[str] = frozenset(),
    accounts: frozenset[str] | None = None,
    claims: ClaimsSettings | None = None,
    auth: AuthInputs | None = None,
) -> list[EventPlan]:
    """Plan every pending command mail, oldest first (pure).

    ``accounts``: addresses known to be Bugzilla accounts; by default every address the given
    bugs show (see :func:`known_accounts`); the engine may pass a wider set (the whole cache).
    ``auth``: tokens and today's command counts from the store (see :mod:`command_confirm`).
    """
    claims = claims or claims_settings(settings)
    bots = {a.lower() for a in [*settings.general.bot_accounts, settings.general.bot_email]}
    p = _Pass(settings=settings, claims=claims, people=People.of(claims, bots),
              accounts=accounts if accounts is not None else known_accounts(bugs.values(),
                                                                            claims),
              bugs=bugs, states=states,
              applied_keys=applied_keys, now=now, auth=auth or AuthInputs())
    p.used.update({k.lower(): v for k, v in p.auth.used_today.items()})
    plans: list[EventPlan] = []
    for row_id, event in events:
        event = replace(event, sender=event.sender.strip().lower())
        if not event.commands:
            continue
        if event.sender in bots:
            plans.append(EventPlan(row_id, event.message_id, event.sender,
                                   ignored="the bot's own mail (loop guard)"))
            continue
        plans.append(_plan_one(row_id, event, p))
    return plans


def _plan_one(row_id: int, event: MailEvent, p: _Pass) -> EventPlan:
    cfg = p.settings.commands
    verdict = authenticate(event.auth, cfg)
    confirm = next((c for c in event.commands if c.verb == "confirm"), None)
    if confirm is not None:
        return _plan_confirmation_reply(row_id, event, confirm, verdict, p)
    if verdict.status == REFUSED:
        return _silent(row_id, event, event.commands, f"sender not authenticated: "
                                                     f"{verdict.reason}")
    commands = event.commands
    sender = verdict.address
    room = max(0, cfg.max_per_sender_per_day - p.used.get(sender, 0))
    taken, over = commands[:room], commands[room:]
    p.used[sender] = p.used.get(sender, 0) + len(taken)
    daily = (f"the daily limit of {cfg.max_per_sender_per_day} commands per sender "
             "(commands.max_per_sender_per_day) is reached; send it again tomorrow")
    if verdict.status == CONFIRM:
        if not taken:
            return _silent(row_id, event, commands, daily)
        return _ask_confirmation(row_id, event, taken, over, verdict.reason, daily, p)
    outcomes = [_evaluate(cmd, event, p) for cmd in taken]
    outcomes += [_refuse(cmd, event, daily) for cmd in over]
    return _answered(row_id, event, outcomes, p, counted=len(taken))


def _answered(row_id: int, event: MailEvent, outcomes: list[CommandOutcome], p: _Pass, *,
              counted: int = 0, token_uses: tuple[str, ...] = (),
              reply_to: MailEvent | None = None) -> EventPlan:
    """Outcomes of a verified sender's commands and the one reply (to that sender only)."""
    cap = p.settings.commands.max_per_mail
    source = reply_to or event
    if source.commands_dropped and outcomes:
        first = outcomes[0].command
        note = (f"{source.commands_dropped} more #triage line(s) were not read: at most {cap} "
                "commands per mail (commands.max_per_mail)")
        outcomes.append(CommandOutcome(
            TriageCommand("capped", first.bug_id, source.sender,
                          f"(#triage lines after the first {cap})"), False, note,
            _decision(first, "commands-capped", note, source)))
    return EventPlan(row_id, event.message_id, event.sender, tuple(outcomes),
                     _reply(source, outcomes, p) if outcomes else None,
                     counted=counted, token_uses=token_uses)


def _silent(row_id: int, event: MailEvent, commands: Sequence[TriageCommand], why: str
            ) -> EventPlan:
    """Refused without a reply: the sender is not verified, so mail to it could reach whoever
    was impersonated (backscatter). The decisions say why (``xentriage explain``)."""
    reason = f"not acted on and not answered: {why}"
    outcomes = tuple(_refuse(cmd, event, reason) for cmd in commands)
    return EventPlan(row_id, event.message_id, event.sender, outcomes, None)


def _ask_confirmation(row_id: int, event: MailEvent, taken: Sequence[TriageCommand],
                      over: Sequence[TriageCommand], why: str, daily: str, p: _Pass
                      ) -> EventPlan:
    sender = event.sender
    cfg = p.settings.commands
    reviewers = {r.lower() for r in review_people(p.settings)}
    if sender not in p.accounts and sender not in p.claims.maintainers \
            and sender not in reviewers:
        return _silent(row_id, event, [*taken, *over], f"{why}; {sender} is not a known "
                                                       "Bugzilla account, so no confirmation "
                                                       "is mailed")
    if p.auth.token_for is None:
        return _silent(row_id, event, [*taken, *over], f"{why}; confirmation is not available")
    token = p.auth.token_for(event.message_id, sender)
    known = p.auth.confirmations.get(token_hash(token))
    change, record = confirmation_request(
        event.message_id, event.subject, sender, tuple(taken), token, p.now,
        cfg.confirmation_hours, known, "/".join(p.settings.bugzilla.products) or "Xen")
    wait = (f"{why}: a one-time token was mailed to {sender}; the command is carried out "
            "when the account replies with it")
    outcomes = [CommandOutcome(cmd, False, wait,
                               _decision(cmd, f"{cmd.verb}-awaiting-confirmation", wait, event))
                for cmd in taken]
    outcomes += [_refuse(cmd, event, f"not acted on and not answered: {daily}") for cmd in over]
    return EventPlan(row_id, event.message_id, sender, tuple(outcomes), change,
                     counted=len(taken), tokens=(record,))


def review_people(settings: Settings) -> list[str]:
    from triage.rules import review

    cfg = review.review_settings(settings)
    return [r for r in [*cfg.reviewers, cfg.reviewer] if r]


def _plan_confirmation_reply(row_id: int, event: MailEvent, confirm: TriageCommand,
                             verdict: Verdict, p: _Pass) -> EventPlan:
    """A mail carrying a token: the commands it confirms, as if their mail had been verified."""
    if verdict.status == REFUSED:
        return _silent(row_id, event, [confirm], f"sender not authenticated: {verdict.reason}")
    pending, why = check_token(confirm, verdict.address, p.now, p.auth.confirmations,
                               p.used_tokens)
    if pending is None:
        # A token the bot issued: the refusal is recorded on the bugs it named (explain BUG).
        issued = p.auth.confirmations.get(token_hash(confirm.token))
        return _silent(row_id, event, issued.commands if issued else [confirm], why)
    p.used_tokens.add(pending.token_hash)
    original = MailEvent(kind=MailEventKind.COMMAND, message_id=pending.message_id,
                         subject=pending.subject, sender=pending.sender, date=event.date,
                         commands=pending.commands, auth=event.auth)
    outcomes = [_evaluate(cmd, original, p) for cmd in pending.commands]
    return _answered(row_id, event, outcomes, p, token_uses=(pending.token_hash,),
                     reply_to=original)
