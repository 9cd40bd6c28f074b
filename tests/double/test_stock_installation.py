"""The double's defaults are a stock Bugzilla 5.2's, as measured on a real installation: every
account is in ``editbugs`` and ``canconfirm`` (new bugs are filed CONFIRMED) and target milestones
are off (no ``X-Bugzilla-Target-Milestone`` header or row in mails); the contract's configuration
is an option."""

from __future__ import annotations

from typing import Any

import requests

from tests.bugzilla_double import CONTRACT_INSTALLATION, BugzillaDouble
from tests.bugzilla_double.client import admin, user


def _groups(double: BugzillaDouble, email: str, key: str) -> set[str]:
    r = requests.get(double.url + "user", params={"names": email, "api_key": key}, timeout=5)
    [me] = r.json()["users"]
    return {g["name"] for g in me["groups"]}


def test_every_account_gets_editbugs_and_canconfirm(make_bugzilla_double: Any) -> None:
    double = make_bugzilla_double()
    key = double.create_user("eve@example.org")
    assert _groups(double, "eve@example.org", key) >= {"editbugs", "canconfirm"}
    eve = user(double, "frank@example.org")
    bug_id = eve.new_bug()
    assert double.bug(bug_id)["status"] == "CONFIRMED"
    # editbugs: an ordinary account may change fields of someone else's bug
    other = admin(double).new_bug()
    r = eve.put(f"bug/{other}", {"priority": "High"})
    assert r.status_code == 200, r.text
    # UNCONFIRMED can still be asked for explicitly
    assert double.bug(eve.new_bug(status="UNCONFIRMED"))["status"] == "UNCONFIRMED"


def test_the_contract_installation_files_community_bugs_unconfirmed(
        make_bugzilla_double: Any) -> None:
    double = make_bugzilla_double(**CONTRACT_INSTALLATION)
    eve = user(double, "eve@example.org")
    assert double.bug(eve.new_bug())["status"] == "UNCONFIRMED"
    r = eve.put(f"bug/{admin(double).new_bug()}", {"priority": "High"})
    assert r.status_code in (400, 401), r.text


def _new_bug_mail(double: BugzillaDouble) -> Any:
    reporter = user(double, "eve@example.org")
    bug_id = reporter.new_bug(summary="xl doesnt work")
    [mail] = [m for m in double.mails_for(bug_id) if m["X-Bugzilla-Type"] == "new"][:1]
    return mail


def _text(mail: Any) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_notification_mails_leave_out_the_milestone_while_milestones_are_off(
        make_bugzilla_double: Any) -> None:
    stock = _new_bug_mail(make_bugzilla_double())
    assert "X-Bugzilla-Target-Milestone" not in stock
    assert "Target Milestone" not in _text(stock)
    assert stock["X-Bugzilla-Status"] == "CONFIRMED"
    on = _new_bug_mail(make_bugzilla_double(use_target_milestone=True))
    assert on["X-Bugzilla-Target-Milestone"] == "---"
    assert "Target Milestone" in _text(on)
