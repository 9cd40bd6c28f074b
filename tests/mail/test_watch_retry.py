"""The mail watcher retries in one loop (triage.retry_policy): every failed connection is one
attempt of the watcher's back-off, never a second back-off nested inside the source."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.imap_server import free_port
from triage.adapters.mail.imap import ImapParams, ImapSource
from triage.config import Secret
from triage.ingest import Ingestor
from triage.mailwatch import MailWatcher, WatchGaveUp
from triage.store import Store


def test_a_closed_port_is_one_back_off_loop_then_given_up(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("XT_WATCH_RETRY_PW", "unused-password")
    params = ImapParams(host="127.0.0.1", port=free_port(), user="u",
                        password=Secret("mail.imap_password", env="XT_WATCH_RETRY_PW"),
                        folder="INBOX", tls=False, fetch_batch_size=10, timeout_seconds=2)
    source = ImapSource(params, initial_backoff_seconds=0.05, max_backoff_seconds=0.2,
                        give_up_after_seconds=60)  # the source's own policy must not be used
    connects = 0
    real_connect = source.connect

    def counting_connect() -> None:
        nonlocal connects
        connects += 1
        real_connect()

    monkeypatch.setattr(source, "connect", counting_connect)
    watcher = MailWatcher(source, Ingestor(store, quarantine_dir=tmp_path / "q"),
                          initial_backoff=0.05, max_backoff=0.2, give_up_after=1.5)
    caplog.set_level(logging.WARNING, logger="triage.mailwatch")
    with pytest.raises(WatchGaveUp, match="gave up after"):
        watcher.run()
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert connects == len(retries) + 1 >= 4
    assert watcher.stats.failures == connects
    assert source.reconnects == 0  # ImapSource.ensure_connected's loop never ran
    waits = [float(r.getMessage().rsplit("retrying in ", 1)[1].split()[0]) for r in retries]
    assert waits[0] < waits[-1] <= 0.2  # exponential, capped
