"""The nag ledger: one set of manners for every rule.

The complaints users raise most about triage bots (bugbot's "too many needinfos", syzbot's repeated
reminders) come down to four rules, checked here for every planned change, whichever rule made it:

1. never needinfo a bot account (a bot cannot answer; the needinfo would sit forever);
2. obey the opt-out marker (``[no-nag]`` in the whiteboard) for anything that nags;
3. a needinfo a human cleared without answering counts as acknowledged for a while;
4. at most one bot action per bug and person per cooldown.

Pure: the engine loads the recent ledger entries from the store (:mod:`triage.store.nag`), asks
:meth:`NagLedger.check` per change, and calls :meth:`NagLedger.note` for every change it keeps so
two rules in the same pass cannot both act on the same person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from triage.config import NagSettings
from triage.model import Bug, Change

# A daily job rarely starts at exactly the same second; without this slack an action planned for
# "7 days later" would slip a whole day whenever the job starts a few minutes early.
COOLDOWN_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class LedgerEntry:
    bug_id: int
    person: str
    rule: str
    action_key: str
    at: datetime


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    check: str = ""  # bot-needinfo | opt-out | acknowledged | cooldown | "" when allowed


ALLOWED = Verdict(True, "")


def needinfo_requestees(change: Change, flag_name: str) -> list[str]:
    if change.update is None:
        return []
    return [f.requestee for f in change.update.flags
            if f.name == flag_name and f.status == "?" and f.requestee]


def acknowledged_at(bug: Bug, person: str, bots: frozenset[str], flag_name: str
                    ) -> datetime | None:
    """When a human last cleared a needinfo on ``person`` without ``person`` answering since.

    An answer (a comment or attachment by the person at or after the clearing) is not an
    acknowledgement: it is information the rules must act on, so it never blocks them.
    """
    person_l = person.lower()
    pattern = f"{flag_name}?({person_l})"
    cleared: datetime | None = None
    for entry in bug.history:
        if entry.who.lower() in bots:
            continue
        for ch in entry.changes:
            if ch.field_name != "flagtypes.name":
                continue
            removed = {p.strip().lower() for p in ch.removed.split(",")}
            added = {p.strip().lower() for p in ch.added.split(",")}
            if pattern in removed and pattern not in added:
                cleared = entry.when if cleared is None or entry.when > cleared else cleared
    if cleared is None:
        return None
    answered = any(c.author.lower() == person_l and c.creation_time >= cleared - timedelta(
        minutes=1) for c in bug.comments) or any(
        a.creator.lower() == person_l and a.creation_time >= cleared - timedelta(minutes=1)
        for a in bug.attachments)
    return None if answered else cleared


@dataclass
class NagLedger:
    settings: NagSettings
    bot_accounts: frozenset[str]
    needinfo_flag: str = "needinfo"
    # (bug id, person lower-cased) -> the latest entry, from the store and from this pass.
    latest: dict[tuple[int, str], LedgerEntry] = field(default_factory=dict)

    @classmethod
    def from_entries(cls, settings: NagSettings, bot_accounts: Iterable[str],
                     entries: Iterable[LedgerEntry], needinfo_flag: str = "needinfo") -> NagLedger:
        ledger = cls(settings, frozenset(a.lower() for a in bot_accounts), needinfo_flag)
        for entry in entries:
            ledger._remember(entry)
        return ledger

    def _remember(self, entry: LedgerEntry) -> None:
        k = (entry.bug_id, entry.person.lower())
        if k not in self.latest or self.latest[k].at < entry.at:
            self.latest[k] = entry

    def is_bot(self, account: str) -> bool:
        return account.lower() in self.bot_accounts

    def check(self, change: Change, bug: Bug | None, now: datetime) -> Verdict:
        for requestee in needinfo_requestees(change, self.needinfo_flag):
            if self.is_bot(requestee):
                return Verdict(False, f"never needinfo a bot account ({requestee})",
                               "bot-needinfo")
        person = change.recipient
        if not change.nag or not person:
            return ALLOWED
        if self.is_bot(person):
            return Verdict(False, f"{person} is a bot account: bots are not nagged", "bot-needinfo")
        if bug is not None and self.settings.optout_marker in bug.whiteboard_tags():
            return Verdict(False, f"the whiteboard opts out of nagging "
                                  f"([{self.settings.optout_marker}])", "opt-out")
        if bug is not None:
            cleared = acknowledged_at(bug, person, self.bot_accounts, self.needinfo_flag)
            window = timedelta(days=self.settings.acknowledged_days)
            if cleared is not None and now - cleared < window:
                until = (cleared + window).strftime("%Y-%m-%d")
                return Verdict(False, f"a human cleared the needinfo on {person} on "
                                      f"{cleared:%Y-%m-%d}: acknowledged until {until}",
                               "acknowledged")
        if change.bug_id is not None:
            last = self.latest.get((change.bug_id, person.lower()))
            cooldown = timedelta(days=self.settings.cooldown_days)
            if (last is not None and last.action_key != change.key
                    and now - last.at < cooldown - COOLDOWN_SLACK):
                return Verdict(False, f"cooldown: the bot acted on {person} about this bug on "
                                      f"{last.at:%Y-%m-%d} ({last.rule}); next action possible "
                                      f"from {(last.at + cooldown):%Y-%m-%d}", "cooldown")
        return ALLOWED

    def note(self, change: Change, now: datetime) -> LedgerEntry | None:
        """Remember a kept nag change; returns the entry to store once it is applied."""
        if not change.nag or not change.recipient or change.bug_id is None:
            return None
        entry = LedgerEntry(change.bug_id, change.recipient.lower(), change.rule, change.key, now)
        self._remember(entry)
        return entry


def recent_window(settings: NagSettings) -> timedelta:
    """How far back the engine must load ledger entries."""
    return timedelta(days=max(settings.cooldown_days, 1))


def ledger_retention(settings: NagSettings) -> timedelta:
    """How long ledger entries are kept: far past the longest cooldown (so nothing still able
    to hold a write back is dropped), and a quarter at least, so ``explain`` shows the recent
    history of who the bot asked, and when."""
    longest = max(recent_window(settings), timedelta(days=max(settings.acknowledged_days, 1)))
    return max(longest * 4, timedelta(days=90))
