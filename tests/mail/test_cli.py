"""``xentriage mail backfill | watch | status`` end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from tests.mail.conftest import REPO, contract_mail
from tests.support.imap_server import Dovecot, ImapMailbox
from triage.cli import main
from triage.config import SAMPLE_MAIL_ARCHIVE
from triage.store import Store
from triage.store.tables import MailMessage


def _config(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "xentriage.toml"
    cfg.write_text(f'[general]\nstate_dir = "{tmp_path / "state"}"\n{extra}')
    return cfg


def test_backfill_of_the_bundled_archive_with_the_sample_snapshot(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(cfg), "mail", "backfill"])
    assert result.exit_code == 0, result.output
    assert "new-bug" in result.output and "command" in result.output
    assert "quarantined" not in result.output  # every bug the archive names is in the snapshot
    store = Store(f"sqlite:///{tmp_path / 'state' / 'xentriage.sqlite3'}")
    with store.session() as s:
        total = s.scalar(select(func.count()).select_from(MailMessage))
    with SAMPLE_MAIL_ARCHIVE.open("rb") as fh:
        assert total == sum(1 for line in fh if line.startswith(b"From "))
    store.dispose()
    again = runner.invoke(main, ["--config", str(cfg), "mail", "backfill"])
    assert again.exit_code == 0 and "0 new messages" in again.output
    status = runner.invoke(main, ["--config", str(cfg), "mail", "status"])
    assert status.exit_code == 0, status.output
    assert "sample_bugs_list" in status.output and str(total) in status.output
    assert "pending events" in status.output


def test_backfill_maildir_reports_quarantine_reasons(tmp_path: Path) -> None:
    import mailbox

    folder = tmp_path / "Maildir"
    box = mailbox.Maildir(folder, create=True)
    box.add(contract_mail("001_"))
    box.add(b"From: x@example.org\nSubject: =?x-klingon?q?qapla?=\nMessage-ID: <k@x>\n"
            b"Content-Type: text/plain; charset=x-klingon\n\nqapla\n")
    box.close()
    result = CliRunner().invoke(main, ["--config", str(_config(tmp_path)), "mail", "backfill",
                                       "--no-tracker", str(folder)])
    assert result.exit_code == 0, result.output
    assert "unknown charset" in result.output and "new-bug" in result.output


def test_backfill_of_something_else_is_a_clear_input_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    result = CliRunner().invoke(main, ["--config", str(_config(tmp_path)), "mail", "backfill",
                                       str(junk)])
    assert result.exit_code == 7 and "not an mbox" in result.output


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    store = Store(f"sqlite:///{db}")
    try:
        with store.session() as s:
            return s.scalar(select(func.count()).select_from(MailMessage)) or 0
    except Exception:  # the watcher is still creating the schema
        return 0
    finally:
        store.dispose()


def test_watch_runs_until_sigterm_and_exits_cleanly(tmp_path: Path, dovecot: Dovecot,
                                                   imap_mailbox: ImapMailbox) -> None:
    imap_mailbox.append(contract_mail("001_"))
    secret = tmp_path / "imap-password"
    secret.write_text(dovecot.password)
    cfg = _config(tmp_path, (
        f'[mail]\nsource = "imap"\nimap_host = "127.0.0.1"\nimap_port = {dovecot.port}\n'
        f'imap_tls = false\nimap_user = "{dovecot.user}"\nimap_password_file = "{secret}"\n'
        f'imap_password_env = "XENTRIAGE_UNSET_TEST_VAR"\nfolder = "{imap_mailbox.name}"\n'
        'sweep_interval_seconds = 2\n'))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("XENTRIAGE_UNSET_TEST_VAR", None)
    proc = subprocess.Popen([sys.executable, "-c", "from triage.cli import main; main()",
                             "--config", str(cfg), "mail", "watch"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        db = tmp_path / "state" / "xentriage.sqlite3"
        deadline = time.monotonic() + 20
        count, appended = 0, False
        while time.monotonic() < deadline and count < 2:
            count = _stored(db)
            if count == 1 and not appended:  # the first came by the sweep, this one by IDLE
                imap_mailbox.append(contract_mail("007_"))
                appended = True
            time.sleep(0.2)
        assert count == 2
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "SIGTERM: stopping" in out and dovecot.password not in out
