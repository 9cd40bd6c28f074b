"""Golden tests for the claim rules' templates: the exact text the bot posts or mails.

To accept a deliberate wording change: ``XENTRIAGE_UPDATE_GOLDEN=1 pytest tests/claims`` and review
the diff of ``tests/claims/golden/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from triage.rules.base import render, sanitize, trusted

GOLDEN = Path(__file__).resolve().parent / "golden"
DEV = sanitize("dev@example.org")
HOSTILE = sanitize("<b>x</b> {{ 7*7 }} {% raw %} [[Category:X]] '''bold'''\r\nBcc: v@example.org"
                   + "A" * 1_000_000)

CASES = {
    "claims_email_claim": dict(claimant=DEV, bug_id=7, message_id=sanitize("<c1@example.org>")),
    "claims_email_unclaim": dict(sender=sanitize("maint@example.org"), claimant=DEV, bug_id=7,
                                 message_id=sanitize("<u1@example.org>")),
    "stale_claims_nudge": dict(claimant=DEV, bug_id=7, claimed_days=45, quiet_days=31,
                               release_days=14),
    "stale_claims_release": dict(claimant=DEV, bug_id=7, quiet_days=45, nudged_days=14),
    "fix_documentation": dict(claimant=DEV),
    "command_reply": dict(
        results=[{"accepted": True, "line": sanitize("#triage claim 7"),
                  "message": sanitize("bug 7 is claimed by you (dev@example.org)")},
                 {"accepted": False, "line": sanitize("#triage claim 999"),
                  "message": sanitize("bug 999 is not known to the triage bot")}],
        refused=True, project=trusted("Xen")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    text = render(f"{name}.j2", **CASES[name])
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("XENTRIAGE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_values_keep_the_structure(name):
    """Every user-derived value replaced by hostile text (markup, Jinja, CRLF, 1 MB): the output
    has the same lines as the golden one, and nothing in it was evaluated."""
    values = {k: (HOSTILE if k in ("claimant", "sender", "message_id") else v)
              for k, v in CASES[name].items()}
    if name == "command_reply":
        values["results"] = [dict(r, line=HOSTILE, message=HOSTILE) for r in values["results"]]
    text = render(f"{name}.j2", **values)
    golden = (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
    assert len(text.splitlines()) == len(golden.splitlines())
    assert "49" not in text and "\r" not in text and "Bcc: v@" not in text.replace(" Bcc", "")
    assert len(text) < len(golden) + 2_000  # sanitize() cut the megabyte


def test_unsanitised_values_are_refused():
    with pytest.raises(TypeError, match="unsanitised"):
        render("fix_documentation.j2", claimant="dev@example.org")
