"""Contexts and settings for the rule tests (pure: no store, no server); the bugs, comments
and history come from the shared builders (tests/builders.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.builders import (  # noqa: F401 - the suite's names, from the one set of builders
    BOT,
    COMPLETE_XEN,
    DEV,
    REPORTER,
    T0,
    add_comment,
    attach,
    cleared_needinfo,
    comment,
    days_from,
    make_bug,
    needinfo_flag,
)
from triage.model import Bug, TriageState
from triage.rules.base import RuleContext, StateRecord

TOML = f"""
[general]
state_dir = "state"
bot_email = "{BOT}"
bot_accounts = ["{BOT}", "ci-bot@xen.example.org"]

[orgs]
domains = {{ "citrix.com" = "Citrix", "amd.com" = "AMD" }}
accounts = {{ "alice@citrix.com" = "", "contractor@example.org" = "Vates" }}
groups = ["xen-partners"]

[nag]
cooldown_days = 7
acknowledged_days = 14

[rules.followup]
reminder_days = 7
expire_days = 30
max_rounds = 2

[rules.review]
reviewer = "reviewer@xen.example.org"
"""


day = days_from(T0)


def context(settings: Any, now: datetime = T0, state: TriageState = TriageState.NEW,
            bug_id: int = 1, **kw: Any) -> RuleContext:
    return RuleContext(now=now, settings=settings, state=StateRecord(bug_id, state=state,
                                                                       since=T0), **kw)


def posted(bug: Bug, key: str, at: datetime, text: str = "a bot comment") -> Bug:
    """The bug after the writer posted the comment of the change with ``key`` at ``at``."""
    from triage.markers import marker_for, with_marker

    return add_comment(bug, with_marker(text, marker_for(key)), author=BOT, at=at)
