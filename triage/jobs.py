"""The service's jobs, each one function over (settings, store): used once by ``xentriage run``
and periodically by ``xentriage serve`` (through :mod:`triage.scheduler`, which stores them by
reference with plain arguments, hence the ``*_job(config_path)`` wrappers).

A job never raises for an outage of Bugzilla, IMAP or SMTP: it logs, records nothing it did not do,
and the next run picks up where the checkpoints say. That is what makes a restart safe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.config import Settings, load_settings
from triage.scheduler import JobSpec
from triage.store import Store

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    """What one cycle did, step by step, for the console and the exit code."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    aborted: str = ""
    plan_text: str = ""
    triage_summary: dict[str, Any] = field(default_factory=dict)

    def add(self, step: str, text: str) -> None:
        self.lines.append(f"{step}: {text}")

    def fail(self, step: str, text: str) -> None:
        self.failures.append(f"{step}: {text}")
        log.error("%s failed: %s", step, text)


def open_store(settings: Settings) -> Store:
    store = Store(settings.store_url)
    store.migrate()
    return store


def ingest_archive(settings: Settings, store: Store, report: CycleReport,
                   path: Path | None = None) -> None:
    """Ingest the configured mbox/Maildir (resumable: only what is new since the checkpoint)."""
    from triage.adapters import open_tracker
    from triage.adapters.mail import MailSourceError, open_archive
    from triage.adapters.tracker import TrackerError
    from triage.ingest import Ingestor
    from triage.mailparse import ParseLimits

    target = path or settings.mail.path
    try:
        source = open_archive(target, batch_size=settings.mail.fetch_batch_size)
        ingestor = Ingestor(store, quarantine_dir=settings.state_dir / "quarantine",
                            bot_email=settings.general.bot_email,
                            tracker=open_tracker(settings, production=False),
                            limits=ParseLimits.of(settings))
        result = ingestor.run(source)
    except (MailSourceError, TrackerError) as exc:
        report.fail("mail", str(exc))
        return
    report.add("mail", f"{target.name}: {_describe(result)}")


def _describe(result: Any) -> str:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(result.kinds.items()))
    return (f"{result.received} new messages, {result.processed} processed"
            f"{' (' + kinds + ')' if kinds else ''}, {result.duplicates} already seen, "
            f"{result.quarantined} quarantined, {result.ignored} ignored, "
            f"{len(result.queued_bugs)} bugs queued")


def sync(settings: Settings, store: Store, report: CycleReport, *, full: bool = False) -> None:
    from triage.adapters import open_tracker
    from triage.adapters.tracker import TrackerError
    from triage.sync import sync_bugs

    try:
        result = sync_bugs(store, open_tracker(settings, production=False), settings, full=full)
    except TrackerError as exc:
        report.fail("sync", str(exc))
        return
    report.add("sync", result.summary())


def make_engine(settings: Settings, store: Store, *, production: bool,
                refresh: bool | None = None) -> Any:
    """The triage engine as every entry point builds it: the live tracker when writing or
    refreshing (default: refresh when ``bugzilla.url`` is set), and the configured mail path."""
    from triage.adapters import open_tracker
    from triage.adapters.smtp import writer_mail_sender
    from triage.engine import TriageEngine

    refresh = bool(settings.bugzilla.url) if refresh is None else refresh
    tracker = open_tracker(settings, production=production) if (production or refresh) else None
    return TriageEngine(settings, store, tracker, refresh=refresh,
                        mail_sender=writer_mail_sender(settings, production=production))


def preview_planned_mails(result: Any, settings: Settings) -> tuple[int, Path]:
    """A dry run's planned mails, written as they would be sent (same Message-IDs) into
    ``<state_dir>/outbox/dry-run/`` so they can be read before anything is sent."""
    from triage.adapters.smtp import OutboxTransport, deliver, outbox_dir

    folder = outbox_dir(settings) / "dry-run"
    transport = OutboxTransport(folder)
    mails = [pc.change for pc in result.plan.to_write if pc.change.mail is not None]
    for change in mails:
        deliver(change, settings, transport)
    return len(mails), folder


