"""Completeness rule: a decision naming the missing items, or complete (state ``complete``)."""

from __future__ import annotations

import pytest

from tests.rules.builders import BOT, COMPLETE_XEN, context, make_bug
from triage.config import ConfigError
from triage.model import TriageState
from triage.rules import validate_rule_settings
from triage.rules.completeness import CompletenessRule


def test_incomplete_names_missing_items(settings):
    rule = CompletenessRule.from_settings(settings)
    result = rule.evaluate(make_bug(text="Expected boot, but it hangs. x86_64"), context(settings))
    (d,) = result.decisions
    assert d.outcome == "incomplete" and result.state is None and not result.changes
    assert d.details["missing"] == ["version", "hardware", "dom0", "steps", "logs"]
    assert "Xen version" in d.reason and "logs" in d.reason


def test_complete_moves_to_complete(settings):
    result = CompletenessRule.from_settings(settings).evaluate(make_bug(text=COMPLETE_XEN),
                                                                context(settings))
    assert result.decisions[0].outcome == "complete"
    assert result.state.state == TriageState.COMPLETE


def test_bot_filed_bug_is_complete(settings):
    result = CompletenessRule.from_settings(settings).evaluate(make_bug(creator=BOT),
                                                                context(settings))
    assert result.decisions[0].details["bot_filed"] is True


@pytest.mark.parametrize("state", [TriageState.IN_REVIEW, TriageState.OPEN_FOR_DEV,
                                   TriageState.EXCLUDED, TriageState.CLAIMED])
def test_only_bugs_still_being_completed(settings, state):
    rule = CompletenessRule.from_settings(settings)
    assert not rule.applies_to(make_bug(), context(settings, state=state))
    assert not rule.applies_to(make_bug(is_open=False, status="RESOLVED"), context(settings))


def test_custom_checklists_are_validated(make_settings):
    good = make_settings('[rules.completeness]\nchecklists = { "Xen" = ["version", "logs"] }')
    validate_rule_settings(good)
    bad = make_settings('[rules.completeness]\nchecklists = { "Xen" = ["version", "mood"] }')
    with pytest.raises(ConfigError) as err:
        validate_rule_settings(bad)
    assert err.value.key == "rules.completeness.checklists.Xen" and "mood" in str(err.value)


def test_unknown_rule_and_unknown_key_are_errors_naming_the_key(make_settings):
    with pytest.raises(ConfigError) as err:
        validate_rule_settings(make_settings("[rules.folowup]\nreminder_days = 3"))
    assert err.value.key == "rules.folowup"
    with pytest.raises(ConfigError) as err:
        validate_rule_settings(make_settings("[rules.followup]\nremind_days = 3"))
    assert err.value.key == "rules.followup.remind_days"
    with pytest.raises(ConfigError) as err:
        validate_rule_settings(make_settings("[rules.followup]\nreminder_days = 9\n"
                                             "expire_days = 5"))
    assert err.value.key == "rules.followup.expire_days"
    with pytest.raises(ConfigError) as err:
        validate_rule_settings(make_settings('[rules.review]\nmode = "carrier-pigeon"'))
    assert err.value.key == "rules.review.mode"
