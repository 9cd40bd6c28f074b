"""Settings and contexts for the claim rules' tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from tests.claims.builders import day
from triage.config import Settings
from triage.model import TriageState
from triage.rules.base import RuleContext, StateRecord

BOT = "triage-bot@xen.example.org"
CLAIMS_TOML = f"""
[general]
state_dir = "state"
bot_email = "{BOT}"
bot_accounts = ["{BOT}", "ci-bot@xen.example.org"]

[commands]
authserv_ids = ["mx.test.example"]

[rules.claims]
default_assignees = {{ "Xen/Hypervisor" = "xen-bugs@example.org" }}
maintainers = ["maint@xen.example.org"]
developers = ["newdev@example.org"]

[rules.stale_claims]
nudge_days = 30
release_days = 14

[rules.fix_documentation]
max_age_days = 30
"""


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings(CLAIMS_TOML)


@pytest.fixture
def ctx(settings) -> Callable[..., RuleContext]:
    def factory(now: datetime | None = None, bug_id: int = 1,
                state: TriageState = TriageState.OPEN_FOR_DEV, claimed_by: str = "",
                since: datetime | None = None, fix_reference: str = "",
                applied_keys: frozenset[str] = frozenset()) -> RuleContext:
        record = StateRecord(bug_id, state=state, since=since or day(0), claimed_by=claimed_by,
                             fix_reference=fix_reference)
        return RuleContext(now=now or day(1), settings=settings, state=record,
                           applied_keys=applied_keys)

    return factory
