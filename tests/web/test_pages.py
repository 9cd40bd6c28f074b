"""The pages through Flask's test client: content, links, filters/permalinks, the JSON twin,
bounded queries and the cache, and hostile strings rendered inert."""

from __future__ import annotations

import html.parser

from tests.support import buildbot_seed
from tests.web.conftest import HOSTILE, LONG_WORD, add_bug, spec


def outcome(cell: str, run: int) -> tuple[str, str]:
    if cell.startswith("boot") and run >= 3:
        return "boot-failed", "failed at boot: panic in entropy_init"
    if cell.startswith("unsup"):
        return "unsupported", "Kconfig dropped CONFIG_LIBNETDEV: depends on PLAT_KVM"
    return "passed", ""


def specs(n: int) -> list:
    names = ["boot-lwip-kvm-x86_64", "unsup-netdev-xen-x86_64"] + [
        f"ok{i}-base-kvm-arm64" for i in range(n - 2)]
    return [spec(names[0], "lwip"), spec(names[1], "netdev", "xen"),
            *(spec(nm, f"lib{i}", "kvm", "arm64") for i, nm in enumerate(names[2:]))]


class Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(body: str) -> Tags:
    t = Tags()
    t.feed(body)
    return t


def test_matrix_page_shows_states_history_links_and_bugs(bb_db, store, make_client):
    cells = specs(4)
    ids = buildbot_seed.seed(bb_db.engine, [c.name for c in cells], 5, outcome)
    add_bug(store, 4242, "entropy panics at boot", "claimed", claimed_by="dev@example.org",
            cells=("boot-lwip-kvm-x86_64",))
    client = make_client(cells)
    body = client.get("/matrix.html").get_data(as_text=True)
    assert 'data-cell="boot-lwip-kvm-x86_64" data-state="boot-failed"' in body
    assert "boot failed" in body and "red since " in body
    assert "failed at boot: panic in entropy_init" in body
    assert f"#/builders/{ids['boot-lwip-kvm-x86_64']}/builds/5" in body
    assert "/steps/cell/logs/stdio/raw_inline" in body and "logs/console/raw_inline" in body
    assert "http://127.0.0.1:9/bugzilla/show_bug.cgi?id=4242" in body and "dev@example.org" in body
    assert body.count("no bug") == 3
    assert "depends on PLAT_KVM" in body and "unsupported" in body
    data = client.get("/matrix.html?format=json").get_json()
    cell = {c["cell"]: c for t in data["trees"] for r in t["rows"] for c in r["cells"] if c}
    assert cell["boot-lwip-kvm-x86_64"]["history"] == ["passed", "passed", "boot-failed",
                                                      "boot-failed", "boot-failed"]
    assert cell["boot-lwip-kvm-x86_64"]["bug"]["claimed_by"] == "dev@example.org"
    assert cell["boot-lwip-kvm-x86_64"]["red_since"]["revision"] == buildbot_seed._h("rev3")
    assert cell["ok0-base-kvm-arm64"]["bug"] is None


def test_a_filter_narrows_the_cells_and_its_permalink_reproduces_the_view(bb_db, make_client):
    cells = specs(6)
    buildbot_seed.seed(bb_db.engine, [c.name for c in cells], 3, outcome)
    client = make_client(cells)
    body = client.get("/matrix.html?state=unsupported&state=boot-failed").get_data(as_text=True)
    assert body.count("data-cell=") == 2
    link = next(a["href"] for tag, a in parse(body).tags if a.get("id") == "xt-permalink")
    assert link == "/matrix.html?state=boot-failed&state=unsupported"
    again = client.get(link).get_data(as_text=True)
    assert again.count("data-cell=") == 2
    # The filter form carries the selection (works without JavaScript: a plain GET form).
    selected = [a["value"] for tag, a in parse(again).tags if tag == "option" and "selected" in a]
    assert selected == ["boot-failed", "unsupported"]
    assert make_client(cells).get("/matrix.html?platform=xen&format=json").get_json()[
        "shown"] == 1
    assert "No cells match" in client.get("/matrix.html?library=nope").get_data(as_text=True)


