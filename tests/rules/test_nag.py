"""The nag ledger: bots, opt-out, acknowledged needinfos, cooldown (pure)."""

from __future__ import annotations

import dataclasses

from tests.rules.builders import BOT, DEV, REPORTER, add_comment, cleared_needinfo, day, make_bug
from triage.config import NagSettings
from triage.model import BugUpdate, Change, FlagChange
from triage.nag import LedgerEntry, NagLedger


def ledger(entries=()):
    return NagLedger.from_entries(NagSettings(cooldown_days=7, acknowledged_days=14), [BOT],
                                  entries)


def nag(key="followup:1:round1", person=REPORTER, needinfo_for=None, bug_id=1):
    flags = (FlagChange("needinfo", "?", needinfo_for),) if needinfo_for else ()
    return Change(key=key, rule=key.split(":")[0], reason="r", bug_id=bug_id,
                  update=BugUpdate(comment="c", flags=flags), recipient=person, nag=True)


def test_never_needinfo_a_bot_even_in_a_non_nag_change():
    c = dataclasses.replace(nag(needinfo_for=BOT.upper()), nag=False)
    v = ledger().check(c, make_bug(), day(0))
    assert not v.allowed and v.check == "bot-needinfo"


def test_bots_are_not_nagged():
    assert ledger().check(nag(person=BOT), make_bug(), day(0)).check == "bot-needinfo"


def test_opt_out_marker():
    v = ledger().check(nag(), make_bug(whiteboard="[foo] [no-nag]"), day(0))
    assert not v.allowed and v.check == "opt-out"
    assert ledger().check(nag(), make_bug(whiteboard="no-nag"), day(0)).allowed


def test_cooldown_per_bug_and_person():
    earlier = LedgerEntry(1, REPORTER, "followup", "followup:1:round1", day(0))
    lg = ledger([earlier])
    v = lg.check(nag("followup:1:round1:reminder"), make_bug(), day(3))
    assert not v.allowed and v.check == "cooldown" and "2026-10-08" in v.reason
    assert lg.check(nag("followup:1:round1:reminder"), make_bug(), day(7)).allowed
    # A daily job starting a few minutes early is not pushed back a whole day.
    assert lg.check(nag("followup:1:round1:reminder"), make_bug(), day(6.99)).allowed
    assert lg.check(nag("x:2:y", bug_id=2), make_bug(2), day(1)).allowed  # other bug
    assert lg.check(nag("x:1:y", person=DEV), make_bug(), day(1)).allowed  # other person


def test_noting_a_change_blocks_a_second_in_the_same_pass():
    lg = ledger()
    first = nag("followup:1:round1")
    assert lg.check(first, make_bug(), day(0)).allowed
    lg.note(first, day(0))
    assert lg.check(nag("claims:1:nudge"), make_bug(), day(0)).check == "cooldown"


def test_a_needinfo_a_human_cleared_counts_as_acknowledged():
    bug = dataclasses.replace(make_bug(), history=(cleared_needinfo(REPORTER, DEV, day(1)),))
    v = ledger().check(nag(), bug, day(5))
    assert not v.allowed and v.check == "acknowledged" and "2026-10-16" in v.reason
    assert ledger().check(nag(), bug, day(16)).allowed  # the window is over


def test_clearing_by_the_bot_or_with_an_answer_is_not_an_acknowledgement():
    by_bot = dataclasses.replace(make_bug(), history=(cleared_needinfo(REPORTER, BOT, day(1)),))
    assert ledger().check(nag(), by_bot, day(2)).allowed
    answered = add_comment(dataclasses.replace(
        make_bug(), history=(cleared_needinfo(REPORTER, REPORTER, day(1)),)), "here", at=day(1))
    assert ledger().check(nag(), answered, day(2)).allowed
