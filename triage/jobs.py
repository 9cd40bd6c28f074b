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
from typing import TYPE_CHECKING, Any

from triage.config import Settings, load_settings
from triage.scheduler import JobSpec
from triage.store import Store

if TYPE_CHECKING:  # the engine (rules, adapters) loads only when a job triages
    from triage.engine import RunReport, TriageEngine

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    """What one cycle did, step by step, for the console and the exit code."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    aborted: str = ""
    plan_text: str = ""
    triage_summary: dict[str, Any] = field(default_factory=dict)
    triage_run_id: int = 0  # the engine's run, when the cycle triaged
    job_run_id: int = 0  # the scheduled job's own run (``job:<id>``), inside ``serve``

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
                refresh: bool | None = None) -> TriageEngine:
    """The triage engine as every entry point builds it: the live tracker when writing or
    refreshing (default: refresh when ``bugzilla.url`` is set), and the configured mail path."""
    from triage.adapters import open_tracker
    from triage.adapters.smtp import writer_mail_sender
    from triage.engine import TriageEngine

    refresh = bool(settings.bugzilla.url) if refresh is None else refresh
    tracker = open_tracker(settings, production=production) if (production or refresh) else None
    return TriageEngine(settings, store, tracker, refresh=refresh,
                        mail_sender=writer_mail_sender(settings, production=production))


def preview_planned_mails(result: RunReport, settings: Settings) -> tuple[int, Path]:
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
    from triage.plan_text import render_plan

    production = settings.writes_enabled(production)
    try:
        engine = make_engine(settings, store, production=production)
        result = engine.run(all_open=all_open, production=production, change_cap=change_cap)
    except TrackerError as exc:
        report.fail("triage", str(exc))
        return
    report.plan_text = render_plan(result)
    report.triage_run_id = result.run_id
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
def _scheduled(config_path: str | None, job: str = ""
               ) -> Iterator[tuple[Settings, Store, CycleReport]]:
    """Settings, a migrated store and a report for one scheduled run; logs what the run did and
    releases the store's connections whatever happened. With ``job``, the run is recorded in
    the store's ``runs`` table as ``job:<id>`` (start, finish, outcome, the error if any), which
    is what ``xentriage status`` shows."""
    from triage.job_runs import recorded_run

    settings = load_settings(config_path)
    store = open_store(settings)
    report = CycleReport()
    try:
        if not job:
            yield settings, store, report
            _log_report(report)
            return
        with recorded_run(store, f"job:{job}", production=settings.writes_enabled(),
                          failed="failed") as run:
            report.job_run_id = run.run_id
            yield settings, store, report
            _log_report(report)
            run.outcome = "aborted" if report.aborted else "failed" if report.failures else "ok"
            run.summary.update(lines=report.lines,
                               error="; ".join(report.failures) or report.aborted)
    finally:
        store.dispose()


def _log_report(report: CycleReport) -> None:
    if report.aborted:
        log.error("triage run aborted: %s", report.aborted)
    log.info("; ".join(report.lines + report.failures))


def sync_job(config_path: str | None = None) -> None:
    with _scheduled(config_path, "sync") as (settings, store, report):
        sync(settings, store, report)


def triage_job(config_path: str | None = None, all_open: bool = False) -> dict[str, Any]:
    """The queue every few minutes; with ``all_open`` the daily pass. Production only if the
    configuration says so (``safety.production``): a scheduler has no command line. Returns the
    run's summary; an aborted run is logged as an error (the cap held), not raised."""
    job = "triage-daily" if all_open else "triage-queue"
    with _scheduled(config_path, job) as (settings, store, report):
        triage_pass(settings, store, report, production=settings.safety.production,
                    all_open=all_open)
        if report.aborted:
            from triage.cap_alert import CapAbort, notify_cap_abort

            s = report.triage_summary
            abort = CapAbort(job=job, run_id=report.triage_run_id, planned=int(s["planned"]),
                             change_cap=int(s["change_cap"]), reason=report.aborted)
            report.add("safety", notify_cap_abort(
                settings, store, abort, job_run_id=report.job_run_id,
                production=settings.writes_enabled(settings.safety.production)))
    return report.triage_summary


def archive_job(config_path: str | None = None) -> None:
    with _scheduled(config_path, "mail-archive") as (settings, store, report):
        ingest_archive(settings, store, report)


