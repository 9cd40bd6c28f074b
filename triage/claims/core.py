"""Who holds a bug: the pure facts the claim rules share (claims, stale claims, commands, fix
documentation). No rule lives here; nothing here does I/O.

A *claim* in Bugzilla is the configured in-progress status (``IN_PROGRESS`` on 5.2, ``ASSIGNED``
on older installations) together with an assignee who is a person: not empty, not a bot account,
not a default assignee (a component's list address or ``nobody@``).
"""

from __future__ import annotations

import fnmatch
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from triage.config import Settings, WorkflowSettings
from triage.model import Bug
from triage.rules.base import Rule, RuleContext, RuleSettings, parse_rule_settings

# Accounts that are never a person, whatever the configuration adds.
DEFAULT_NON_PERSON = ("nobody@*", "*-bugs@*", "*-devel@*", "*-triage@*")


@dataclass
class ClaimsSettings(RuleSettings):
    """``[rules.claims]``: shared by the claim rules and the email commands."""

    # "Product" or "Product/Component" -> the account a released bug goes back to. Without an
    # entry, the history's last non-person assignee (the component default before the claim).
    default_assignees: dict[str, str] = field(default_factory=dict)
    # Extra glob patterns of accounts that are not people (added to DEFAULT_NON_PERSON).
    non_person_accounts: list[str] = field(default_factory=list)
    # May give back anyone's claim by email command.
    maintainers: list[str] = field(default_factory=list)
    # Accounts known to exist in Bugzilla even if they never touched a triaged bug.
    developers: list[str] = field(default_factory=list)
    # Leave a comment in Bugzilla when a bug is claimed or given back by email (the audit trail).
    comment_on_email_claim: bool = True
    # Send command replies to the list as well as to the sender.
    reply_cc_list: bool = False

    def problems(self) -> list[tuple[str, str]]:
        out = [(f"default_assignees.{k}", "must be an email address")
               for k, v in self.default_assignees.items() if "@" not in v]
        for name in ("maintainers", "developers"):
            out += [(name, f"{v!r} is not an email address")
                    for v in getattr(self, name) if "@" not in v]
        return out


_PARSED: dict[tuple[int, str], ClaimsSettings] = {}


def claims_settings(settings: Settings) -> ClaimsSettings:
    """``[rules.claims]`` parsed (for the rules and the commands that share it). Parsed once
    per settings object and table: the rules ask for it on every bug, and the strict parser
    (type hints, validation) cost more than the rules' own work on a 5,000-bug pass."""
    table = settings.rules.get("claims", {})
    key = (id(settings), repr(table))
    cached = _PARSED.get(key)
    if cached is None:
        base = settings.source.parent if settings.source else None
        cached = typing.cast(ClaimsSettings, parse_rule_settings("claims", ClaimsSettings,
                                                                 table, base))
        if len(_PARSED) > 64:
            _PARSED.clear()
        _PARSED[key] = cached
    return cached


@dataclass(frozen=True)
class People:
    """Decides who is a person, given the bot accounts and the claims configuration."""

    config: ClaimsSettings
    bot_accounts: frozenset[str]
    defaults: frozenset[str] = frozenset()
    patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: ClaimsSettings, bot_accounts: Iterable[str]) -> People:
        return cls(config, frozenset(b.lower() for b in bot_accounts),
                   frozenset(v.lower() for v in config.default_assignees.values()),
                   tuple(p.lower() for p in config.non_person_accounts))

    def is_bot(self, account: str) -> bool:
        return account.strip().lower() in self.bot_accounts

    def is_person(self, account: str) -> bool:
        who = account.strip().lower()
        if not who or "@" not in who or who in self.bot_accounts:
            return False
        if who in self.defaults:
            return False
        return not any(fnmatch.fnmatchcase(who, p) for p in DEFAULT_NON_PERSON + self.patterns)


@dataclass(frozen=True)
class Claim:
    claimant: str
    since: datetime


