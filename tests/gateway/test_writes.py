"""The action ledger against the double: at most once, even across crashes and a lost store."""

from __future__ import annotations

import pytest

from tests.bugzilla_double.double import BugzillaDouble
from tests.gateway.conftest import seed
from triage.adapters.bugzilla import BugzillaGateway
from triage.markers import marked_change, marker_for
from triage.model import BugUpdate, Change, FlagChange, NewBug
from triage.store import Store
from triage.store import actions as ledger
from triage.writes import Writer


def _comment_change(bug_id: int, key: str = "followup:1:v1") -> Change:
    return Change(key=key, rule="completeness", reason="missing version", bug_id=bug_id,
                  update=BugUpdate(comment="Please tell us the Xen version.",
                                   whiteboard_add=("xt:needinfo",)))


def _status(store: Store, key: str) -> str | None:
    with store.session() as s:
        row = ledger.get_action(s, key)
        return row.status if row else None


def _bot_comments(double: BugzillaDouble, bug_id: int) -> list[str]:
    return [c["text"] for c in double.comments(bug_id) if "Xen version" in c["text"]]


def test_dry_run_records_the_plan_and_never_blocks_production(
        store: Store, gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    change = _comment_change(bug_id)
    dry = Writer(store, gateway, production=False).apply(change)
    assert dry.status == "dry-run" and not dry.sent
    assert dry.plan["update"]["comment"].endswith(f"[{marker_for(change.key)}]")
    assert bugzilla_double.request_count("PUT") == 0 and _status(store, change.key) == "dry-run"

    real = Writer(store, gateway, production=True).apply(change)
    assert real.status == "confirmed" and real.sent
    assert _status(store, change.key) == "confirmed"
    assert len(_bot_comments(bugzilla_double, bug_id)) == 1
    assert "[xt:needinfo]" in bugzilla_double.bug(bug_id)["whiteboard"]

    again = Writer(store, gateway, production=True).apply(change)
    assert again.status == "already-done" and not again.sent
    assert Writer(store, gateway, production=False).apply(change).status == "already-done"
    assert len(_bot_comments(bugzilla_double, bug_id)) == 1


def test_kill_switch_holds_production_writes(store: Store, gateway: BugzillaGateway,
                                             bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    out = Writer(store, gateway, production=True, kill_switch=lambda: True).apply(
        _comment_change(bug_id))
    assert out.status == "dry-run" and out.blocked_by == "kill-switch"
    assert bugzilla_double.request_count("PUT") == 0


def test_crash_between_sending_and_confirming_does_not_duplicate(
        store: Store, gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    change = _comment_change(bug_id)
    # The first run: recorded as planned, sent... and the process dies before recording more.
    with store.session() as s:
        ledger.record_planned(s, key=change.key, bug_id=bug_id, rule=change.rule,
                              kind="update", target="bugzilla", payload={},
                              marker=marker_for(change.key))
    sent = marked_change(change)
    assert sent.update is not None
    gateway.update_bug(bug_id, sent.update)
    assert _status(store, change.key) == "planned"

    out = Writer(store, gateway, production=True).apply(change)
    assert out.status == "already-applied" and not out.sent
    assert _status(store, change.key) == "confirmed"
    assert len(_bot_comments(bugzilla_double, bug_id)) == 1


def test_crash_before_sending_sends_exactly_once(store: Store, gateway: BugzillaGateway,
                                                 bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    change = _comment_change(bug_id)
    with store.session() as s:
        ledger.record_planned(s, key=change.key, bug_id=bug_id, rule=change.rule,
                              kind="update", target="bugzilla", payload={},
                              marker=marker_for(change.key))
    out = Writer(store, gateway, production=True).apply(change)
    assert out.status == "confirmed" and out.sent
    assert len(_bot_comments(bugzilla_double, bug_id)) == 1


def test_crash_inside_the_ledger_after_the_send(store: Store, gateway: BugzillaGateway,
                                                bugzilla_double: BugzillaDouble,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    change = _comment_change(bug_id)

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(ledger, "mark_sent", crash)
    with pytest.raises(KeyboardInterrupt):
        Writer(store, gateway, production=True).apply(change)
    monkeypatch.undo()
    assert _status(store, change.key) == "planned"
    assert len(_bot_comments(bugzilla_double, bug_id)) == 1

    outcomes = Writer(store, gateway, production=True).reconcile()
    assert [o.status for o in outcomes] == ["already-applied"]
    assert Writer(store, gateway, production=True).apply(change).status == "already-done"
    assert len(_bot_comments(bugzilla_double, bug_id)) == 1


def test_lost_store_the_marker_prevents_a_duplicate(
        tmp_path, gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:  # type: ignore[no-untyped-def]
    (bug_id,) = seed(bugzilla_double, 1)
    change = _comment_change(bug_id)
    first = Store(f"sqlite:///{tmp_path / 'first.sqlite3'}")
    first.migrate()
    assert Writer(first, gateway, production=True).apply(change).status == "confirmed"
    first.dispose()
    (tmp_path / "first.sqlite3").unlink()

    fresh = Store(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    fresh.migrate()
    out = Writer(fresh, gateway, production=True).apply(change)
    assert out.status == "already-applied" and not out.sent
    assert len(_bot_comments(bugzilla_double, bug_id)) == 1
    # With the freshly synced bug handed over, no extra read is needed either.
    bug = gateway.get_bugs([bug_id]).bugs[0]
    fresh2 = Store(f"sqlite:///{tmp_path / 'fresh2.sqlite3'}")
    fresh2.migrate()
    before = bugzilla_double.request_count()
    out = Writer(fresh2, gateway, production=True).apply(change, current=bug)
    assert out.status == "already-applied" and bugzilla_double.request_count() == before


def test_lost_store_a_filed_bug_is_found_by_its_whiteboard_marker(
        tmp_path, gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:  # type: ignore[no-untyped-def]
    change = Change(key="ci:sig=77d0e1aa", rule="ci-link", reason="new CI failure",
                    create=NewBug(product="Xen", component="Unikraft", summary="[CI] boot fails",
                                  description="console log ...", whiteboard="[ci:sig=77d0e1aa]",
                                  version="unstable"))
    stores = []
    for name in ("a", "b"):
        s = Store(f"sqlite:///{tmp_path / name}.sqlite3")
        s.migrate()
        stores.append(s)
    out1 = Writer(stores[0], gateway, production=True).apply(change)
    out2 = Writer(stores[1], gateway, production=True).apply(change)
    assert out1.status == "confirmed" and out2.status == "already-applied"
    assert out2.result["bug_id"] == out1.result["bug_id"]
    assert bugzilla_double.request_count("POST", "bug") == 1


def test_ambiguous_failure_is_checked_before_resending(
        store: Store, gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    change = Change(key="followup:1:v1", rule="completeness", reason="missing version",
                    bug_id=bug_id, update=BugUpdate(comment="Please tell us the Xen version."))
    current = gateway.get_bugs([bug_id]).bugs[0]
    bugzilla_double.fail_next(1, 503)  # the PUT fails before reaching the bug
    writer = Writer(store, gateway, production=True, sleep=lambda s: None)
    out = writer.apply(change, current=current)
    assert out.status == "confirmed"
    assert bugzilla_double.request_count("PUT") == 2
    assert len(_bot_comments(bugzilla_double, bug_id)) == 1


def test_field_only_update_already_reflected_is_not_resent(
        store: Store, gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    bugzilla_double.create_user("eve@example.org")
    change = Change(key="needinfo:eve", rule="completeness", reason="x", bug_id=bug_id,
                    update=BugUpdate(flags=(FlagChange("needinfo", "?", "eve@example.org"),)))
    assert Writer(store, gateway, production=True).apply(change).status == "confirmed"
    with store.session() as s:
        s.delete(ledger.get_action(s, change.key))
    out = Writer(store, gateway, production=True).apply(change)
    assert out.status == "already-applied"
    flags = bugzilla_double.bug(bug_id)["flags"]
    assert len([f for f in flags if f["name"] == "needinfo"]) == 1


def test_definite_errors_are_recorded_as_failed(store: Store, gateway: BugzillaGateway,
                                                bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    change = Change(key="bad-status", rule="r", reason="x", bug_id=bug_id,
                    update=BugUpdate(status="ASSIGNED"))
    out = Writer(store, gateway, production=True).apply(change, current=None)
    assert out.status == "failed" and "ASSIGNED" in out.error
    assert _status(store, "bad-status") == "failed"


def test_reconcile_confirms_sent_rows_without_a_request(store: Store, gateway: BugzillaGateway,
                                                        bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    with store.session() as s:
        ledger.record_planned(s, key="k-sent", bug_id=bug_id, rule="r", kind="update",
                              target="bugzilla", payload={}, marker=marker_for("k-sent"))
        s.flush()
        ledger.mark_sent(s, "k-sent", {"bug_id": bug_id})
        ledger.record_planned(s, key="k-lost", bug_id=bug_id, rule="r", kind="update",
                              target="bugzilla", payload={}, marker=marker_for("k-lost"))
    gateway.get_bugs([bug_id])  # connected
    before = bugzilla_double.request_count()
    outcomes = {o.key: o for o in Writer(store, gateway, production=True).reconcile()}
    assert outcomes["k-sent"].status == "already-applied"
    assert outcomes["k-lost"].status == "pending"  # never reached Bugzilla: left for its rule
    assert bugzilla_double.request_count() - before == 2  # one bug read for k-lost only
    assert _status(store, "k-sent") == "confirmed" and _status(store, "k-lost") == "planned"
