"""A bisection shows in ``ci status`` (+ JSON), the digest's CI section, the wiki table and the
CI status web view: the first bad commit with its confidence, or the state of one queued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reports.compose import build_model, render
from tests.bisect.linkworld import commit, found, linker_with_bisection
from tests.bisect.test_bisect_linking import SIG, finish_all, regress, the_bug
from tests.ci.world import Farm
from tests.rules.world import KEY_ENV, double_options
from triage.adapters import open_tracker
from triage.ci.status import load_status
from triage.ci.status import render as render_status
from triage.store.bugs import upsert_bugs
from triage.store.ci_links import bugs_by_cell
from wiki_export.markup import render_wiki


@pytest.fixture
def double(make_bugzilla_double, monkeypatch):
    d = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, d.admin_api_key)
    return d


def test_views_show_the_bisection(tmp_path, double):
    linker, settings, store, _ = linker_with_bisection(tmp_path, double)
    regress(Farm(store))
    linker.run(production=True)
    queued = load_status(store, {})
    (sig,) = queued.signatures
    assert sig.bisection.startswith("cause bisection queued")
    assert "bisections waiting: cause hello-crc-linuxu-x86_64 r1..r2 (queued)" in \
        render_status(queued)

    finish_all(store, lambda r: found(r, commit(7, "lib/crc: select it"), commit(6)))
    linker.run(production=True)
    status = load_status(store, {})
    line = status.signatures[0].bisection
    assert line.startswith(f"first bad {commit(7).id[:12]}") and "99%" in line
    assert f"bisection: {line}" in render_status(status)
    (doc,) = status.to_json()["bisections"]
    assert doc["first_new"]["id"] == commit(7).id and doc["confidence"] == 0.99
    assert doc["state"] == "done" and doc["reported"] and doc["signature"] == SIG
    assert [s["verdict"] for s in doc["steps"]] == ["good", "bad"]

    with store.session() as s:
        cells = bugs_by_cell(s)
    assert cells["hello-crc-linuxu-x86_64"].bisection == line

    # The digest reads its bugs from the cache a sync fills.
    bug = the_bug(double)
    tracker = open_tracker(settings, production=False)
    with store.session() as s:
        upsert_bugs(s, tracker.get_bugs([bug], comments=True).bugs)
    model = build_model(settings, store, now=datetime.now(UTC) + timedelta(days=1))
    (entry,) = next(s for s in model.sections if s.id == "ci-failures").entries
    assert entry.bisection == line
    rendered = render(model, settings, chart=False)
    assert f"first bad {commit(7).id[:12]}" in rendered.text
    assert f"first bad {commit(7).id[:12]}" in rendered.html
    assert f"first bad {commit(7).id[:12]}" in render_wiki(model)


def test_status_view_cell_shows_the_bisection_escaped():
    from types import SimpleNamespace

    from triage.store.ci_links import CellBug
    from triage.web.cells import _bug

    link = CellBug(5, "CONFIRMED", "", "crc", "", SIG, True, datetime.now(UTC),
                   "first bad 070707070707 '<b>lib/crc</b>' (99%, 3 builds)")
    html = _bug(SimpleNamespace(bugzilla_url="http://127.0.0.1:1"), SimpleNamespace(bug=link))
    assert 'class="xt-bisect"' in html and "first bad 070707070707" in html
    assert "<b>" not in html and "&lt;b&gt;" in html
