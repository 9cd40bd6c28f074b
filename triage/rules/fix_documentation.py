"""Rule: a claimed bug closed as FIXED must say where the fix is.

The detector (:func:`find_fix_reference`) is deliberately precise, because a false "documented"
hides an undocumented fix and a false "undocumented" nags a developer who did the right thing:

- a git hash counts only with context that makes it a commit ("commit 1a2b3c4", "fixed in
  1a2b3c4d", "Fixes: 1a2b3c4d5e6f (...)"), 7 to 40 hex digits with at least one digit and one
  letter: "fixed in 4.17.2" is a version, "commit 1234567" is a bare number, "latest" is nothing;
- a commit / merge-request URL of a known forge (xenbits gitweb, ``xen.git``, git.kernel.org,
  GitHub, GitLab), or a patch posting (lore.kernel.org, lists.xenproject.org, patchew);
- a Mercurial-era changeset ("changeset 23456", "c/s 23456:1a2b3c4d5e6f"): with the word, a number
  *is* a reference;
- a patch: a non-obsolete attachment flagged as a patch or named ``*.patch`` / ``*.diff``, an inline
  ``diff --git`` or ``git format-patch`` header, or patch trailers (``Reviewed-by:``,
  ``Signed-off-by:``, ``Acked-by:`` with an address).

Comments by bot accounts never count: the bot's own follow-up must not document the fix it asks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from triage.claims.core import ClaimsAwareRule, People
from triage.markers import has_state_tag, state_tag
from triage.model import Bug, BugUpdate, TriageState
from triage.rules.base import (
    NOTHING,
    Days,
    RuleContext,
    RuleResult,
    RuleSettings,
    StateUpdate,
    needinfo,
    sanitize,
)

_SHA = r"[0-9a-f]{7,40}"
# Context words that make a following hash a commit.
_COMMIT_CONTEXT = re.compile(
    r"(?ix)\b(?:"
    r"commit(?:ted)?(?:\s+(?:as|in|to))?"
    r"|(?:fix(?:ed)?|resolved|addressed)\s+(?:in|by|with|as)(?:\s+commit)?"
    r"|(?:landed|merged|pushed|applied|backported|cherry[- ]picked)"
    r"(?:\s+(?:as|in|to|from|into)(?:\s+\S{1,40}){0,2}?)?(?:\s+(?:as|commit))?"
    r"|revert(?:s|ed)?(?:\s+commit)?"
    r"|upstream(?:\s+commit)?"
    r"|fixes:"
    r"|sha(?:1)?:?"
    r")[\s:#]*[\"'`(]?(" + _SHA + r")\b(?![.\-]\d)"
)
# URLs are found in two steps so hostile text cannot make matching quadratic: a bounded,
# linear candidate scan, then anchored checks on each (short) candidate.
_URL_CANDIDATE = re.compile(r"(?i)https?://[^\s<>\"'()\[\]{}|\\^`]{1,400}")
_URL_KINDS = (
    # xenbits gitweb / cgit, and anything under xen.git
    re.compile(r"(?i)https?://xenbits\.(?:xen|xenproject)\.org/."),
    re.compile(r"(?i)https?://.*xen\.git"),
    re.compile(r"(?i)https?://git\.kernel\.org/.+/(?:commit|patch)/.*[?&]id=[0-9a-f]{7,40}"),
    re.compile(r"(?i)https?://(?:www\.)?github\.com/[\w.-]+/[\w.-]+/(?:commit/[0-9a-f]{7,40}"
               r"|pull/\d+)"),
    re.compile(r"(?i)https?://gitlab\.com/[\w./-]+/-/(?:commit/[0-9a-f]{7,40}"
               r"|merge_requests/\d+)"),
    re.compile(r"(?i)https?://(?:lore\.kernel\.org|patchew\.org|patchwork\.kernel\.org)/."),
    re.compile(r"(?i)https?://lists\.xen(?:project)?\.org/archives/html/xen-devel/."),
)
_CHANGESET = re.compile(r"(?i)\b(?:changeset|c/s)[\s:#]*(\d{3,7}(?::[0-9a-f]{7,40})?"
                        r"|[0-9a-f]{12,40})\b")
_INLINE_PATCH = re.compile(r"(?m)^(?:diff --git a/\S+ b/\S+|From [0-9a-f]{40} Mon Sep 17 "
                           r"00:00:00 2001)$")
_TRAILER = re.compile(r"(?im)^\s*(?:Reviewed-by|Signed-off-by|Acked-by|Tested-by):\s*"
                      r"[^<\n]*<[^@>\s]+@[^>\s]+>\s*$")
_PATCH_NAMES = (".patch", ".diff", ".debdiff")
_PATCH_TYPES = ("text/x-patch", "text/x-diff", "application/x-patch")


@dataclass(frozen=True)
class FixReference:
    kind: str  # commit | url | changeset | patch | trailer
    value: str
    where: str  # "comment 3", "attachment 12", "URL field"

    def describe(self) -> str:
        return f"{self.kind} {self.value} ({self.where})"


def _is_hash(text: str) -> bool:
    """A hex string that looks like a hash rather than a number or an English word."""
    return bool(re.search(r"\d", text)) and bool(re.search(r"[a-f]", text, re.I))


def references_in_text(text: str, where: str) -> list[FixReference]:
    found: list[FixReference] = []
    for match in _COMMIT_CONTEXT.finditer(text):
        sha = match.group(1).lower()
        if _is_hash(sha):
            found.append(FixReference("commit", sha, where))
    for match in _URL_CANDIDATE.finditer(text):
        url = match.group(0).rstrip(".,;:")
        if any(kind.match(url) for kind in _URL_KINDS):
            found.append(FixReference("url", url, where))
    for match in _CHANGESET.finditer(text):
        value = match.group(1)
        if value.isdigit() or ":" in value or _is_hash(value):
            found.append(FixReference("changeset", value, where))
    for match in _INLINE_PATCH.finditer(text):
        found.append(FixReference("patch", match.group(0)[:60], where))
    for match in _TRAILER.finditer(text):
        found.append(FixReference("trailer", match.group(0).strip()[:120], where))
    return list(dict.fromkeys(found))  # one URL can match two patterns; keep the order


def find_fix_references(bug: Bug, bot_accounts: Iterable[str] = ()) -> list[FixReference]:
    """Every fix reference on the bug, strongest first (commit, URL, changeset, patch, trailer)."""
    bots = {b.lower() for b in bot_accounts}
    found: list[FixReference] = []
    for comment in bug.comments:
        if comment.author.lower() in bots:
            continue
        found.extend(references_in_text(comment.text, f"comment {comment.count}"))
    if bug.url:
        found.extend(references_in_text(bug.url, "URL field"))
    for att in bug.attachments:
        if att.is_obsolete:
            continue
        if (att.is_patch or att.file_name.lower().endswith(_PATCH_NAMES)
                or att.content_type.lower() in _PATCH_TYPES):
            found.append(FixReference("patch", att.file_name or f"#{att.id}",
                                      f"attachment {att.id}"))
    order = {"commit": 0, "url": 1, "changeset": 2, "patch": 3, "trailer": 4}
    return sorted(found, key=lambda r: order[r.kind])


def find_fix_reference(bug: Bug, bot_accounts: Iterable[str] = ()) -> FixReference | None:
    refs = find_fix_references(bug, bot_accounts)
    return refs[0] if refs else None


# --- the rule ------------------------------------------------------------------------------------

ASKED = state_tag("fix-asked")


@dataclass
class FixDocumentationSettings(RuleSettings):
    # Only bugs closed this recently are followed up (old closures predate the bot).
    max_age_days: Days = 30


def closed_at(bug: Bug, closed_statuses: Iterable[str]) -> datetime:
    """When the bug was last closed (history), else its last change."""
    statuses = set(closed_statuses)
    when: datetime | None = None
    for entry in bug.history:
        for change in entry.changes:
            if change.field_name in ("status", "bug_status") and change.added in statuses:
                when = entry.when if when is None else max(when, entry.when)
    return when or bug.last_change_time


class FixDocumentationRule(ClaimsAwareRule):
    name = "fix_documentation"
    summary = "a claimed bug closed FIXED must name its commit, patch or changeset"
    settings_class = FixDocumentationSettings
    settings: FixDocumentationSettings


    def applies_to(self, bug: Bug, ctx: RuleContext) -> bool:
        workflow = ctx.settings.bugzilla.workflow
        return (not bug.is_open and bug.status in workflow.closed_statuses
                and bug.resolution == workflow.fixed_resolution)

    def claimant(self, bug: Bug, ctx: RuleContext) -> str | None:
        """Who held the bug: the recorded claim, else a person as assignee at closing time."""
        if ctx.state.claimed_by:
            return ctx.state.claimed_by
        people = People.of(self.claims, ctx.bot_accounts)
        return bug.assigned_to.lower() if people.is_person(bug.assigned_to) else None

    def evaluate(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        claimant = self.claimant(bug, ctx)
        if claimant is None:
            return NOTHING  # nobody claimed it: nobody to ask
        ref = find_fix_reference(bug, ctx.bot_accounts)
        if ref is not None:
            described = ref.describe()
            if ctx.state.state == TriageState.FIX_DOCUMENTED and \
                    ctx.state.fix_reference == described:
                return NOTHING
            reason = f"fixed by {claimant}; documented by {described}"
            return RuleResult(
                decisions=(self.decision(bug, "fix-documented", reason,
                                         TriageState.FIX_DOCUMENTED, fix_reference=described,
                                         kind=ref.kind),),
                state=StateUpdate(TriageState.FIX_DOCUMENTED, reason, fix_reference=described),
            )
        key = self.key(bug.id, "ask")
        if has_state_tag(bug, ASKED) or key in ctx.applied_keys:
            return RuleResult(decisions=(self.decision(
                bug, "fix-undocumented", f"{claimant} was asked for the fix reference; no "
                "commit, patch or changeset reference on the bug yet", TriageState.CLOSED),))
        closed = closed_at(bug, ctx.settings.bugzilla.workflow.closed_statuses)
        if ctx.now - closed > timedelta(days=self.settings.max_age_days):
            return RuleResult(decisions=(self.decision(
                bug, "fix-undocumented-old", f"closed on {closed:%Y-%m-%d}, more than "
                f"{self.settings.max_age_days} days ago: not followed up"),))
        reason = (f"closed {bug.status} {bug.resolution} by {claimant}'s claim without a "
                  "commit, patch or changeset reference")
        update = BugUpdate(comment=self.render(claimant=sanitize(claimant)),
                           flags=(needinfo(ctx, claimant),), whiteboard_add=(ASKED,))
        return RuleResult(
            decisions=(self.decision(bug, "ask-fix-reference", reason, claimant=claimant),),
            changes=(self.update(bug, "ask", update, reason, recipient=claimant, nag=True),),
            state=StateUpdate(TriageState.CLOSED, reason),
        )