def triage_pass(settings: Settings, store: Store, report: CycleReport, *, production: bool,
                all_open: bool, change_cap: int | None = None) -> None:
    from triage.adapters.tracker import TrackerError
    from triage.cli.cmd_triage import render_plan

    production = settings.writes_enabled(production)
    try:
        engine = make_engine(settings, store, production=production)
        result = engine.run(all_open=all_open, production=production, change_cap=change_cap)
    except TrackerError as exc:
        report.fail("triage", str(exc))
        return
    report.plan_text = render_plan(result)
    if result.aborted:
        report.aborted = result.abort_reason
    s = report.triage_summary = result.summary()
    mode = "production" if production else "dry run"
    report.add("triage", f"{mode}, {s['selection']}: {s['bugs']} bugs, {s['decisions']} "
                         f"decisions, {s['planned']} writes planned, {s['written']} written, "
                         f"{s['suppressed']} held back by the nag ledger, "
                         f"{s['already_applied']} already applied, {s['failed']} failed")
    if not production and not result.aborted:
        count, folder = preview_planned_mails(result, settings)
        if count:
            report.add("triage", f"{count} planned mails previewed in {folder}")
    if result.failed:
        report.fail("triage", f"{len(result.failed)} writes failed (they stay pending)")


def run_cycle(settings: Settings, store: Store, *, production: bool, all_open: bool = True,
              mail: bool = True, change_cap: int | None = None) -> CycleReport:
    """One whole cycle: mail (archive sources; IMAP is `serve`'s), sync, triage."""
    report = CycleReport()
    if mail and settings.mail.source in ("mbox", "maildir"):
        ingest_archive(settings, store, report)
    sync(settings, store, report)
    triage_pass(settings, store, report, production=production, all_open=all_open,
                change_cap=change_cap)
    return report


# --- scheduled wrappers (stored by reference; plain arguments only) ------------------------------


@contextmanager
def _scheduled(config_path: str | None, kind: str | None = None
               ) -> Iterator[tuple[Settings, Store, CycleReport]]:
    """Settings, a migrated store and a report for one scheduled run; logs what the run did and
    releases the store's connections whatever happened. With ``kind``, the run is recorded
    (``runs``: ``ok``, or ``error`` with the failures) for ``xentriage status``."""
    from triage.job_runs import recorded_run

    settings = load_settings(config_path)
    store = open_store(settings)
    report = CycleReport()
    try:
        if kind is None:
            yield settings, store, report
        else:
            with recorded_run(store, kind) as run:
                yield settings, store, report
                run.summary.update(lines=report.lines)
                if report.failures:
                    run.error("; ".join(report.failures), 4)
        if report.aborted:
            log.error("triage run aborted: %s", report.aborted)
        log.info("; ".join(report.lines + report.failures))
    finally:
        store.dispose()


def sync_job(config_path: str | None = None) -> None:
    with _scheduled(config_path, "sync-job") as (settings, store, report):
        sync(settings, store, report)


def triage_job(config_path: str | None = None, all_open: bool = False) -> dict[str, Any]:
    """The queue every few minutes; with ``all_open`` the daily pass. Production only if the
    configuration says so (``safety.production``): a scheduler has no command line. Returns the
    run's summary; an aborted run is logged as an error (the cap held), not raised."""
    with _scheduled(config_path) as (settings, store, report):
        triage_pass(settings, store, report, production=settings.safety.production,
                    all_open=all_open)
    return report.triage_summary


def archive_job(config_path: str | None = None) -> None:
    with _scheduled(config_path, "mail-archive-job") as (settings, store, report):
        ingest_archive(settings, store, report)


def service_jobs(settings: Settings, config_path: str | None) -> list[JobSpec]:
    """The periodic jobs of ``xentriage serve``. IMAP is watched continuously beside them."""
    args = {"config_path": config_path}
    jobs = [
        JobSpec(id="sync", func="triage.jobs:sync_job", interval_seconds=15 * 60, kwargs=args),
        JobSpec(id="triage-queue", func="triage.jobs:triage_job", interval_seconds=5 * 60,
                kwargs={**args, "all_open": False}),
        JobSpec(id="triage-daily", func="triage.jobs:triage_job", cron="30 6 * * *",
                kwargs={**args, "all_open": True}),
    ]
    if settings.mail.source in ("mbox", "maildir"):
        jobs.append(JobSpec(id="mail-archive", func="triage.jobs:archive_job",
                            interval_seconds=settings.mail.sweep_interval_seconds, kwargs=args))
    return jobs