def digest_step(settings: Settings, store: Store, report: CycleReport, *, production: bool,
                preview: bool = False, week: str | None = None) -> None:
    """Send this week's digest (or the maintainer's preview), then refresh the wiki page."""
    from reports.compose import DigestError
    from reports.send import send_digest

    step = "digest-preview" if preview else "digest"
    try:
        outcome = send_digest(settings, store, production=production, preview=preview,
                              week=week)
    except DigestError as exc:
        report.fail(step, str(exc))
        return
    where = f" ({outcome.path})" if outcome.path else ""
    if outcome.status == "failed":
        report.fail(step, f"{outcome.week}: {outcome.error}")
    else:
        report.add(step, f"{outcome.week}: {outcome.status}{where}")
    if not preview and outcome.status in ("sent", "dry-run", "recovered"):
        wiki_step(settings, store, report, production=production, week=week)


def wiki_step(settings: Settings, store: Store, report: CycleReport, *, production: bool,
              week: str | None = None) -> None:
    from reports.compose import DigestError
    from wiki_export.publish import WikiError
    from wiki_export.refresh import refresh_wiki

    try:
        outcome = refresh_wiki(settings, store, production=production, week=week)
    except (WikiError, DigestError) as exc:
        report.fail("wiki", str(exc))
        return
    report.add("wiki", f"{outcome.week}: {outcome.publish.status} ({outcome.summary}); "
                       f"file {outcome.publish.file}")


def digest_job(config_path: str | None = None, preview: bool = False) -> None:
    with _scheduled(config_path, "digest-preview" if preview else "digest") as (
            settings, store, report):
        digest_step(settings, store, report, production=settings.writes_enabled(),
                    preview=preview)


def digest_retry_job(config_path: str | None = None) -> None:
    """Every few minutes: if this week's digest was attempted and not finished (SMTP was
    down, or the service died while sending), send it now. A single read when there is
    nothing to do, and no run recorded then."""
    from reports.compose import data_clock
    from reports.send import pending_retry
    from reports.weeks import iso_week

    settings = load_settings(config_path)
    store = open_store(settings)
    try:
        week = iso_week(data_clock(settings), settings.digest.timezone)
        if not pending_retry(store, week):
            return
    finally:
        store.dispose()
    with _scheduled(config_path, "digest-retry") as (settings, store, report):
        digest_step(settings, store, report, production=settings.writes_enabled())


def wiki_job(config_path: str | None = None) -> None:
    with _scheduled(config_path, "wiki") as (settings, store, report):
        wiki_step(settings, store, report, production=settings.writes_enabled())


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
    from reports.weeks import cron_for

    d = settings.digest
    jobs.append(JobSpec(id="digest", func="triage.jobs:digest_job", cron=cron_for(d.day, d.time),
                        kwargs=args, timezone=d.timezone))
    if d.preview_hours and d.maintainer:
        jobs.append(JobSpec(id="digest-preview", func="triage.jobs:digest_job",
                            cron=cron_for(d.day, d.time, d.preview_hours),
                            kwargs={**args, "preview": True}, timezone=d.timezone))
    jobs.append(JobSpec(id="digest-retry", func="triage.jobs:digest_retry_job",
                        interval_seconds=10 * 60, kwargs=args))
    hh, mm = (int(x) for x in settings.wiki.refresh_time.split(":"))
    jobs.append(JobSpec(id="wiki", func="triage.jobs:wiki_job", cron=f"{mm} {hh} * * *",
                        kwargs=args, timezone=d.timezone))
    if settings.ci.sweep_interval_minutes and settings.ci.buildbot_url:
        # CI linking (triage.ci.service): sweep Buildbot's REST API, then link to bugs.
        jobs.append(JobSpec(id="ci", func="triage.ci.service:ci_job",
                            interval_seconds=settings.ci.sweep_interval_minutes * 60,
                            kwargs=args))
    b = settings.bisect
    if b.enabled and b.per_day and b.job_interval_minutes:
        # Bisection (triage.ci.bisect.service): run the queue, then link what it found.
        jobs.append(JobSpec(id="bisect", func="triage.ci.bisect.service:bisect_job",
                            interval_seconds=b.job_interval_minutes * 60, kwargs=args))
    if settings.mail.source in ("mbox", "maildir"):
        jobs.append(JobSpec(id="mail-archive", func="triage.jobs:archive_job",
                            interval_seconds=settings.mail.sweep_interval_seconds, kwargs=args))
    return jobs
