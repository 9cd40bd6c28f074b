"""Configuration: strict validation naming the key, secrets never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from triage.cli import main
from triage.cli.common import EXIT_CONFIG
from triage.config import ConfigError, Secret, load_settings

REPO = Path(__file__).resolve().parent.parent


def _load(tmp_path: Path, text: str):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return load_settings(p)


def test_embedded_defaults_are_dry_run_sqlite_and_bundled_data(tmp_path, monkeypatch):
    monkeypatch.delenv("XENTRIAGE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.safety.production is False and s.writes_enabled() is False
    assert s.safety.change_cap == 50
    assert s.store_url == f"sqlite:///{tmp_path / 'var' / 'xentriage.sqlite3'}"
    assert s.source is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[safety]\nchange_kap = 5\n", "safety.change_kap"),
        ("[safety]\nchange_cap = 'ten'\n", "safety.change_cap"),
        ("[safety]\nchange_cap = -1\n", "safety.change_cap"),
        ("[safety]\nproduction = 'yes'\n", "safety.production"),
        ("[nosuchsection]\nx = 1\n", "nosuchsection"),
        ("[mail]\nsource = 'pop3'\n", "mail.source"),
        ("[bugzilla]\nurl = 'https://bz.example.org/xmlrpc.cgi'\n", "bugzilla.url"),
        ("[bugzilla.workflow]\nopen_statuses = 'NEW'\n", "bugzilla.workflow.open_statuses"),
        ("[orgs]\ndomains = { 'citrix.com' = 3 }\n", "orgs.domains.citrix.com"),
        ("[bugzilla]\npage_size = 501\n", "bugzilla.page_size"),
    ],
)
def test_invalid_settings_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert err.value.key == key
    assert str(err.value).startswith(key)


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    s = _load(tmp_path, "[general]\nstate_dir = 'state'\n[bugzilla]\nsnapshot = 'snap.json'\n")
    assert s.general.state_dir == tmp_path / "state"
    assert s.bugzilla.snapshot == tmp_path / "snap.json"


def test_kill_switch_beats_production(tmp_path):
    s = _load(tmp_path, "[safety]\nproduction = true\nkill_switch = true\n")
    assert s.writes_enabled() is False
    assert s.writes_enabled(True) is False


def test_secret_from_env_or_file_and_never_in_repr(tmp_path, monkeypatch):
    f = tmp_path / "key"
    f.write_text("file-secret-123\n")
    monkeypatch.delenv("XT_TEST_KEY", raising=False)
    sec = Secret("bugzilla.api_key", env="XT_TEST_KEY", file=f)
    assert sec.get() == "file-secret-123"
    monkeypatch.setenv("XT_TEST_KEY", "env-secret-456")
    assert sec.get() == "env-secret-456"
    assert "secret-456" not in repr(sec) and "secret-123" not in repr(sec)


def test_missing_secret_is_a_clear_error_without_value(tmp_path, monkeypatch):
    monkeypatch.delenv("XT_NOPE", raising=False)
    sec = Secret("smtp.password", env="XT_NOPE", file=tmp_path / "absent")
    with pytest.raises(ConfigError) as err:
        sec.get()
    assert "smtp.password" in str(err.value)


def test_cli_config_check_exit_codes(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.toml"
    bad.write_text("[safety]\nchange_kap = 5\n")
    r = runner.invoke(main, ["--config", str(bad), "config", "check"])
    assert r.exit_code == EXIT_CONFIG
    assert "safety.change_kap" in r.output
    r = runner.invoke(main, ["config", "check", str(REPO / "docs" / "example-config.toml")])
    assert r.exit_code == 0, r.output


def test_config_show_never_prints_secret_values(tmp_path, monkeypatch):
    monkeypatch.setenv("XENTRIAGE_BUGZILLA_API_KEY", "sekrit-api-key-value")
    r = CliRunner().invoke(main, ["config", "show"])
    assert r.exit_code == 0, r.output
    assert "sekrit-api-key-value" not in r.output
    assert "bugzilla.api_key_env" in r.output
    assert os.environ["XENTRIAGE_BUGZILLA_API_KEY"] == "sekrit-api-key-value"
