"""The farm side of the web view: the master's www plugins, the revision stamp of forced and
nightly runs, and the change filter that keeps the farm's own revision records from building."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from buildbot.changes.filter import ChangeFilter

from farm.buildbot_config import build_master_config, load_master_settings
from farm.matrix import Tree
from farm.revisions import CONTENT_PREFIX, content_revision, tree_revision
from farm.schedulers import SNAPSHOT_CATEGORY, has_revision

REPO = Path(__file__).resolve().parents[2]


def test_master_config_enables_grid_console_and_the_dashboards(tmp_path: Path) -> None:
    (tmp_path / "farm.json").write_text(json.dumps({
        "matrix": str(REPO / "ci" / "matrix.toml"), "workers": str(REPO / "ci" / "workers.json"),
        "pb_port": 1, "www_port": 2, "store_url": f"sqlite:///{tmp_path / 's.sqlite3'}",
        "bugzilla_url": "http://127.0.0.1:9/bz"}))
    c = build_master_config(load_master_settings(tmp_path, REPO / "ci"))
    plugins = c["www"]["plugins"]
    assert {"grid_view", "console_view", "wsgi_dashboards"} <= set(plugins)
    boards = {d["name"]: d for d in plugins["wsgi_dashboards"]}
    assert set(boards) == {"matrix", "triage"}
    assert boards["matrix"]["caption"] == "CI matrix"
    ctx = boards["matrix"]["app"].extensions["xentriage"]
    assert ctx.bugzilla_url == "http://127.0.0.1:9/bz" and len(ctx.specs) == 57
    on_change = next(s for s in c["schedulers"] if s.name == "on-change")
    snapshot = type("Change", (), {"category": SNAPSHOT_CATEGORY, "project": "fixture",
                                   "repository": "", "branch": "master", "codebase": "",
                                   "properties": type("P", (), {"getProperty":
                                                                lambda *a: None})()})()
    change_filter = on_change._config_kwargs["change_filter"]  # as Buildbot will configure it
    assert isinstance(change_filter, ChangeFilter)
    assert not change_filter.filter_change(snapshot)
    snapshot.category = None
    assert change_filter.filter_change(snapshot)


def test_runs_without_a_revision_are_stamped_and_change_runs_are_not() -> None:
    assert not has_revision(None) and not has_revision([])
    assert not has_revision([{"codebase": "", "revision": ""}])  # the force form's stamp
    assert not has_revision([{"codebase": "", "revision": None}])  # nightly
    assert has_revision([7])  # a change's source stamp id
    assert has_revision([{"codebase": "", "revision": "abc"}])


def test_content_revision_is_stable_and_follows_edits(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib" / "a.c").write_text("int a;\n")
    (tree / ".git-like").mkdir()
    (tree / ".git-like" / "x").write_text("tool state")
    first = content_revision(tree)
    assert first.startswith(CONTENT_PREFIX) and len(first) == len(CONTENT_PREFIX) + 40
    assert content_revision(tree) == first
    (tree / ".git-like" / "x").write_text("changed tool state")
    assert content_revision(tree) == first  # dot-directories are not content
    (tree / "lib" / "a.c").write_text("int a = 1;\n")
    assert content_revision(tree) != first
    assert tree_revision(Tree("t", path=tree)) == content_revision(tree)


def test_a_git_checkout_gives_its_head(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "f").write_text("x\n")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    assert tree_revision(Tree("r", path=repo)) == head
    (repo / "f").write_text("y\n")
    assert tree_revision(Tree("r", path=repo)) == head + "-dirty"
    # A tree inside a checkout (not its top) is hashed: its files, not the outer HEAD.
    (repo / "sub").mkdir()
    (repo / "sub" / "g").write_text("z\n")
    assert tree_revision(Tree("s", path=repo / "sub")).startswith(CONTENT_PREFIX)


def test_web_command_without_a_farm_says_so(tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from triage.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XENTRIAGE_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["web", "--state-dir", str(tmp_path / "nofarm")])
    assert result.exit_code == 6
    assert "no farm in" in result.output and "--buildbot-db" in result.output


def test_dashboards_read_builds_through_the_masters_pool(tmp_path: Path) -> None:
    """The app reads Buildbot's database through the API object the plugin hands it."""
    from tests.support import buildbot_seed
    from tests.web.conftest import CountingDatabase
    from triage.web.wiring import dashboards

    db = CountingDatabase()
    cells = ["hello-base-kvm-x86_64"]
    buildbot_seed.seed(db.engine, cells, 2, lambda c, r: ("passed", ""))

    class Pool:
        def do(self, fn):  # buildbot's pool.do, called here without a reactor
            return db.run(fn)

    boards = dashboards(REPO / "ci" / "matrix.toml", "http://127.0.0.1:2/", None)
    app = boards[0]["app"]
    app.buildbot_api = type("Api", (), {"master": type("M", (), {"db": type(
        "D", (), {"pool": Pool()})()})()})()
    import triage.web.buildbot_db as bdb

    original = bdb.MasterPool.run
    bdb.MasterPool.run = lambda self, fn: self.api.master.db.pool.do(fn)  # type: ignore[method-assign]
    try:
        data = app.test_client().get("/matrix.html?format=json").get_json()
    finally:
        bdb.MasterPool.run = original  # type: ignore[method-assign]
    cell = next(c for t in data["trees"] for r in t["rows"] for c in r["cells"]
                if c and c["cell"] == cells[0])
    assert cell["state"] == "passed" and data["queries"] == 2  # fingerprint, history
