"""The private python-bugzilla surface the batched-read shim relies on is still there and still
makes one request per batch: the test that fails when a python-bugzilla release changes it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import bugzilla  # type: ignore[import-untyped]
from bugzilla._backendrest import _BackendREST  # type: ignore[import-untyped]

from tests.bugzilla_double.double import BugzillaDouble
from tests.gateway.conftest import seed
from triage.adapters import bugzilla_batched as batched

ROOT = Path(__file__).resolve().parents[2]


def test_the_rest_backend_has_the_methods_and_parameters_the_shim_calls() -> None:
    assert batched.surface_problems(_BackendREST) == []


def test_a_changed_signature_is_reported() -> None:
    class Changed:
        def bug_comments(self, bug_ids, paramdict, extra):  # type: ignore[no-untyped-def]
            return {}

        def bug_history(self, ids):  # type: ignore[no-untyped-def]
            return {}

    problems = batched.surface_problems(Changed)
    assert len(problems) == 3
    assert any("bug_attachment_get_all is gone" in p for p in problems)


def _client(double: BugzillaDouble) -> bugzilla.Bugzilla:
    return bugzilla.Bugzilla(double.url, api_key=double.admin_api_key, force_rest=True,
                             use_creds=False)


def test_each_batched_read_is_one_request_whatever_the_batch_size(
        bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 5)
    client = _client(bugzilla_double)
    assert isinstance(client._backend, _BackendREST)
    first, rest = ids[0], ids[1:]
    for call, suffix in ((batched.comments, "comment"), (batched.history, "history"),
                         (batched.attachments, "attachment")):
        bugzilla_double.reset_counts()
        raw = call(client, ids, {})
        log = bugzilla_double.request_log
        assert len(log) == 1, (suffix, log)
        assert log[0].path == f"/rest/bug/{first}/{suffix}"
        got = raw["bugs"]
        if suffix == "history":
            assert sorted(int(b["id"]) for b in got) == ids
        else:
            assert sorted(int(i) for i in got) == ids
        assert [int(v) for v in log[0].query.get("ids", [])] == rest


def test_only_the_shim_touches_python_bugzillas_private_surface() -> None:
    """The gateway (and everything else in the package) uses the public API only."""
    offenders = []
    for path in sorted((ROOT / "triage").rglob("*.py")):
        if path.name == "bugzilla_batched.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "_backend":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bugzilla._"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_public_calls_the_gateway_uses_exist() -> None:
    for name in ("query", "update_bugs", "createbug", "getusers"):
        assert callable(getattr(bugzilla.Bugzilla, name)), name
    from bugzilla.bug import Bug, User  # type: ignore[import-untyped]

    assert callable(Bug.get_raw_data)
    assert "groups" in inspect.getsource(User.__init__)