def claim_in_bugzilla(bug: Bug, people: People, workflow: WorkflowSettings) -> Claim | None:
    """The claim Bugzilla shows: in-progress status + a person as assignee."""
    if not bug.is_open or bug.status != workflow.in_progress:
        return None
    if not people.is_person(bug.assigned_to):
        return None
    return Claim(bug.assigned_to.lower(), claim_time(bug, workflow))


def taken_in_bugzilla(bug: Bug, ctx: RuleContext) -> str:
    """The developer who took the bug in Bugzilla (in-progress status, a person assigned), or "".
    Review and follow-ups leave such bugs alone: a developer is on it and asks what they need."""
    people = People.of(claims_settings(ctx.settings), ctx.settings.general.bot_accounts)
    claim = claim_in_bugzilla(bug, people, ctx.settings.bugzilla.workflow)
    return claim.claimant if claim else ""


def claim_time(bug: Bug, workflow: WorkflowSettings) -> datetime:
    """When the current claim began: the latest history entry that set the assignee or the
    in-progress status; the bug's creation if the history does not say (a bug filed claimed)."""
    since = bug.creation_time
    for entry in bug.history:
        for change in entry.changes:
            if change.field_name == "assigned_to" and change.added.lower() == \
                    bug.assigned_to.lower():
                since = max(since, entry.when)
            if change.field_name in ("status", "bug_status") and \
                    change.added == workflow.in_progress:
                since = max(since, entry.when)
    return since


def default_assignee(bug: Bug, people: People) -> str | None:
    """Where a released bug goes back to: the configured default for its component or product,
    else the last non-person assignee the history shows (the component default before the claim)."""
    cfg = people.config.default_assignees
    for key in (f"{bug.product}/{bug.component}", bug.product):
        if key in cfg:
            return cfg[key].lower()
    for entry in reversed(bug.history):
        for change in entry.changes:
            if change.field_name == "assigned_to" and change.removed and \
                    not people.is_person(change.removed):
                return change.removed.lower()
    return None


def last_activity(bug: Bug, people: People, since: datetime) -> datetime:
    """Latest human activity on the bug (comment, attachment, field change) at or after
    ``since``; ``since`` itself when there is none. The bot's own actions are not activity."""
    latest = since
    for comment in bug.comments:
        if not people.is_bot(comment.author) and comment.creation_time > latest:
            latest = comment.creation_time
    for att in bug.attachments:
        if not people.is_bot(att.creator) and att.creation_time > latest:
            latest = att.creation_time
    for entry in bug.history:
        if not people.is_bot(entry.who) and entry.when > latest:
            latest = entry.when
    return latest


def known_accounts(bugs: Iterable[Bug], config: ClaimsSettings) -> frozenset[str]:
    """Addresses Bugzilla itself has shown as accounts on these bugs, plus configured
    developers and maintainers. Anyone who filed, commented, changed a field, set a flag or
    holds a bug has an account; a mail sender who appears nowhere is not trusted to have one."""
    seen: set[str] = {a.lower() for a in [*config.developers, *config.maintainers]}
    for bug in bugs:
        seen.add(bug.creator.lower())
        if bug.assigned_to:
            seen.add(bug.assigned_to.lower())
        seen.update(c.lower() for c in bug.cc)
        seen.update(c.author.lower() for c in bug.comments)
        seen.update(a.creator.lower() for a in bug.attachments)
        seen.update(h.who.lower() for h in bug.history)
        for flag in bug.flags:
            if flag.setter:
                seen.add(flag.setter.lower())
            if flag.requestee:
                seen.add(flag.requestee.lower())
    seen.discard("")
    return frozenset(seen)


class ClaimsAwareRule(Rule):
    """Base of the rules that also read ``[rules.claims]`` (who is a person, default assignees):
    stale claims and fix documentation. Has no ``name``, so the registry does not run it."""

    def __init__(self, settings: RuleSettings | None = None,
                 claims: ClaimsSettings | None = None) -> None:
        super().__init__(settings)
        self.claims = claims or ClaimsSettings()

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule:
        rule = super().from_settings(settings)
        assert isinstance(rule, ClaimsAwareRule)
        rule.claims = claims_settings(settings)
        return rule
