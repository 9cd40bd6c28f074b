"""Pure translation: REST JSON from the recorded contract, update payloads, reflection checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triage.adapters.bugzilla_convert import (
    bug_from_rest,
    comments_by_bug,
    update_is_reflected,
    update_payload,
    whiteboard_with,
)
from triage.model import Bug, BugUpdate, Flag, FlagChange


def _bug(**kw: object) -> Bug:
    base: dict[str, object] = dict(
        id=2, summary="s", product="Xen", component="Tools", status="UNCONFIRMED",
        creator="eve@example.org", creation_time=datetime(2026, 1, 1, tzinfo=UTC),
        last_change_time=datetime(2026, 1, 2, tzinfo=UTC))
    base.update(kw)
    return Bug(**base)  # type: ignore[arg-type]


def test_rest_bug_and_comments_in_the_recorded_shapes() -> None:
    raw = {"id": 4, "summary": "x", "product": "Xen", "component": "Hypervisor",
           "status": "CONFIRMED", "creator": "bob.dev@intel.com",
           "creation_time": "2026-11-27T00:22:13Z", "last_change_time": "2026-11-27T00:23:14Z",
           "cc": ["bob.dev@intel.com"], "is_open": True,
           "flags": [{"id": 3, "name": "needinfo", "setter": "admin@bugzilla.local",
                      "creation_date": "2026-11-27T00:23:14Z", "status": "?",
                      "modification_date": "2026-11-27T00:23:14Z", "type_id": 1}]}
    bug = bug_from_rest(raw)
    assert bug.flags[0] == Flag(name="needinfo", status="?", setter="admin@bugzilla.local",
                                requestee=None, id=3,
                                creation_date=datetime(2026, 11, 27, 0, 23, 14, tzinfo=UTC),
                                modification_date=datetime(2026, 11, 27, 0, 23, 14, tzinfo=UTC))
    payload = {"comments": {}, "bugs": {"3": {"comments": [
        {"id": 16, "bug_id": 3, "count": 1, "creator": "admin@bugzilla.local", "text": "b",
         "time": "2026-11-27T00:22:45Z", "creation_time": "2026-11-27T00:22:45Z",
         "is_private": False, "attachment_id": None, "tags": []}]}}}
    assert comments_by_bug(payload)[3][0].author == "admin@bugzilla.local"


def test_whiteboard_tags_keep_free_text() -> None:
    assert whiteboard_with("triage:needinfo [a] notes", ["b"], ["a"]) == \
        "triage:needinfo notes [b]"
    assert whiteboard_with("", ["x"], []) == "[x]"
    assert whiteboard_with("[x]", ["x"], []) == "[x]"


def test_update_payload_fields_flags_and_comment() -> None:
    current = _bug(whiteboard="[old]", flags=(
        Flag("needinfo", "?", requestee="eve@example.org", id=7),
        Flag("needinfo", "?", requestee="bob@example.org", id=8)))
    body = update_payload(BugUpdate(
        comment="hi", status="CONFIRMED", keywords_add=("regression",), keywords_remove=("x",),
        whiteboard_add=("new",), whiteboard_remove=("old",), cc_add=("c@example.org",),
        flags=(FlagChange("needinfo", "X", requestee="eve@example.org"),
               FlagChange("needinfo", "?", requestee="dev@example.org"))), current)
    assert body == {
        "comment": {"comment": "hi", "is_private": False}, "status": "CONFIRMED",
        "keywords": {"add": ["regression"], "remove": ["x"]}, "whiteboard": "[new]",
        "cc": {"add": ["c@example.org"]},
        "flags": [{"id": 7, "status": "X"},
                  {"status": "?", "name": "needinfo", "requestee": "dev@example.org"}],
    }
    with pytest.raises(ValueError):
        update_payload(BugUpdate(whiteboard_add=("t",)), None)


def test_update_is_reflected() -> None:
    bug = _bug(status="CONFIRMED", keywords=("regression",), whiteboard="[xt:needinfo]",
               flags=(Flag("needinfo", "?", requestee="eve@example.org", id=1),))
    assert update_is_reflected(BugUpdate(status="CONFIRMED", keywords_add=("regression",),
                                         whiteboard_add=("xt:needinfo",),
                                         flags=(FlagChange("needinfo", "?",
                                                           "eve@example.org"),)), bug)
    assert not update_is_reflected(BugUpdate(status="IN_PROGRESS"), bug)
    assert not update_is_reflected(BugUpdate(flags=(FlagChange("needinfo", "X"),)), bug)
    assert update_is_reflected(BugUpdate(flags=(FlagChange("needinfo", "X", id=9),)), bug)
