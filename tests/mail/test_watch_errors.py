"""`mail watch` tells permanent errors from transient ones, against the real dovecot: a closed
port is retried with back-off (bounded here by jobs.give_up_after_seconds) and ends with exit
4; TLS on a plain-text port, plain text on the TLS port and a refused login end at once with
exit 3 and a clear message. Every one is recorded as the job's run, with the error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.imap_server import Dovecot, ImapMailbox, free_port
from triage.cli import main
from triage.store import Store
from triage.store.decisions import latest_runs

pytestmark = [
    pytest.mark.filterwarnings("ignore:setName\\(\\) is deprecated:DeprecationWarning:imaplib2"),
    pytest.mark.filterwarnings("ignore:getName\\(\\) is deprecated:DeprecationWarning:imaplib2"),
]


def _watch(tmp_path: Path, dovecot: Dovecot, folder: str, *, port: int, tls: bool,
           password: str, timeout: float = 8) -> tuple[int, str, float, Store]:
    secret = tmp_path / "imap-password"
    secret.write_text(password)
    cfg = tmp_path / "xentriage.toml"
    cfg.write_text(
        f'[general]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[mail]\nsource = "imap"\nimap_host = "127.0.0.1"\nimap_port = {port}\n'
        f'imap_tls = {"true" if tls else "false"}\nimap_ca_file = "{dovecot.ca_file}"\n'
        f'imap_user = "{dovecot.user}"\nimap_password_file = "{secret}"\n'
        f'imap_password_env = "XENTRIAGE_UNSET_TEST_VAR"\nfolder = "{folder}"\n'
        "[jobs]\nretry_initial_seconds = 0.1\nretry_max_seconds = 0.4\n"
        f"give_up_after_seconds = 3\nnetwork_timeout_seconds = {timeout}\n")
    start = time.monotonic()
    result = CliRunner().invoke(main, ["--config", str(cfg), "mail", "watch"])
    took = time.monotonic() - start
    store = Store(f"sqlite:///{tmp_path / 'state' / 'xentriage.sqlite3'}")
    return result.exit_code, result.output, took, store


def _run_error(store: Store) -> str:
    with store.session() as s:
        (run,) = latest_runs(s, "mail-watch")
        assert run.outcome == "error" and run.finished_at is not None
        return str(run.summary["error"])


def test_closed_port_is_retried_with_back_off_then_given_up(
        tmp_path, dovecot: Dovecot, imap_mailbox: ImapMailbox, caplog) -> None:
    caplog.set_level("WARNING")
    code, out, took, store = _watch(tmp_path, dovecot, imap_mailbox.name, port=free_port(),
                                    tls=False, password=dovecot.password)
    assert code == 4, out
    assert "gave up after" in out and "Connection refused" in out
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) >= 3  # retried, not given up at the first refusal
    waits = [float(r.getMessage().rsplit("retrying in ", 1)[1].split()[0]) for r in retries]
    assert waits[0] < waits[-1] <= 0.4 + 1e-9  # exponential, capped
    assert 3 <= took < 20
    assert "gave up" in _run_error(store)


def test_tls_on_a_plain_text_port_is_permanent(tmp_path, dovecot, imap_mailbox) -> None:
    code, out, took, store = _watch(tmp_path, dovecot, imap_mailbox.name, port=dovecot.port,
                                    tls=True, password=dovecot.password)
    assert code == 3, out
    assert "TLS handshake" in out and "plain-text IMAP port" in out
    assert took < 10  # not retried
    assert "TLS handshake" in _run_error(store)


def test_plain_text_on_the_tls_port_is_permanent(tmp_path, dovecot, imap_mailbox) -> None:
    code, out, took, store = _watch(tmp_path, dovecot, imap_mailbox.name,
                                    port=dovecot.tls_port, tls=False, password=dovecot.password,
                                    timeout=2)  # no greeting within it: then the TLS probe
    assert code == 3, out
    assert "expects TLS" in out
    assert took < 15
    assert "expects TLS" in _run_error(store)


def test_bad_password_is_permanent_and_not_shown(tmp_path, dovecot, imap_mailbox) -> None:
    code, out, took, store = _watch(tmp_path, dovecot, imap_mailbox.name, port=dovecot.port,
                                    tls=False, password="wrong-secret-value")
    assert code == 3, out
    assert "login refused" in out and "wrong-secret-value" not in out
    assert took < 20  # dovecot delays a refused login by 2 s (auth_failure_delay)
    error = _run_error(store)
    assert "login refused" in error and "wrong-secret-value" not in error
