"""One validator for every input file (triage.validation): the gaps the hand-written validators
had, "did you mean" for misspelt keys, and the same messages for the configuration, the matrix,
workers.json, farm.json and the rules' tables."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from farm.buildbot_config import load_master_settings
from farm.matrix import MatrixError, load_matrix
from farm.routing import load_workers
from triage.cli import main
from triage.cli.common import EXIT_CONFIG
from triage.config import ConfigError, load_settings
from triage.validation import validate

REPO = Path(__file__).resolve().parent.parent
MATRIX = (REPO / "ci" / "matrix.toml").read_text().replace(
    'path = "../tests/fixtures/uktree"', f'path = "{REPO / "tests" / "fixtures" / "uktree"}"')


def _check(tmp_path: Path, text: str) -> tuple[int, str]:
    p = tmp_path / "c.toml"
    p.write_text(text)
    r = CliRunner().invoke(main, ["--config", str(p), "config", "check"])
    return r.exit_code, r.output


@pytest.mark.parametrize(("text", "key", "message"), [
    ("[nag]\ncooldown_days = -1\n", "nag.cooldown_days", "must be >= 0"),
    ("[mail]\nimap_port = 99999\n", "mail.imap_port", "must be 1..65535"),
    ("[smtp]\nport = 99999\n", "smtp.port", "must be 1..65535"),
    ("[bugzilla]\ntimeout_seconds = -1\n", "bugzilla.timeout_seconds", "must be > 0"),
    ("[smtp]\ntimeout_seconds = 0\n", "smtp.timeout_seconds", "must be > 0"),
    ("[bugzilla]\nsync_overlap_seconds = -5\n", "bugzilla.sync_overlap_seconds", "must be >= 0"),
    ("[general]\nbot_email = 'triage bot'\n", "general.bot_email",
     "'triage bot' is not an email address"),
    ("[general]\nbot_email = 'bot@'\n", "general.bot_email", "is not an email address"),
    ("[smtp]\nfrom_address = 'nobody'\n", "smtp.from_address", "is not an email address"),
    ("[digest]\nmaintainer = 'bob'\n", "digest.maintainer", "is not an email address"),
    ("[digest]\nto = ['xen-devel']\n", "digest.to[0]", "'xen-devel' is not an email address"),
    ("[orgs]\naccounts = { 'bob' = 'X' }\n", "orgs.accounts.bob", "is not an email address"),
    ("[jobs]\ngive_up_after_seconds = -1\n", "jobs.give_up_after_seconds", "must be >= 0"),
    ("[commands]\nmax_per_mail = 0\n", "commands.max_per_mail", "must be 1..1000"),
    ("[safety]\nchange_cap = 1.5\n", "safety.change_cap", "must be an integer, not 1.5"),
    ("[safety]\nchange_cap = true\n", "safety.change_cap", "must be an integer, not True"),
    ("[general]\nlog_level = 2024-01-01\n", "general.log_level",
     "must be a string, not the date/time 2024-01-01"),
    ("[rules.followup]\nreminder_days = 0\n", "rules.followup.reminder_days", "must be >= 1"),
    ("[rules.stale_claims]\nnudge_days = 'x'\n", "rules.stale_claims.nudge_days",
     "must be an integer"),
])
def test_config_check_rejects_what_used_to_pass(tmp_path, text, key, message):
    code, output = _check(tmp_path, text)
    assert code == EXIT_CONFIG, output
    assert f"{key}: " in output and message in output
    if key.startswith("rules."):
        return  # each rule parses its own table (config check asks every rule)
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "c.toml")
    assert err.value.key == key


@pytest.mark.parametrize(("text", "key", "hint"), [
    ("[safety]\nchange_kap = 5\n", "safety.change_kap", "change_cap"),
    ("[nag]\ncooldown = 3\n", "nag.cooldown", "cooldown_days"),
    ("[bugzila]\nurl = ''\n", "bugzila", "bugzilla"),
    ("[bugzilla.workflow]\nconfirmd = 'X'\n", "bugzilla.workflow.confirmd", "confirmed"),
    ("[rules.followup]\nreminder_dayz = 3\n", "rules.followup.reminder_dayz", "reminder_days"),
])
def test_unknown_keys_suggest_the_closest_known_key(tmp_path, text, key, hint):
    code, output = _check(tmp_path, text)
    assert code == EXIT_CONFIG
    assert f"{key}: unknown setting (did you mean '{hint}'?)" in output


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path):
    code, output = _check(tmp_path, "[safety]\nzzzzzz = 1\n")
    assert code == EXIT_CONFIG
    assert "safety.zzzzzz: unknown setting (known here: change_cap, kill_switch, production)" \
        in output


def test_valid_values_still_pass(tmp_path):
    code, output = _check(tmp_path, "[mail]\nimap_port = 65535\n[nag]\ncooldown_days = 0\n"
                                    "[bugzilla]\nsync_overlap_seconds = 0\ntimeout_seconds = 2\n"
                                    "[smtp]\ntimeout_seconds = 0.5\n[general]\n"
                                    "bot_email = 'bot@bugs.example.org'\n")
    assert code == 0, output


@dataclass
class Inner:
    hours: int = 1


@dataclass
class NewSection:
    """A section as another feature would add it: plain fields, no validation code."""

    name: str = ""
    tags: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)


def test_a_new_plain_dataclass_section_validates_without_extra_code():
    def error(key: str, message: str) -> ConfigError:
        return ConfigError(key, message)

    ok = validate(NewSection, {"name": "x", "tags": ["a"], "inner": {"hours": 3}},
                  prefix="ci", error=error)
    assert ok == NewSection("x", ["a"], Inner(3))
    for doc, key in [({"nmae": "x"}, "ci.nmae"), ({"tags": "a"}, "ci.tags"),
                     ({"tags": [1]}, "ci.tags[0]"), ({"inner": {"hours": "2"}}, "ci.inner.hours"),
                     ({"inner": {"hour": 2}}, "ci.inner.hour")]:
        with pytest.raises(ConfigError) as err:
            validate(NewSection, doc, prefix="ci", error=error)
        assert err.value.key == key


# --- the farm's files: same library, same messages ---------------------------------------------


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ("build_timeout = 600", "build_timeout = -1", "farm.build_timeout", "must be >= 1"),
    ("jobs = 2 ", "boot_timout = 5\njobs = 2", "farm.boot_timout",
     "did you mean 'boot_timeout'?"),
    ("jobs = 2 ", "jobs = '2'", "farm.jobs", "must be an integer, not '2'"),
    ("", "\n[[runner]]\nmemory = 4\n", "runner[0].memory", "must be >= 8"),
    ("", "\n[[runner]]\ncpu = 'max; rm -rf'\n", "runner[0].cpu", "is not a QEMU CPU model"),
    ("", "\n[[arch]]\nname = 'riscv64'\nsymbol = 'ARCH_RISCV'\n", "arch[2].symbol",
     "is not a CONFIG_ symbol"),
    ("", "\n[[platfrom]]\nname = 'x'\n", "platfrom", "did you mean 'platform'?"),
])
def test_matrix_errors_name_the_key(tmp_path, old, new, key, message):
    p = tmp_path / "matrix.toml"
    # TOML allows one [farm] table: change a line of the file's own; other tables are appended.
    p.write_text(MATRIX.replace(old, new, 1) if old else MATRIX + new)
    with pytest.raises(MatrixError) as err:
        load_matrix(p)
    assert err.value.key == key
    assert message in str(err.value)


@pytest.mark.parametrize(("doc", "key", "message"), [
    ({"workers": [{"name": "w", "max_builds": 0}]}, "workers[0].max_builds", "must be >= 1"),
    ({"workers": [{"name": "w", "pasword_file": "p"}]}, "workers[0].pasword_file",
     "did you mean 'password_file'?"),
    ({"workers": [{"name": "w", "probe": {"biuld": []}}]}, "workers[0].probe.biuld",
     "did you mean 'build'?"),
    ({"workers": [{"name": "w", "probe": {"build": "x86_64"}}]}, "workers[0].probe.build",
     "must be"),
    ({"workers": [{"max_builds": 1}]}, "workers[0].name", "is required"),
    ({"workers": [{"name": "bad name"}]}, "workers[0].name", "is not a name"),
    ({"workers": []}, "workers", "declares no workers"),
])
def test_workers_file_errors_name_the_key(tmp_path, doc, key, message):
    p = tmp_path / "w.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(MatrixError) as err:
        load_workers(p)
    assert err.value.key == key
    assert message in str(err.value)


def test_workers_file_that_is_not_json(tmp_path):
    p = tmp_path / "w.json"
    p.write_text('{"workers": [')
    with pytest.raises(MatrixError) as err:
        load_workers(p)
    assert err.value.key == "workers" and "w.json: not valid JSON" in str(err.value)


def test_the_probe_report_itself_is_a_valid_workers_entry(tmp_path):
    from workers.probe import probe

    p = tmp_path / "w.json"
    p.write_text(json.dumps({"workers": [{"name": "here", "probe": probe().to_json()}]}))
    (spec,) = load_workers(p)
    assert spec.name == "here"


@pytest.mark.parametrize(("doc", "key", "message"), [
    ({"pb_port": 99999}, "pb_port", "must be 1..65535"),
    ({"www_port": 0}, "www_port", "must be 1..65535"),
    ({"nightly_hour": 25}, "nightly_hour", "must be 0..23"),
    ({"wwwport": 8010}, "wwwport", "did you mean 'www_port'?"),
    ({"pb_port": "9989"}, "pb_port", "must be an integer"),
])
def test_farm_json_errors_name_the_key(tmp_path, doc, key, message):
    (tmp_path / "farm.json").write_text(json.dumps(doc))
    with pytest.raises(MatrixError) as err:
        load_master_settings(tmp_path, REPO / "ci")
    assert err.value.key == key
    assert message in str(err.value) and "farm.json" in str(err.value)
    assert isinstance(err.value, ValueError)  # what farm.json errors always were


def test_farm_json_paths_are_relative_to_the_master(tmp_path):
    (tmp_path / "farm.json").write_text(json.dumps({"matrix": "m.toml", "www_port": 8011}))
    s = load_master_settings(tmp_path, REPO / "ci")
    assert s.matrix == (tmp_path / "m.toml").resolve() and s.www_port == 8011
    assert s.workers == REPO / "ci" / "workers.json"
