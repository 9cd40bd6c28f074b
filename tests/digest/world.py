"""A small store of bugs for digest tests: every section populated, times relative to NOW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triage.model import Bug, Comment, Decision, Flag, HistoryChange, HistoryEntry, TriageState
from triage.rules.base import StateRecord
from triage.store import Store
from triage.store.bugs import upsert_bugs
from triage.store.decisions import save_decisions
from triage.store.states import save_state

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a Wednesday of 2026-W49
BOT = "triage-bot@xenproject.org"
HOSTILE = ("<script>alert(1)</script> [[Category:x]] {{template}} </nowiki> ~~~~ __NOTOC__ "
           "a|b\r\nBcc: evil@example.org \u202eevil\u202c " + "W" * 300 + " ")


def bug(i: int, *, days: float, summary: str = "", status: str = "CONFIRMED",
        creator: str = "eve@example.org", assigned: str = "xen-bugs@lists.xenproject.org",
        is_open: bool = True, resolution: str = "", whiteboard: str = "",
        keywords: tuple[str, ...] = (), comments: tuple[tuple[str, float, str], ...] = (),
        history: tuple[HistoryEntry, ...] = (), flags: tuple[Flag, ...] = (),
        component: str = "Hypervisor") -> Bug:
    created = NOW - timedelta(days=days)
    cs = [Comment(i * 10, i, 0, creator, "Xen 4.19 on x86_64. Steps: boot.", created)]
    for n, (who, ago, text) in enumerate(comments, start=1):
        cs.append(Comment(i * 10 + n, i, n, who, text, NOW - timedelta(days=ago)))
    last = max([created, *(c.creation_time for c in cs), *(h.when for h in history)])
    return Bug(id=i, summary=summary or f"bug {i}", product="Xen", component=component,
               status=status, creator=creator, creation_time=created, last_change_time=last,
               resolution=resolution, assigned_to=assigned, is_open=is_open,
               whiteboard=whiteboard, keywords=keywords, comments=tuple(cs),
               history=history, flags=flags)


def closed(when_days: float, resolution: str = "FIXED") -> HistoryEntry:
    return HistoryEntry("dev@example.org", NOW - timedelta(days=when_days), (
        HistoryChange("status", "IN_PROGRESS", "RESOLVED"),
        HistoryChange("resolution", "", resolution)))


def standard_bugs(summary: str = "") -> list[Bug]:
    s = summary
    return [
        bug(1, days=40, summary=s or "accepted, unclaimed", whiteboard="[xt:open-for-dev]"),
        bug(2, days=60, summary=s or "stale claim", status="IN_PROGRESS",
            assigned="dev@example.org"),
        bug(3, days=20, summary=s or "fresh claim", status="IN_PROGRESS",
            assigned="kim@example.org", comments=(("kim@example.org", 1, "on it"),)),
        bug(4, days=2, summary=s or "new this week", status="UNCONFIRMED",
            comments=(("dev@example.org", 1.5, "which version?"),)),
        bug(5, days=30, summary=s or "fixed this week", status="RESOLVED", is_open=False,
            resolution="FIXED", assigned="dev@example.org", history=(closed(3),),
            comments=(("dev@example.org", 3, "Fixed in commit 1a2b3c4d5e (x86: fix)."),)),
        bug(6, days=25, summary=s or "waiting on reporter", status="UNCONFIRMED",
            whiteboard="[xt:needinfo]", flags=(Flag("needinfo", "?", BOT, "eve@example.org",
                                                     creation_date=NOW - timedelta(days=5)),)),
        bug(7, days=15, summary=s or "in review", whiteboard="[xt:review]",
            keywords=("triage-review",)),
        bug(8, days=10, summary=s or "corporate", creator="alice@citrix.com"),
        bug(9, days=12, summary=s or "project account", creator="ci@xenproject.org"),
    ]


def populate(store: Store, bugs: list[Bug] | None = None) -> None:
    bugs = bugs if bugs is not None else standard_bugs()
    with store.session() as s:
        upsert_bugs(s, bugs)
        if any(b.id == 8 for b in bugs):
            save_state(s, StateRecord(8, TriageState.EXCLUDED, NOW, organisation="Citrix"), NOW)
            save_state(s, StateRecord(9, TriageState.EXCLUDED, NOW,
                                      organisation="Xen Project"), NOW)
            save_decisions(s, None, [
                (Decision(8, "corporate", "corporate", "domain", TriageState.EXCLUDED,
                          {"organisation": "Citrix"}), True),
                # A class recorded as a detail (an account class the org map gives) wins over
                # the outcome.
                (Decision(9, "corporate", "corporate", "project account", TriageState.EXCLUDED,
                          {"organisation": "Xen Project", "account_class": "project"}), True)],
                NOW)
