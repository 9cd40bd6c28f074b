"""``xentriage ci status`` and ``ci sweep`` through the CLI on a store with CI results."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tests.ci.world import Farm, linker_for
from tests.rules.world import KEY_ENV, double_options
from triage.cli import main

SIG = "0123456789abcdef"


def test_ci_status_answers_in_text_and_json(tmp_path, make_bugzilla_double, monkeypatch):
    double = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    linker, settings, store = linker_for(tmp_path, double)
    farm = Farm(store)
    farm.add("hello-crc-kvm-x86_64", "passed", "r1")
    farm.add("hello-base-kvm-x86_64", "passed", "r2")
    for _ in range(2):
        farm.add("hello-crc-kvm-x86_64", "build-failed", "r2", sig=SIG, title="crc.c: error")
    farm.add("hello-hosttool-kvm-x86_64", "environment", "r2", worker="bare", title="no tool")
    linker.run(production=True)
    config = str(tmp_path / "xentriage.toml")
    text = CliRunner().invoke(main, ["--config", config, "ci", "status"])
    assert text.exit_code == 0, text.output
    assert SIG in text.output and "last good r1, first bad r2" in text.output
    assert "bug 1" in text.output and "library=crc" in text.output
    assert "environment: worker bare (owner farm-admin@example.org)" in text.output
    doc = json.loads(CliRunner().invoke(main, ["--config", config, "ci", "status",
                                               "--json"]).output)
    (sig,) = doc["signatures"]
    assert (sig["signature"], sig["bug_id"], sig["cells"]) == (SIG, 1, ["hello-crc-kvm-x86_64"])
    assert doc["results"] == 5
    no_url = CliRunner().invoke(main, ["--config", config, "ci", "sweep"])
    assert no_url.exit_code == 3 and "ci.buildbot_url" in no_url.output
    down = CliRunner().invoke(main, ["--config", config, "ci", "sweep", "--buildbot-url",
                                     "http://127.0.0.1:9/", "--no-link"])
    assert down.exit_code == 4 and "Buildbot REST API" in down.output
    store.dispose()
    del settings
