"""The IMAP source and the watcher against a real dovecot on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.mail.conftest import contract_mail
from tests.support.imap_server import Dovecot, ImapMailbox, make_certificate
from triage.adapters.mail import MailSourceError
from triage.adapters.mail.imap import ImapParams, ImapSource, compress_uids
from triage.config import Secret
from triage.ingest import Ingestor, load_checkpoint
from triage.mailwatch import MailWatcher
from triage.store import Store
from triage.store.tables import MailEventRow, MailMessage

PASSWORD_ENV = "XENTRIAGE_TEST_IMAP_PASSWORD"
# imaplib2 3.6's threads call Thread.setName (deprecated in 3.11) and getName
# besides the two messages pyproject.toml already filters; narrowly these, from that module only.
pytestmark = [
    pytest.mark.filterwarnings("ignore:setName\\(\\) is deprecated:DeprecationWarning:imaplib2"),
    pytest.mark.filterwarnings("ignore:getName\\(\\) is deprecated:DeprecationWarning:imaplib2"),
]


@pytest.fixture
def params(dovecot: Dovecot, imap_mailbox: ImapMailbox,
           monkeypatch: pytest.MonkeyPatch) -> Callable[..., ImapParams]:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)

    def factory(**kw: object) -> ImapParams:
        base: dict[str, object] = dict(
            host="127.0.0.1", port=dovecot.port, user=dovecot.user,
            password=Secret("mail.imap_password", env=PASSWORD_ENV),
            folder=imap_mailbox.name, tls=False, fetch_batch_size=50, timeout_seconds=10)
        base.update(kw)
        return ImapParams(**base)  # type: ignore[arg-type]

    return factory


def numbered(i: int) -> bytes:
    return (f"From: dev{i}@example.org\nTo: xen-bugs@lists.xenproject.org\n"
            f"Subject: list mail {i}\nMessage-ID: <list-{i}@example.org>\n\nbody {i}\n").encode()


def message_ids(store: Store) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(MailMessage.message_id).order_by(MailMessage.id)))


@pytest.fixture
def ingestor(store: Store, tmp_path: Path) -> Ingestor:
    return Ingestor(store, quarantine_dir=tmp_path / "q", chunk_size=1)


@pytest.fixture
def watcher_thread() -> Iterator[Callable[[MailWatcher], threading.Thread]]:
    started: list[tuple[MailWatcher, threading.Thread]] = []

    def start(watcher: MailWatcher) -> threading.Thread:
        t = threading.Thread(target=watcher.run, daemon=True)
        t.start()
        started.append((watcher, t))
        return t

    yield start
    for watcher, t in started:
        watcher.stop()
        t.join(timeout=15)
        assert not t.is_alive(), "the watcher did not stop"


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_compress_uids() -> None:
    assert compress_uids([9, 1, 2, 3, 7, 10]) == "1:3,7,9:10"


def test_batched_fetch_uses_few_round_trips(params, imap_mailbox, ingestor, store) -> None:
    imap_mailbox.append_many([numbered(i) for i in range(120)])
    source = ImapSource(params(fetch_batch_size=50))
    report = ingestor.run(source)
    source.close()
    assert report.processed == 120
    # login + EXAMINE x2 + SEARCH + sizes + 3 FETCHes of <= 50: far from 120 round trips
    assert source.round_trips <= 8, source.round_trips
    assert message_ids(store)[:2] == ["<list-0@example.org>", "<list-1@example.org>"]
    cp = load_checkpoint(store, source.source_id)
    assert cp == {"uidvalidity": imap_mailbox.uidvalidity(), "last_uid": 120}


def test_idle_push_is_processed_within_seconds(params, imap_mailbox, ingestor, store,
                                               watcher_thread) -> None:
    imap_mailbox.append(contract_mail("001_"))
    # a long sweep interval: only IDLE can deliver the second mail quickly
    watcher = MailWatcher(ImapSource(params()), ingestor, sweep_interval=3600, idle_timeout=600)
    watcher_thread(watcher)
    wait_for(lambda: len(message_ids(store)) == 1)
    time.sleep(0.5)  # let it enter IDLE
    imap_mailbox.append(contract_mail("007_"))
    took = wait_for(lambda: len(message_ids(store)) == 2, timeout=10)
    assert took < 5
    assert watcher.stats.wakeups >= 1


def test_sweep_catches_mail_without_idle(params, imap_mailbox, ingestor, store,
                                          monkeypatch) -> None:
    source = ImapSource(params())
    # IDLE that never reports anything (a server or proxy that drops the push)
    monkeypatch.setattr(source, "wait_for_mail", lambda timeout: time.sleep(
        min(timeout, 0.2)) or False)
    watcher = MailWatcher(source, ingestor, sweep_interval=1, idle_timeout=600)
    t = threading.Thread(target=watcher.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: watcher.stats.sweeps >= 1)
        imap_mailbox.append(numbered(1))
        wait_for(lambda: len(message_ids(store)) == 1, timeout=10)
        assert watcher.stats.wakeups == 0
    finally:
        watcher.stop()
        t.join(timeout=10)


def test_reconnects_after_the_server_is_killed_and_restarted(
        params, dovecot, imap_mailbox, ingestor, store, watcher_thread) -> None:
    imap_mailbox.append(numbered(1))
    source = ImapSource(params(), max_backoff_seconds=1)
    watcher = MailWatcher(source, ingestor, sweep_interval=2, idle_timeout=600, max_backoff=1)
    watcher_thread(watcher)
    wait_for(lambda: len(message_ids(store)) == 1)
    dovecot.kill()
    time.sleep(1.5)  # the watcher notices and retries while the server is down
    dovecot.start()
    imap_mailbox.append(numbered(2))
    wait_for(lambda: len(message_ids(store)) == 2, timeout=20)
    assert source.reconnects >= 1 or watcher.stats.failures >= 1
    assert message_ids(store) == ["<list-1@example.org>", "<list-2@example.org>"]


def test_uidvalidity_change_resyncs_without_duplicates(params, imap_mailbox, ingestor,
                                                       store) -> None:
    imap_mailbox.append_many([numbered(i) for i in range(5)])
    source = ImapSource(params())
    assert ingestor.run(source).processed == 5
    before = imap_mailbox.uidvalidity()
    source.close()
    imap_mailbox.recreate()
    imap_mailbox.append(numbered(99))
    assert imap_mailbox.uidvalidity() != before
    report = ingestor.run(source)
    source.close()
    assert report.resyncs and "UIDVALIDITY changed" in report.resyncs[0]
    assert (report.received, report.duplicates, report.processed) == (6, 5, 1)
    assert len(message_ids(store)) == 6
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(MailEventRow)) == 6
    assert load_checkpoint(store, source.source_id)["uidvalidity"] == imap_mailbox.uidvalidity()


def test_tls_with_certificate_checking(params, dovecot, imap_mailbox, ingestor, tmp_path):
    imap_mailbox.append(numbered(1))
    good = ImapSource(params(tls=True, port=dovecot.tls_port, ca_file=dovecot.ca_file))
    assert ingestor.run(good).processed == 1
    good.close()
    # the system CAs do not know the test server's self-signed certificate: refused
    with pytest.raises(MailSourceError, match="not trusted"):
        ImapSource(params(tls=True, port=dovecot.tls_port)).connect()
    other = tmp_path / "other"
    other.mkdir()
    wrong_ca, _key = make_certificate(other)
    with pytest.raises(MailSourceError, match=r"certificate .* not trusted.*CA file"):
        ImapSource(params(tls=True, port=dovecot.tls_port, ca_file=wrong_ca)).connect()


def test_bad_password_is_a_clear_error_without_the_password(params, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong-secret-value")
    with pytest.raises(MailSourceError) as info:
        ImapSource(params()).connect()
    assert "login refused" in str(info.value) and "wrong-secret-value" not in str(info.value)
