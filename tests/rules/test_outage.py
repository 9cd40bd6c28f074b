"""A failed write stays owed: Bugzilla goes down in the middle of ``triage --production``, the
pass stops writing quickly (exit 4), and the next queued pass makes every remaining write exactly
once, including the one Bugzilla applied without answering (confirmed by its marker)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.bugzilla_double.server import Fault
from tests.rules.world import KEY_ENV, Reporter, bot_comments, double_options, write_config
from triage.cli import main
from triage.cli.common import EXIT_UNAVAILABLE
from triage.store import Store
from triage.store.tables import ActionRow, TriageQueueEntry

VAGUE = "Xen crashes when I start a guest, with the latest version."
BUGS = 6


class Outage:
    """Wraps the double's request handler: the first ``healthy`` PUTs are answered, the next one
    is applied but its answer is lost (the connection drops after Bugzilla committed it), and
    from then on every request is dropped until :meth:`end`."""

    def __init__(self, app: Any, healthy: int) -> None:
        self.app, self.healthy = app, healthy
        self.original: Callable[[Any], None] = app.handle
        self.puts = 0
        self.down = False
        app.handle = self.handle

    def handle(self, h: Any) -> None:
        if self.down:
            self.app.faults.add(1, Fault("drop"))
            self.original(h)
            return
        if h.command == "PUT":
            self.puts += 1
            if self.puts > self.healthy:
                self.down = True
                self.app._send = _drop_answer  # applied, then no answer
                try:
                    self.original(h)
                finally:
                    del self.app._send
                return
        self.original(h)

    def end(self) -> None:
        self.down = False
        self.app.faults.clear()
        self.app.handle = self.original


def _drop_answer(h: Any, status: int, body: bytes, ctype: str) -> None:
    h.close_connection = True
    try:
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


@pytest.fixture
def world(tmp_path, make_bugzilla_double, monkeypatch):
    double = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    reporters = [f"user{i}@example.org" for i in range(BUGS)]
    for who in reporters:
        Reporter(double, who)
    ids = double.seed_bugs([{"summary": f"guest crash {i}", "product": "Xen",
                             "component": "Hypervisor", "creator": who,
                             "status": "UNCONFIRMED", "description": VAGUE}
                            for i, who in enumerate(reporters)])
    config, settings = write_config(tmp_path, double)
    return double, ids, config, settings


def xt(config, *args):
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def test_outage_mid_pass_then_the_next_queued_pass_writes_the_rest_once(world):
    double, ids, config, settings = world
    assert xt(config, "sync").exit_code == 0
    store = Store(settings.store_url)

    def queued() -> set[int]:
        with store.session() as s:
            return {int(b) for b in s.scalars(select(TriageQueueEntry.bug_id))}

    def statuses() -> dict[str, int]:
        with store.session() as s:
            return {st: int(n) for st, n in s.execute(
                select(ActionRow.status, func.count()).group_by(ActionRow.status))}

    assert queued() == set(ids)

    outage = Outage(double._app, healthy=2)
    started = time.monotonic()
    first = xt(config, "triage", "--production")
    took = time.monotonic() - started
    assert first.exit_code == EXIT_UNAVAILABLE, first.output
    assert "deferred" in first.output
    # Stopped after a few connection failures, not a full retry cycle per remaining write.
    assert took < 30, took
    commented = [b for b in ids if bot_comments(double, b)]
    assert len(commented) == 3  # two answered, one applied without an answer
    # Nothing is lost: every bug without a confirmed write is still queued.
    assert len(queued()) == BUGS - 2
    assert statuses().get("confirmed") == 2

    outage.end()  # Bugzilla is back
    puts_before = double.request_count("PUT")
    second = xt(config, "triage", "--production")
    assert second.exit_code == 0, second.output
    # The write applied without an answer is confirmed by its marker, not sent again; the
    # three never attempted are sent now.
    assert double.request_count("PUT") - puts_before == BUGS - 3
    for bug_id in ids:
        assert len(bot_comments(double, bug_id)) == 1, bug_id
    assert statuses() == {"confirmed": BUGS}
    assert queued() == set()

    puts_before = double.request_count("PUT")
    third = xt(config, "triage", "--production")
    assert third.exit_code == 0 and "No changes planned." in third.output
    assert double.request_count("PUT") == puts_before
    store.dispose()


def test_a_pass_makes_n_writes_with_at_most_n_plus_3_requests(world):
    double, _, config, _ = world
    assert xt(config, "sync").exit_code == 0
    double.reset_counts()
    result = xt(config, "triage", "--production")
    assert result.exit_code == 0, result.output
    log = double.request_log
    puts = [r for r in log if r.method == "PUT"]
    assert len(puts) == BUGS
    first_put = log.index(puts[0])
    # Before the first write: the connection's version check and the pass's batched refresh
    # (bugs, comments, history, attachments), no read per bug ...
    assert first_put <= 5 and all(r.method == "GET" for r in log[:first_put]), [
        (r.method, r.path) for r in log[:first_put]]
    # ... and no read between the writes, one batched re-read after them.
    assert len(log) - first_put <= BUGS + 3


def test_chunked_slices_and_the_nag_ledger_is_pruned_by_production_passes(world):
    from datetime import UTC, datetime, timedelta

    from triage.nag import LedgerEntry, ledger_retention
    from triage.store import nag as nag_rows
    from triage.store.chunks import chunked

    assert [len(c) for c in chunked(range(1801))] == [900, 900, 1]
    assert list(chunked([])) == []
    _, ids, config, settings = world
    store = Store(settings.store_url)
    store.migrate()
    old = datetime.now(UTC) - ledger_retention(settings.nag) - timedelta(days=1)
    with store.session() as s:
        nag_rows.record(s, [LedgerEntry(ids[0], "someone@example.org", "followup", "k-old", old)])
    assert xt(config, "triage", "--bug", str(ids[0])).exit_code == 0  # a dry run keeps it
    with store.session() as s:
        assert [e.action_key for e in nag_rows.entries_for_bug(s, ids[0])] == ["k-old"]
    assert xt(config, "triage", "--production", "--bug", str(ids[0])).exit_code == 0
    with store.session() as s:
        assert "k-old" not in [e.action_key for e in nag_rows.entries_for_bug(s, ids[0])]
        assert len(nag_rows.entries_for_bug(s, ids[0])) == 1  # this pass's own entry
    store.dispose()
