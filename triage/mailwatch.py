"""The live mail loop: sweep, IDLE, sweep again; reconnect with back-off; stop cleanly.

A sweep (re-open the folder, ``UID SEARCH`` past the checkpoint, batched ``UID FETCH``, ingest)
runs at start, whenever IDLE reports a change, and at least every ``sweep_interval`` seconds
whatever IDLE says: push is the fast path, the sweep is what makes a missed push harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState

from triage import retry_policy
from triage.adapters.mail import MailSourceError, MailSourceUnavailable
from triage.adapters.mail.imap import ImapSource
from triage.adapters.tracker import TrackerUnavailable
from triage.ingest import Ingestor, IngestReport, load_checkpoint

log = logging.getLogger(__name__)


class WatchGaveUp(MailSourceError):
    """The server (or the tracker) stayed unavailable longer than ``give_up_after``: most
    likely a wrong host or port rather than an outage; the job ends (exit 4) instead of
    retrying forever."""


@dataclass
class WatchStats:
    sweeps: int = 0
    wakeups: int = 0
    reconnects: int = 0
    failures: int = 0


class MailWatcher:
    def __init__(
        self,
        source: ImapSource,
        ingestor: Ingestor,
        *,
        sweep_interval: float = 300.0,
        idle_timeout: float = 600.0,
        max_backoff: float = 60.0,
        initial_backoff: float = 0.5,
        give_up_after: float = 0.0,
        on_report: Callable[[IngestReport], None] | None = None,
    ) -> None:
        self.source = source
        self.ingestor = ingestor
        self.sweep_interval = sweep_interval
        self.idle_timeout = idle_timeout
        self.max_backoff = max_backoff
        self.initial_backoff = initial_backoff
        self.give_up_after = give_up_after  # 0: retry until stopped
        self.on_report = on_report
        self.stats = WatchStats()
        self.total = IngestReport()
        self._stop = threading.Event()

    def stop(self) -> None:
        """From any thread or a signal handler: end the loop promptly (IDLE is interrupted)."""
        self._stop.set()
        self.source.interrupt()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def sweep(self) -> IngestReport:
        report = IngestReport()
        checkpoint = load_checkpoint(self.ingestor.store, self.source.source_id)
        for batch in self.source.batches(checkpoint):
            report.merge(self.ingestor.ingest(batch))
        self.stats.sweeps += 1
        self.total.merge(report)
        if self.on_report is not None and (report.received or report.resyncs):
            self.on_report(report)
        return report

    def run(self) -> IngestReport:
        """Until :meth:`stop`. Connection and tracker outages are retried with back-off (one
        tenacity policy, :func:`triage.retry_policy.backoff`), for at most ``give_up_after``
        seconds since the last good sweep (then :class:`WatchGaveUp`); anything else (bad
        credentials, an untrusted certificate, TLS on a plain-text port) is raised at once:
        retrying cannot fix it."""
        self._last_ok = time.monotonic()
        # A fresh retry state per cycle: the back-off starts again after every good sweep.
        retrying = retry_policy.backoff(
            retry_on=(MailSourceUnavailable, TrackerUnavailable), initial=self.initial_backoff,
            maximum=self.max_backoff, give_up_after=self.give_up_after,
            last_ok=lambda: self._last_ok, stop_event=self._stop, on_retry=self._note_failure)
        try:
            while not self._stop.is_set():
                retrying(self._cycle)
        except (MailSourceUnavailable, TrackerUnavailable) as exc:
            if not self._stop.is_set():
                failing = time.monotonic() - self._last_ok
                raise WatchGaveUp(f"gave up after {failing:.0f} s without a good sweep "
                                  f"(jobs.give_up_after_seconds): {exc}") from None
        finally:
            self.source.close()
        return self.total

    def _cycle(self) -> None:
        """Connect (one attempt), sweep, then IDLE until the next sweep is due."""
        if self._stop.is_set():
            return
        try:
            self.source.connect_once()
            self.sweep()
            self._last_ok = time.monotonic()
            self._idle_until_next_sweep()
            self._last_ok = time.monotonic()
        except (MailSourceUnavailable, TrackerUnavailable) as exc:
            self.stats.failures += 1
            self.stats.reconnects += isinstance(exc, MailSourceUnavailable)
            self.source.close()
            raise

    def _note_failure(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("mail watch: %s; retrying in %.1f s", exc, wait)

    def _idle_until_next_sweep(self) -> None:
        deadline = time.monotonic() + self.sweep_interval
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.source.wait_for_mail(min(left, self.idle_timeout)):
                self.stats.wakeups += 1
                return
