"""A triage run's plan as text: what ``xentriage triage`` prints and ``xentriage run`` (through
:mod:`triage.jobs`) reports. Plain functions over a :class:`~triage.engine.RunReport`, so the
service and the CLI share them without the service importing the CLI."""

from __future__ import annotations

from collections import defaultdict

from triage.engine import RunReport
from triage.model import Change
from triage.plan import ALREADY_APPLIED, SUPPRESSED, WRITE, PlannedChange
from triage.rules.base import sanitize


def _safe(text: str, limit: int = 300) -> str:
    """Reasons and subjects can carry text from bugs and mails: one line, no control characters
    (a terminal escape sequence in a bug summary must not reach the operator's terminal). The
    bot's own markers are shown as they will be written."""
    return str(sanitize(text, max_length=limit, defuse_markers=False))


def describe_change(change: Change) -> str:
    """One line: what a change does (user text only through :func:`_safe`)."""
    if change.mail is not None:
        return _safe(f"mail to {', '.join(change.mail.to)}: {change.mail.subject[:60]!r}")
    if change.create is not None:
        return f"file a bug in {change.create.product}/{change.create.component}"
    u = change.update
    assert u is not None
    parts: list[str] = []
    if u.comment is not None:
        parts.append(f"comment ({len(u.comment.splitlines())} lines)")
    if u.status:
        parts.append(f"status {u.status}{' ' + u.resolution if u.resolution else ''}")
    if u.assigned_to:
        parts.append(f"assign {u.assigned_to}")
    for f in u.flags:
        parts.append(f"{'clear ' if f.status == 'X' else ''}{f.name}"
                     f"{'' if f.status == 'X' else f.status}"
                     f"{f'({f.requestee})' if f.requestee else ''}")
    parts += [f"+keyword {k}" for k in u.keywords_add] + [f"-keyword {k}" for k in
                                                         u.keywords_remove]
    parts += [f"+[{t}]" for t in u.whiteboard_add] + [f"-[{t}]" for t in u.whiteboard_remove]
    parts += [f"cc {c}" for c in u.cc_add]
    return _safe(", ".join(parts) or "no-op", 1000)


def render_plan(report: RunReport, *, show_comments: bool = False) -> str:
    lines: list[str] = []
    mode = "PRODUCTION" if report.production else "DRY RUN (nothing is written)"
    lines.append(f"Triage run {report.run_id}: {mode}; {len(report.plan.bugs)} bugs "
                 f"({report.selection})")
    by_rule: dict[str, list[PlannedChange]] = defaultdict(list)
    for pc in report.plan.changes():
        by_rule[pc.change.rule].append(pc)
    if not by_rule:
        lines.append("No changes planned.")
    for rule in sorted(by_rule, key=lambda r: _rule_order(report, r)):
        lines.append("")
        lines.append(f"== {rule} ==")
        for pc in by_rule[rule]:
            c = pc.change
            tag = {WRITE: "", SUPPRESSED: "[suppressed] ",
                   ALREADY_APPLIED: "[already applied] "}[pc.status]
            result = f" -> {pc.outcome}" if pc.outcome and pc.status == WRITE else ""
            lines.append(f"  bug {c.bug_id}: {tag}{describe_change(c)}{result}")
            lines.append(f"      why: {_safe(c.reason)}")
            if pc.status == SUPPRESSED:
                lines.append(f"      held back: {_safe(pc.why)}")
            if pc.error:
                lines.append(f"      error: {_safe(pc.error)}")
            lines.append(f"      key: {c.key}")
            if show_comments and c.update is not None and c.update.comment:
                lines.extend("      | " + _safe(line, 1000)
                             for line in c.update.comment.splitlines())
    s = report.summary()
    lines.append("")
    lines.append(f"Summary: {s['planned']} writes planned (cap {s['change_cap']}), "
                 f"{s['suppressed']} held back by the nag ledger, {s['already_applied']} "
                 f"already applied, {s['decisions']} decisions"
                 + (f", {s['written']} written, {s['failed']} failed" if report.production
                    else ""))
    if report.missing:
        lines.append(f"Not found (not in the store or Bugzilla): "
                     f"{', '.join(map(str, report.missing))}")
    if report.aborted:
        lines.append(f"ABORTED: {report.abort_reason}. Raise --change-cap (or safety.change_cap) "
                     "after reading the plan, or narrow it with --bug.")
    return "\n".join(lines)


def _rule_order(report: RunReport, rule: str) -> tuple[int, str]:
    from triage.rules import rule_position

    return rule_position(rule), rule
