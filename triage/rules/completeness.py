"""Rule ``completeness``: does the report hold what a developer needs? (pure judgement, no writes)

The checklist is per product, optionally per ``Product/Component``, with ``*`` for the rest
(:mod:`triage.completeness.checklist` has the items and their detectors). The rule concludes
``complete`` (state ``complete``, which sends the bug to the review queue) or ``incomplete`` with
the missing items in ``details["missing"]``, which the follow-up rule turns into a question to the
reporter, and every item's evidence (the quoted span and its source, or why it was not found) in
``details["evidence"]`` for ``xentriage explain``. Bugs the bot filed itself (CI failures) carry
their evidence and count as complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from triage.completeness.checklist import DEFAULT_CHECKLISTS, ITEMS, Assessment, assess, labels
from triage.completeness.evidence import Finding
from triage.model import Bug, TriageState
from triage.rules.base import Rule, RuleContext, RuleResult, RuleSettings, StateUpdate

# States in which a report is still being completed (expired bugs a reporter reopened included).
OPEN_QUESTION_STATES = (TriageState.NEW, TriageState.NEEDS_INFO, TriageState.REMINDED,
                        TriageState.EXPIRED)


@dataclass
class CompletenessSettings(RuleSettings):
    # "Product" or "Product/Component" (or "*") -> checklist item names.
    checklists: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_CHECKLISTS.items()})

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for key, names in self.checklists.items():
            unknown = [n for n in names if n not in ITEMS]
            if unknown:
                out.append((f"checklists.{key}", f"unknown item(s) {', '.join(unknown)} "
                                                 f"(known: {', '.join(sorted(ITEMS))})"))
        return out


def found_phrase(f: Finding) -> str:
    """How the follow-up names what it understood: "Xen 4.19.1", "arm64", "an Alpine dom0"."""
    if f.item == "dom0":
        if f.value.lower().startswith("dom0"):
            return f.value
        article = "an" if f.value[:1].lower() in "aeiou" else "a"
        return f"{article} {f.value} dom0"
    if f.item in ("steps",):
        return "steps" if "steps" in f.value else f"steps ({f.value})"
    if f.item in ("logs", "console_log"):
        return f.value if f.value.startswith("an attached") else "a pasted log"
    if f.item == "expected_actual":
        return "what happened and what was expected"
    if f.item == "hardware":
        return f"hardware {f.value}"
    return f.value or ITEMS[f.item].label


def _details(result: Assessment) -> dict[str, object]:
    return {"checklist": result.checklist, "present": list(result.present),
            "missing": list(result.missing),
            "found": [found_phrase(f) for f in result.findings if f.found],
            "evidence": result.evidence()}


class CompletenessRule(Rule):
    name = "completeness"
    summary = "checks the report against its product's checklist"
    settings_class = CompletenessSettings

    def applies_to(self, bug: Bug, ctx: RuleContext) -> bool:
        return bug.is_open and ctx.state.state in OPEN_QUESTION_STATES

    def evaluate(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        settings = self.settings
        assert isinstance(settings, CompletenessSettings)
        if ctx.is_bot(bug.creator):
            reason = "filed by the bot with its own evidence"
            return RuleResult(
                decisions=(self.decision(bug, "complete", reason, TriageState.COMPLETE,
                                         bot_filed=True),),
                state=StateUpdate(TriageState.COMPLETE, reason))
        result = assess(bug, settings.checklists, ctx.bot_accounts)
        if not result.checklist:
            reason = "no checklist for this product: nothing to ask"
            return RuleResult(decisions=(self.decision(bug, "complete", reason,
                                                       TriageState.COMPLETE),),
                              state=StateUpdate(TriageState.COMPLETE, reason))
        if result.complete:
            reason = (f"every item of the {result.checklist} checklist is there "
                      f"({', '.join(labels(result.present))})")
            return RuleResult(
                decisions=(self.decision(bug, "complete", reason, TriageState.COMPLETE,
                                         **_details(result)),),
                state=StateUpdate(TriageState.COMPLETE, reason))
        reason = f"missing from the report: {', '.join(labels(result.missing))}"
        return RuleResult(decisions=(self.decision(bug, "incomplete", reason, None,
                                                   **_details(result)),))
