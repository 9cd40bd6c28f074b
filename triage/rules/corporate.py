"""Rule ``corporate``: bugs entered by companies that track their own bugs leave the community flow.

Auditable by construction: the decision says *which* evidence made a reporter corporate (an
account override, the email domain and the org-map entry it matched, or a Bugzilla group), and the
excluded bugs are counted (state ``excluded`` with the organisation) for the digest. Precedence:
an explicit account override (``orgs.accounts``; ``""`` forces community), then the most specific
domain (``hv.citrix.com`` before ``citrix.com``), then group membership (``orgs.groups``, looked up
by the engine). Addresses at a project domain (``orgs.project_domains``, e.g. xenproject.org) are
the project's own people: left alone like bots (outcome ``project``), counted apart from
community and corporate; an explicit account override still wins, and bot accounts are never
judged here. The rule writes nothing to Bugzilla unless ``tag = true``.
"""

from __future__ import annotations

from dataclasses import dataclass

from triage.config import OrgSettings
from triage.markers import state_tag
from triage.model import Bug, BugUpdate, Change, TriageState
from triage.rules.base import (
    NOTHING,
    Rule,
    RuleContext,
    RuleResult,
    RuleSettings,
    StateUpdate,
)

EXCLUDED_MARKER = state_tag("corporate")


@dataclass
class CorporateSettings(RuleSettings):
    # Also leave a whiteboard tag [xt:corporate] on excluded bugs (off: corporate trackers are
    # their owners' business; the store keeps the decision anyway).
    tag: bool = False


@dataclass(frozen=True)
class Affiliation:
    organisation: str  # "" for community
    evidence: str  # why, in words
    kind: str = ""  # "corporate", "project" or "" (community)

    def __post_init__(self) -> None:
        if self.organisation and not self.kind:
            object.__setattr__(self, "kind", "corporate")


def affiliation(account: str, orgs: OrgSettings, groups: tuple[str, ...] | None = None
                ) -> Affiliation:
    """Who ``account`` works for according to the org map (pure; see the module docstring)."""
    email = account.strip().lower()
    accounts = {k.strip().lower(): v for k, v in orgs.accounts.items()}
    if email in accounts:
        org = accounts[email]
        if org:
            return Affiliation(org, f"account {email} is listed as {org} in orgs.accounts")
        return Affiliation("", f"account {email} is listed as community in orgs.accounts")
    domain = email.rpartition("@")[2]
    labels = domain.split(".")
    projects = {k.strip().lower().lstrip("."): v for k, v in orgs.project_domains.items()}
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:])
        if candidate in projects:
            return Affiliation(projects[candidate], f"email domain {domain} belongs to the "
                               f"project ({projects[candidate]}) in orgs.project_domains",
                               "project")
    domains = {k.strip().lower().lstrip("."): v for k, v in orgs.domains.items()}
    for i in range(len(labels) - 1):  # most specific first; never a bare TLD
        candidate = ".".join(labels[i:])
        if candidate in domains:
            how = "" if candidate == domain else f" (a subdomain of {candidate})"
            return Affiliation(domains[candidate],
                               f"email domain {domain}{how} belongs to {domains[candidate]} "
                               "in orgs.domains")
    if groups:
        wanted = {g.lower(): g for g in orgs.groups}
        for g in groups:
            if g.lower() in wanted:
                return Affiliation(wanted[g.lower()], f"{email} is a member of the Bugzilla "
                                                      f"group {wanted[g.lower()]}")
    if orgs.groups and groups is None:
        return Affiliation("", f"email domain {domain} is not in orgs.domains (group "
                               "membership not looked up)")
    return Affiliation("", f"email domain {domain} is not in orgs.domains")


class CorporateRule(Rule):
    name = "corporate"
    summary = "corporate reporters leave the community flow (org map, overrides, groups)"
    settings_class = CorporateSettings

    def applies_to(self, bug: Bug, ctx: RuleContext) -> bool:
        # Decided once per bug; re-checked while it is new or excluded so a corrected org map
        # takes effect (a community bug already in the flow stays there).
        return ctx.state.state in (TriageState.NEW, TriageState.EXCLUDED)

    def evaluate(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        if ctx.is_bot(bug.creator):
            return NOTHING  # the bot's own (CI) bugs are not anybody's organisation
        groups = ctx.groups.get(bug.creator.lower())
        who = affiliation(bug.creator, ctx.settings.orgs, groups)
        settings = self.settings
        assert isinstance(settings, CorporateSettings)
        if who.kind == "project":
            # The project's own people: left alone like the bots, counted apart.
            return RuleResult(
                decisions=(self.decision(bug, "project", who.evidence, TriageState.EXCLUDED,
                                         organisation=who.organisation, kind="project"),),
                state=StateUpdate(TriageState.EXCLUDED, who.evidence,
                                  organisation=who.organisation),
                stop=True,
            )
        if who.organisation:
            changes: tuple[Change, ...] = ()
            if settings.tag and bug.is_open and EXCLUDED_MARKER not in bug.whiteboard_tags():
                changes = (self.update(bug, "tag", BugUpdate(whiteboard_add=(EXCLUDED_MARKER,)),
                                       f"mark as corporate ({who.organisation})"),)
            return RuleResult(
                decisions=(self.decision(bug, "corporate", who.evidence, TriageState.EXCLUDED,
                                         organisation=who.organisation),),
                changes=changes,
                state=StateUpdate(TriageState.EXCLUDED, who.evidence,
                                  organisation=who.organisation),
                stop=True,
            )
        back = ctx.state.state == TriageState.EXCLUDED
        if back and groups is None and ctx.settings.orgs.groups:
            # Excluded earlier (perhaps by group membership, which the engine looks up only for
            # new bugs): without the groups at hand the rule cannot overturn that.
            return NOTHING
        return RuleResult(
            decisions=(self.decision(bug, "community", who.evidence,
                                     TriageState.NEW if back else None),),
            state=StateUpdate(TriageState.NEW, who.evidence, organisation="") if back else None,
        )
