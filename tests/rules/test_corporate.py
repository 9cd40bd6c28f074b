"""Corporate filter: org map, subdomains, overrides, groups; every decision says why."""

from __future__ import annotations

from tests.rules.builders import BOT, context, make_bug
from triage.model import TriageState
from triage.rules.base import StateRecord
from triage.rules.corporate import CorporateRule, CorporateSettings, affiliation


def run(settings, creator, groups=None, state=TriageState.NEW):
    rule = CorporateRule.from_settings(settings)
    bug = make_bug(creator=creator)
    ctx = context(settings, state=state, groups=groups or {})
    assert rule.applies_to(bug, ctx)
    return rule.evaluate(bug, ctx)


def test_domain_and_subdomain_are_corporate_with_the_reason(settings):
    result = run(settings, "bob@citrix.com")
    (d,) = result.decisions
    assert (d.outcome, d.state, d.details["organisation"]) == ("corporate", TriageState.EXCLUDED,
                                                               "Citrix")
    assert "citrix.com" in d.reason and result.stop and not result.changes
    assert result.state.organisation == "Citrix"
    sub = run(settings, "Carol@HV.Citrix.COM").decisions[0]
    assert sub.outcome == "corporate" and "subdomain of citrix.com" in sub.reason


def test_lookalike_domains_are_not_subdomains(settings):
    assert run(settings, "x@notcitrix.com").decisions[0].outcome == "community"
    assert run(settings, "x@citrix.com.evil.org").decisions[0].outcome == "community"


def test_account_overrides_beat_domains_both_ways(settings):
    forced_community = run(settings, "alice@citrix.com")
    assert forced_community.decisions[0].outcome == "community"
    assert "orgs.accounts" in forced_community.decisions[0].reason
    assert not forced_community.stop
    contractor = run(settings, "contractor@example.org").decisions[0]
    assert contractor.outcome == "corporate" and contractor.details["organisation"] == "Vates"


def test_group_membership_counts_when_looked_up(settings):
    result = run(settings, "dan@example.org", groups={"dan@example.org": ("xen-partners",)})
    assert result.decisions[0].outcome == "corporate"
    assert "group xen-partners" in result.decisions[0].reason
    not_looked_up = run(settings, "dan@example.org")
    assert not_looked_up.decisions[0].outcome == "community"
    assert "not looked up" in not_looked_up.decisions[0].reason


def test_corrected_org_map_brings_an_excluded_bug_back(settings):
    result = run(settings, "eve@example.org", state=TriageState.EXCLUDED,
                 groups={"eve@example.org": ()})
    assert result.state.state == TriageState.NEW and result.state.organisation == ""


def test_community_bug_in_the_flow_is_not_rechecked(settings):
    rule = CorporateRule.from_settings(settings)
    ctx = context(settings, state=TriageState.NEEDS_INFO)
    assert not rule.applies_to(make_bug(creator="bob@citrix.com"), ctx)


def test_bot_filed_bugs_are_nobodys_organisation(settings):
    assert not run(settings, BOT)


def test_optional_tag_is_a_planned_change(settings):
    rule = CorporateRule(CorporateSettings(tag=True))
    result = rule.evaluate(make_bug(creator="bob@amd.com"), context(settings))
    (change,) = result.changes
    assert change.update.whiteboard_add == ("xt:corporate",) and not change.nag


def test_affiliation_is_pure_and_case_insensitive(settings):
    assert affiliation("BOB@CITRIX.COM", settings.orgs).organisation == "Citrix"
    assert affiliation("root@com", settings.orgs).organisation == ""
    assert StateRecord(1).state == TriageState.NEW


def test_excluded_by_group_stays_excluded_when_groups_were_not_looked_up(settings):
    rule = CorporateRule.from_settings(settings)
    ctx = context(settings, state=TriageState.EXCLUDED)
    assert not rule.evaluate(make_bug(creator="dan@example.org"), ctx)


def test_project_accounts_by_domain_are_left_alone_like_bots(settings):
    result = run(settings, "george@xenproject.org")
    (d,) = result.decisions
    assert d.outcome == "project" and d.state == TriageState.EXCLUDED and result.stop
    assert d.details["kind"] == "project" and "orgs.project_domains" in d.reason
    assert not result.changes
    sub = affiliation("ann@lists.xenproject.org", settings.orgs)
    assert sub.kind == "project" and sub.organisation == "Xen Project"
    assert affiliation("bob@citrix.com", settings.orgs).kind == "corporate"
    assert affiliation("eve@example.org", settings.orgs).kind == ""
