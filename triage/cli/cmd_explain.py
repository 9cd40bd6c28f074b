"""``xentriage explain BUG``: which rules fired on a bug, why, and what the bot did about it."""

from __future__ import annotations

import json
from typing import Any

import click

from triage.cli.common import EXIT_NOT_FOUND, app, echo, fail
from triage.model import format_bz_time
from triage.rules.base import sanitize


def gather(store: Any, bug_id: int) -> dict[str, Any]:
    from triage.store import actions, decisions, nag, states

    with store.session() as s:
        state = states.get_state(s, bug_id)
        stored = decisions.decisions_for_bug(s, bug_id)
        acts = sorted(actions.list_actions(s, bug_id=bug_id, limit=1000),
                      key=lambda r: r.created_at)
        ledger = nag.entries_for_bug(s, bug_id)

        def t(value: Any) -> str | None:
            return format_bz_time(value) if value is not None else None

        return {
            "bug": bug_id,
            "state": {"state": state.state.value, "since": t(state.since),
                      "claimed_by": state.claimed_by, "claimed_at": t(state.claimed_at),
                      "organisation": state.organisation, "fix_reference": state.fix_reference},
            "known": bool(stored or acts or ledger or state.since),
            "decisions": [{"at": t(d.created_at), "run": d.run_id,
                           "mode": "production" if d.production else "dry-run",
                           "rule": d.rule, "outcome": d.outcome, "reason": d.reason,
                           "state": d.state, "state_committed": d.state_committed,
                           "details": d.details} for d in stored],
            "state_history": [{"at": t(d.created_at), "state": d.state, "rule": d.rule,
                               "reason": d.reason}
                              for d in stored if d.state and d.state_committed],
            "actions": [{"key": r.key, "rule": r.rule, "kind": r.kind, "status": r.status,
                         "marker": r.marker, "created": t(r.created_at), "sent": t(r.sent_at),
                         "confirmed": t(r.confirmed_at), "error": r.error} for r in acts],
            "nag_ledger": [{"at": t(e.at), "person": e.person, "rule": e.rule,
                            "key": e.action_key} for e in ledger],
        }


def _checklist_lines(info: dict[str, Any]) -> list[str]:
    """The latest completeness decision's evidence: each item, found or missing, the quoted
    words and where they came from (summary, description, comment N, attachment NAME)."""
    latest = next((d for d in reversed(info["decisions"])
                   if d["rule"] == "completeness" and d["details"].get("evidence")), None)
    if latest is None:
        return []
    details = latest["details"]
    lines = ["", f"Checklist ({sanitize(str(details.get('checklist', '')), max_length=80)}, "
                 f"as judged {latest['at']}):"]
    for item, ev in details["evidence"].items():
        name = sanitize(str(item), max_length=40)
        if ev.get("found"):
            lines.append(f"  found    {name}: {sanitize(str(ev.get('value', '')), max_length=120)}"
                         f" ({sanitize(str(ev.get('where', '')), max_length=80)})")
            quote = sanitize(str(ev.get("quote", "")), max_length=200)
            if quote:
                lines.append(f"             \"{quote}\"")
        else:
            note = sanitize(str(ev.get("note", "")), max_length=200)
            lines.append(f"  missing  {name}" + (f": {note}" if note else ""))
    return lines


def render(info: dict[str, Any]) -> str:
    st = info["state"]
    lines = [f"Bug {info['bug']}: {st['state']}" + (f" since {st['since']}" if st["since"] else "")]
    for label, key in (("organisation", "organisation"), ("claimed by", "claimed_by"),
                       ("fix", "fix_reference")):
        if st[key]:
            lines.append(f"  {label}: {st[key]}")
    lines.append("")
    lines.append("Decisions:")
    for d in info["decisions"] or [{"none": True}]:
        if d.get("none"):
            lines.append("  (none stored)")
            break
        state = f" -> {d['state']}" if d["state"] else ""
        planned = "" if d["state_committed"] or not d["state"] else " (not applied)"
        lines.append(f"  {d['at']} run {d['run']} ({d['mode']}) {d['rule']}: "
                     f"{d['outcome']}{state}{planned}")
        lines.append(f"      {sanitize(d['reason'], max_length=500)}")
    lines.append("")
    lines.append("State history:")
    for h in info["state_history"] or [{"none": True}]:
        if h.get("none"):
            lines.append("  (no committed transitions)")
            break
        lines.append(f"  {h['at']} {h['state']} ({h['rule']}: "
                     f"{sanitize(h['reason'], max_length=300)})")
    lines.append("")
    lines.append("Actions:")
    for a in info["actions"] or [{"none": True}]:
        if a.get("none"):
            lines.append("  (none)")
            break
        when = a["confirmed"] or a["sent"] or a["created"]
        lines.append(f"  {when} {a['status']:<10} {a['kind']:<6} {a['key']} [{a['marker']}]"
                     + (f" error: {a['error']}" if a["error"] else ""))
    lines.extend(_checklist_lines(info))
    if info["nag_ledger"]:
        lines.append("")
        lines.append("Nag ledger:")
        for e in info["nag_ledger"]:
            lines.append(f"  {e['at']} {e['person']} ({e['rule']}, {e['key']})")
    return "\n".join(lines)


@click.command("explain")
@click.argument("bug_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def command(ctx: click.Context, bug_id: int, as_json: bool) -> None:
    """Show every decision the rules made on BUG (rule, outcome, reason, time), its state
    history, and the actions planned, sent and confirmed with their idempotency keys."""
    info = gather(app(ctx).store, bug_id)
    if not info["known"]:
        fail(f"bug {bug_id}: the bot has no decisions, actions or state for it "
             "(run `xentriage triage --bug {bug_id}` first)".replace("{bug_id}", str(bug_id)),
             EXIT_NOT_FOUND)
    if as_json:
        echo(json.dumps(info, indent=2, sort_keys=True))
        return
    echo(render(info))
