"""The pages in a real browser (Debian's Chromium, driven by Playwright) against a real master
that has run the fixture matrix: inside Buildbot's UI and standalone.

One farm run per module (about a minute of CPU). Screenshots go to ``test-artifacts/web/``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from farm import localfarm
from farm.matrix import load_matrix
from farm.revisions import tree_revision
from tests.farm.conftest import MATRIX, require_binaries
from tests.web.conftest import HOSTILE, LONG_WORD
from triage.config import load_settings
from triage.jobs import run_cycle
from triage.store import Store
from triage.store.open_bugs import open_for_developers
from triage.store.tables import BugRow, CiFailure, TriageStateRow
from triage.web.wiring import standalone_app

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
BUGZILLA = "http://127.0.0.1:9/bugzilla"  # only the links' target; never fetched
HOSTILE_BUG = 990001
# Known fixture cells (tests/farm/test_farm_integration.py): state key, word, symbol.
KNOWN = {
    "hello-base-kvm-x86_64": ("passed", "passed", "✓"),
    "hello-cpuid-kvm-arm64": ("build-failed", "build failed", "✗B"),
    "hello-entropy-kvm-x86_64": ("boot-failed", "boot failed", "✗R"),
    "hello-syncwait-kvm-x86_64": ("boot-timeout", "timed out", "◔"),
    "hello-hosttool-kvm-x86_64": ("environment", "environment", "⚠E"),
    "hello-netdev-xen-x86_64": ("unsupported", "unsupported", "∅"),
    "hello-base-xen-x86_64": ("boot-skipped", "boot skipped", "↷"),
}


@dataclass
class Site:
    ui: str  # Buildbot's web UI
    standalone: str  # `xentriage web`'s app on its own server
    store: Store
    builds: list[dict[str, Any]]
    browser: Any


def _store(base: Path) -> Store:
    """The bundled snapshot and list archive synced into a fresh store, as run-main does, plus
    two CI links (what CI linking will write): a bundled bug and a hostile one."""
    cfg = base / "xentriage.toml"
    cfg.write_text(f'[general]\nstate_dir = "{base / "state"}"\n', encoding="utf-8")
    settings = load_settings(str(cfg))
    store = Store(settings.store_url)
    store.migrate()
    report = run_cycle(settings, store, production=False)
    assert not report.failures, report.failures
    now = datetime.now(UTC)
    with store.session() as s:
        s.add(CiFailure(signature="build:cpuid.h", stage="build",
                        first_line="fatal error: cpuid.h: No such file or directory",
                        cells=["hello-cpuid-kvm-arm64"], bug_id=140, first_seen=now,
                        last_seen=now, state="failing"))
        s.add(BugRow(id=HOSTILE_BUG, product="Xen", component="Unikraft", status="CONFIRMED",
                     resolution="", summary=f"{HOSTILE} {LONG_WORD}", creator="x@example.org",
                     assigned_to="", is_open=True, creation_time=now, last_change_time=now,
                     data={}, fetched_at=now))
        s.add(TriageStateRow(bug_id=HOSTILE_BUG, state="claimed", since=now,
                             claimed_by=f"{HOSTILE}{LONG_WORD}", claimed_at=now,
                             organisation="", fix_reference="", updated_at=now))
        s.add(CiFailure(signature="boot:panic", stage="boot", first_line="panic",
                        cells=["hello-entropy-kvm-x86_64"], bug_id=HOSTILE_BUG,
                        first_seen=now, last_seen=now, state="failing"))
    return store


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_binaries()
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI: Debian's chromium is not installed (scripts/setup.sh --tests)")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    base = tmp_path_factory.mktemp("web")
    store = _store(base)
    state_dir = base / "farm"
    cpus = sorted(os.sched_getaffinity(0))
    plans = [localfarm.WorkerPlan("full", max_builds=2),
             localfarm.WorkerPlan("bare", max_builds=2, hide_tools=localfarm.NO_CROSS_NO_QEMU,
                                  cpus=frozenset(cpus[-1:]) if len(cpus) >= 2 else None)]
    probes = {p.name: localfarm.probe(localfarm.worker_env(p, state_dir)) for p in plans}
    server = None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        state = localfarm.up(state_dir, MATRIX, plans, probes=probes, master_settings={
            "store_url": store.url, "bugzilla_url": BUGZILLA})
        before = localfarm.max_build_id(state)
        localfarm.force(state, "*")
        localfarm.wait_idle(state, 600)
        builds = localfarm.builds_since(state, before)
        app = standalone_app(MATRIX, f"sqlite:///{state.master_dir / 'state.sqlite'}",
                             f"http://127.0.0.1:{state.www_port}/", store,
                             bugzilla_url=BUGZILLA)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            yield Site(f"http://127.0.0.1:{state.www_port}/",
                       f"http://127.0.0.1:{server.server_port}", store, builds, browser)
            browser.close()
    finally:
        if server is not None:
            server.shutdown()
        localfarm.down(state_dir)
        store.dispose()


def _page(site: Site, url: str, selector: str = "#xt-page td[data-cell]", **ctx: Any) -> Any:
    context = site.browser.new_context(viewport={"width": 1500, "height": 1000}, **ctx)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    page.goto(url)
    page.wait_for_selector(selector, timeout=60_000)
    return page


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _check_known_cells(page: Any) -> None:
    for cell, (key, word, symbol) in KNOWN.items():
        td = page.locator(f'td[data-cell="{cell}"]')
        assert td.get_attribute("data-state") == key, cell
        text = td.inner_text()
        assert word in text and symbol in text, (cell, text)


def test_every_build_carries_the_trees_revision(site: Site) -> None:
    revision = tree_revision(load_matrix(MATRIX).trees[0])
    assert revision and revision.startswith("content-")
    assert {b["props"].get("revision") for b in site.builds} == {revision}
    changes = requests.get(f"{site.ui}api/v2/changes", timeout=30).json()["changes"]
    assert [c["revision"] for c in changes] == [revision]
    page = _page(site, f"{site.ui}#/grid", "text=" + revision)  # the grid has a column for it
    _shot(page, "buildbot-grid")
    page.close()


def test_matrix_inside_buildbot_ui(site: Site) -> None:
    page = _page(site, f"{site.ui}#/matrix")
    assert page.locator("nav >> text=CI matrix").count() >= 1  # Buildbot's menu entry
    _check_known_cells(page)
    bug = page.locator('td[data-cell="hello-cpuid-kvm-arm64"] a.xt-buglink')
    assert bug.inner_text() == "bug 140"
    assert bug.get_attribute("href") == f"{BUGZILLA}/show_bug.cgi?id=140"
    assert "no bug" in page.locator('td[data-cell="hello-base-kvm-x86_64"]').inner_text()
    _shot(page, "matrix-in-buildbot")
    page.close()


def test_matrix_standalone_links_resolve(site: Site) -> None:
    page = _page(site, f"{site.standalone}/matrix.html")
    _check_known_cells(page)
    td = page.locator('td[data-cell="hello-entropy-kvm-x86_64"]')
    log = requests.get(td.locator("a.xt-log").get_attribute("href"), timeout=30)
    assert log.status_code == 200 and "XENTRIAGE-CELL-RESULT" in log.text
    console = requests.get(td.locator("a.xt-console").get_attribute("href"), timeout=30)
    assert console.status_code == 200 and "panic" in console.text.lower()
    # Hover shows the reason (CSS only).
    td.locator(".xt-cell").hover()
    assert td.locator(".xt-reason").is_visible()
    assert "failed at boot" in td.locator(".xt-reason").inner_text()
    page.screenshot(path=str(ARTIFACTS / "matrix-hover.png"))
    page.mouse.move(0, 0)
    assert not td.locator(".xt-reason").is_visible()
    td.locator(".xt-cell").focus()  # keyboard focus shows it too
    assert td.locator(".xt-reason").is_visible()
    _shot(page, "matrix-standalone")
    td.locator("a.xt-build").click()  # Buildbot's own build page, for this cell's build
    page.wait_for_selector("text=hello-entropy-kvm-x86_64", timeout=60_000)
    page.wait_for_selector("text=failed at boot", timeout=60_000)
    page.close()


def test_filter_narrows_and_its_permalink_reproduces_the_view(site: Site) -> None:
    page = _page(site, f"{site.standalone}/matrix.html", java_script_enabled=False)
    everything = page.locator("td[data-cell]").count()
    assert everything == len(load_matrix(MATRIX).cells())
    page.select_option("#xt-f-state", ["build-failed", "boot-timeout"])
    page.locator("#xt-filter-form button[type=submit]").click()
    page.wait_for_load_state()
    assert "state=build-failed" in page.url and "state=boot-timeout" in page.url
    wanted = {b["props"]["cell"] for b in site.builds
              if b["props"].get("cell_result") in ("build-failed", "boot-timeout")}
    shown = {page.locator("td[data-cell]").nth(i).get_attribute("data-cell")
             for i in range(page.locator("td[data-cell]").count())}
    assert shown == wanted and 0 < len(shown) < everything
    permalink = page.locator("#xt-permalink").get_attribute("href")
    again = _page(site, f"{site.standalone}{permalink}", java_script_enabled=False)
    assert again.locator("td[data-cell]").count() == len(wanted)
    _shot(again, "matrix-filtered")
    again.close()
    page.close()


def test_triage_page_lists_the_bundled_bugs(site: Site) -> None:
    with site.store.session() as s:
        listed = {r.bug_id for r in open_for_developers(s)}
    assert len(listed) >= 3
    for url in (f"{site.ui}#/triage", f"{site.standalone}/triage.html"):
        page = _page(site, url, "#xt-page table.xt-list")
        rows = {int(page.locator("tr[data-bug]").nth(i).get_attribute("data-bug"))
                for i in range(page.locator("tr[data-bug]").count())}
        assert rows == listed
        assert page.locator("svg.xt-chart").count() == 1
        link = page.locator('tr[data-bug="140"] a.xt-buglink').get_attribute("href")
        assert link == f"{BUGZILLA}/show_bug.cgi?id=140"
        _shot(page, "triage-in-buildbot" if url.startswith(site.ui) else "triage-standalone")
        page.close()


def test_hostile_strings_are_inert_and_keep_the_layout(site: Site) -> None:
    for path, sel in (("/matrix.html", 'td[data-cell="hello-entropy-kvm-x86_64"]'),
                      ("/triage.html", f'tr[data-bug="{HOSTILE_BUG}"]')):
        page = _page(site, f"{site.standalone}{path}", sel)
        page.wait_for_timeout(300)
        assert page.dialogs == []
        assert page.evaluate("document.querySelectorAll('#xt-page script, #xt-page img')"
                             ".length") == 0
        assert "<script>" in page.locator(sel).inner_text()  # shown as text
        box = page.locator(sel).bounding_box()
        assert box is not None and box["width"] < 1500, box  # no overflow of the viewport
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1500, width
        _shot(page, "hostile" + path.replace("/", "-").removesuffix(".html"))
        page.close()
