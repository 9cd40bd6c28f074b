"""``xentriage ci bisect-run`` on a queue CI linking filled (the real local runner on the
scripted history): a dry run bisects and plans the comment without writing it; ``ci link
--production`` writes it once; ``ci status`` names the commit; the serve job is listed."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from farm.matrix import load_matrix
from tests.ci.world import Farm
from tests.fixtures.ukhistory import CAUSE_CELLS, make_history, write_matrix
from tests.rules.world import KEY_ENV, double_options, write_config
from triage.adapters import open_tracker
from triage.ci.bisect.runners import LocalRunner
from triage.ci.linker import CiLinker
from triage.cli import main
from triage.jobs import service_jobs
from triage.store import Store

pytestmark = pytest.mark.slow
CELL = CAUSE_CELLS[1]  # the linuxu cell: no QEMU


def test_bisect_run_then_link(tmp_path: Path, make_bugzilla_double, monkeypatch):
    double = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    hist = make_history(tmp_path / "tree")
    matrix = write_matrix(hist, tmp_path / "matrix.toml", libraries=("crc", "ring"))
    config, settings = write_config(tmp_path, double, f"""
[bisect]
matrix = "{matrix}"
workdir = "{tmp_path / 'bisect'}"
per_day = 1
""")
    (job,) = [j for j in service_jobs(settings, str(config)) if j.id == "bisect"]
    module, _, name = job.func.partition(":")
    assert callable(getattr(importlib.import_module(module), name))
    assert job.interval_seconds == settings.bisect.job_interval_minutes * 60
    store = Store(settings.store_url)
    store.migrate()
    run = LocalRunner(load_matrix(matrix), tmp_path / "farm").run(CELL, hist.breaking, 0)
    farm = Farm(store)
    farm.add(CELL, "passed", hist.last_good)
    farm.add(CELL, run.result, hist.breaking, sig=run.signature, title=run.title)
    CiLinker(store, settings, open_tracker(settings, production=True)).run(production=True)
    bug = 1
    assert f"[ci:{run.signature}]" in double.bug(bug)["whiteboard"]

    cli = CliRunner()
    dry = cli.invoke(main, ["--config", str(config), "ci", "bisect-run"])
    assert dry.exit_code == 0, dry.output
    assert f"- cause {CELL} {hist.last_good[:12]}..{hist.breaking[:12]}: found: " \
           f"{hist.breaking}" in dry.output
    assert "1 bisection(s) run (0 could not run), 0 queued" in dry.output
    assert f"- comment bug {bug} [dry-run]" in dry.output
    assert len(double.comments(bug)) == 1

    again = cli.invoke(main, ["--config", str(config), "ci", "bisect-run", "--production"])
    assert again.exit_code == 0 and "0 bisection(s) run" in again.output

    link = cli.invoke(main, ["--config", str(config), "ci", "link", "--production"])
    assert link.exit_code == 0 and f"- comment bug {bug} [confirmed]" in link.output
    assert f"Bug introduced:  {hist.breaking}" in double.comments(bug)[-1]["text"]
    assert "[confirmed]" not in cli.invoke(main, ["--config", str(config), "ci", "link",
                                                  "--production"]).output

    status = cli.invoke(main, ["--config", str(config), "ci", "status"])
    assert f"bisection: first bad {hist.breaking[:12]}" in status.output
    doc = json.loads(cli.invoke(main, ["--config", str(config), "ci", "status",
                                       "--json"]).output)
    assert doc["bisections"][0]["first_new"]["id"] == hist.breaking
    store.dispose()