def test_query_count_is_bounded_and_the_cache_is_invalidated_by_a_finished_build(
        bb_db, make_client):
    few, many = specs(10), specs(300)
    buildbot_seed.seed(bb_db.engine, [c.name for c in many], 8, outcome,
                       running=[many[0].name])
    counts = []
    for cells in (few, many):
        client = make_client(cells)
        before = bb_db.statements
        data = client.get("/matrix.html?format=json").get_json()
        counts.append(bb_db.statements - before)
        # fingerprint, builds with their properties, red-since revisions, store
        assert data["queries"] == 4
    assert counts[0] == counts[1] == 3  # Buildbot database statements, whatever the size
    before = bb_db.statements
    client.get("/matrix.html")
    assert bb_db.statements - before == 1  # cached: only the fingerprint
    first = client.get("/matrix.html?format=json").get_json()["trees"][0]["rows"][0]["cells"][0]
    assert first["running"] and first["state"] == "boot-failed"  # last known result kept
    with bb_db.engine.begin() as conn:  # the running build finishes
        conn.exec_driver_sql("UPDATE builds SET complete_at = started_at + 5, results = 0 "
                             "WHERE complete_at IS NULL")
    data = client.get("/matrix.html?format=json").get_json()
    assert data["queries"] == 4  # re-read; no red cell left, so no red-since revisions
    assert not data["trees"][0]["rows"][0]["cells"][0]["running"]


def test_triage_page_lists_sections_with_claims_and_filters(store, make_client):
    add_bug(store, 1, "needs someone", "open-for-dev")
    add_bug(store, 2, "taken long ago", "claimed", claimed_by="old@example.org", since_days=60,
            quiet_days=45)
    add_bug(store, 3, "under review", "in-review", product="XenServer")
    add_bug(store, 4, "what version?", "needs-info")
    add_bug(store, 5, "closed one", "claimed", is_open=False, resolution="FIXED")
    client = make_client([])
    body = client.get("/triage.html").get_data(as_text=True)
    for bug_id in (1, 2, 3, 4):
        assert f'data-bug="{bug_id}"' in body
    assert 'data-bug="5"' not in body
    assert "old@example.org" in body and "60 d" in body and "⚑ stale" in body
    assert "<svg" in body and "Open, new and fixed" in body
    data = client.get("/triage.html?product=XenServer&format=json").get_json()
    assert [b["id"] for s in data["sections"] for b in s["bugs"]] == [3]
    stale = client.get("/triage.html?stale=1&format=json").get_json()
    assert [b["id"] for s in stale["sections"] for b in s["bugs"]] == [2]
    assert stale["queries"] == 2  # cached: the two fingerprint queries only
    add_bug(store, 6, "new since", "open-for-dev")  # a sync stored a bug
    fresh = client.get("/triage.html?format=json").get_json()
    assert fresh["queries"] == 4 and 6 in [b["id"] for s in fresh["sections"] for b in s["bugs"]]


def test_hostile_strings_render_inert(bb_db, store, make_client):
    evil = spec(f"x{HOSTILE}", f"lib{HOSTILE}{LONG_WORD}")
    buildbot_seed.seed(bb_db.engine, [evil.name], 2,
                       lambda c, r: ("boot-failed", f"{HOSTILE} {LONG_WORD}"))
    add_bug(store, 7, f"summary {HOSTILE} {LONG_WORD}", "claimed",
            claimed_by=f"{HOSTILE}@example.org", cells=(evil.name,))
    client = make_client([evil])
    for path in ("/matrix.html", "/triage.html"):
        body = client.get(path).get_data(as_text=True)
        tags = parse(body).tags
        assert not [t for t, _ in tags if t in ("script", "img")], path
        assert not [a for _, a in tags if any(k.startswith("on") for k in a)], path
        assert "&lt;script&gt;" in body
    data = client.get("/matrix.html?format=json").get_json()
    assert data["trees"][0]["rows"][0]["cells"][0]["bug"]["summary"].startswith("summary <script>")


def test_embedded_request_gets_the_body_only(bb_db, make_client):
    client = make_client(specs(3))
    whole = client.get("/index.html").get_data(as_text=True)
    part = client.get("/index.html", headers={"Sec-Fetch-Dest": "empty"}).get_data(as_text=True)
    assert whole.startswith("<!DOCTYPE html>") and "<html" not in part
    assert 'id="xt-page"' in part and "<style>" in part


def test_a_new_build_refreshes_only_its_cell(bb_db, make_client):
    cells = specs(40)
    ids = buildbot_seed.seed(bb_db.engine, [c.name for c in cells], 3, outcome)
    client = make_client(cells)
    client.get("/matrix.html")
    cache = client.application.extensions["xentriage.data"]
    html_before = dict(cache.cached.html)
    target = cells[5].name
    with bb_db.engine.begin() as conn:  # the cell is built again, and fails
        conn.exec_driver_sql(
            "INSERT INTO builds (id, number, builderid, buildrequestid, masterid, started_at, "
            "complete_at, locks_duration_s, state_string, results) VALUES "
            f"(1000, 4, {ids[target]}, 1, 1, 1700100000, 1700100060, 0, 'failed', 2)")
        conn.exec_driver_sql(
            "INSERT INTO build_properties (buildid, name, value, source) VALUES "
            "(1000, 'cell_result', '\"build-failed\"', 's'), "
            "(1000, 'result_reason', '\"build failed: x.h\"', 's'), "
            "(1000, 'revision', '\"feedbeef\"', 's')")
    data = client.get("/matrix.html?format=json").get_json()
    # fingerprint, the changed builds and their properties, the bugs; no full reload
    assert data["queries"] == 4
    cell = next(c for t in data["trees"] for r in t["rows"] for c in r["cells"]
                if c and c["cell"] == target)
    assert cell["state"] == "build-failed" and cell["history"][-1] == "build-failed"
    assert cell["red_since"]["revision"] == "feedbeef" and len(cell["history"]) == 4
    changed = {n for n, h in cache.cached.html.items() if h != html_before.get(n)}
    assert changed == {target}


def test_a_due_full_reload_runs_beside_the_requests(bb_db, make_client):
    cells = specs(5)
    buildbot_seed.seed(bb_db.engine, [c.name for c in cells], 2, outcome)
    client = make_client(cells)
    cache = client.application.extensions["xentriage.data"]
    cache.full_reload_seconds = 0.0
    first = client.get("/matrix.html?format=json").get_json()
    assert first["queries"] >= 2  # the first request loads
    loaded = cache.cached
    again = client.get("/matrix.html?format=json").get_json()
    assert again["shown"] == 5 and again["queries"] <= 2  # served from the current cache
    thread = cache.reloader
    if thread is not None:
        thread.join(10)
    assert cache.cached is not loaded and cache.reloader is None


def test_trend_counts_a_fix_in_the_week_its_history_closed_it(store, make_client):
    """A bug fixed three weeks ago and commented on since: the trend takes its closing time
    from the stored history (the digest's expression), not its last change."""
    from datetime import timedelta

    from tests.web.conftest import NOW
    from triage.store.tables import BugRow

    closed = NOW - timedelta(days=21)
    add_bug(store, 7001, "fixed long ago", "closed", status="RESOLVED", is_open=False,
            resolution="FIXED", created_days=40, quiet_days=0)
    add_bug(store, 7002, "fixed, no history stored", "closed", status="RESOLVED",
            is_open=False, resolution="FIXED", created_days=40, quiet_days=0)
    with store.session() as s:
        s.get(BugRow, 7001).data = {"history": [
            {"when": (closed - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "changes": [{"field_name": "status", "added": "IN_PROGRESS"}]},
            {"when": closed.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "changes": [{"field_name": "status", "added": "RESOLVED"}]}]}
    weeks = make_client([]).get("/triage.html?format=json").get_json()["weeks"]
    fixed = {w["week"]: w["fixed"] for w in weeks}
    iso = closed.isocalendar()
    this = NOW.isocalendar()
    assert fixed[f"{iso.year}-W{iso.week:02d}"] == 1  # 7001, when its history closed it
    assert fixed[f"{this.year}-W{this.week:02d}"] == 1  # 7002: its last change stands in
    assert sum(fixed.values()) == 2
