"""``xentriage mail``: backfill an archive, watch the list over IMAP, show ingestion status."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from triage.adapters.mail import MailSourceError, open_archive
from triage.adapters.tracker import Tracker, TrackerError
from triage.cli.common import EXIT_CONFIG, EXIT_INPUT, EXIT_UNAVAILABLE, app, echo, fail
from triage.config import ConfigError, Settings
from triage.display import cell

if TYPE_CHECKING:  # the ingestor and the store's tables (SQLAlchemy) load when a mail is read,
    # so a bad archive path is refused at once
    from triage.ingest import Ingestor, IngestReport


@click.group("mail")
def command() -> None:
    """Read the bugs mailing list: backfill an archive, watch IMAP, show status."""


def _tracker(settings: Settings, use_tracker: bool) -> Tracker | None:
    if not use_tracker:
        return None
    try:
        from triage.adapters import open_tracker  # type: ignore[attr-defined]
    except ImportError:
        return None  # no tracker adapter installed: events are queued, bugs fetched by sync
    try:
        tracker: Tracker = open_tracker(settings, production=False)
    except (ConfigError, TrackerError) as exc:
        fail(f"cannot open the tracker: {exc}", EXIT_UNAVAILABLE)
    return tracker


def _ingestor(settings: Settings, store: Any, tracker: Tracker | None, chunk: int) -> Ingestor:
    from triage.ingest import Ingestor
    from triage.mailparse import ParseLimits

    limits = ParseLimits.of(settings)
    return Ingestor(store, quarantine_dir=settings.state_dir / "quarantine",
                    bot_email=settings.general.bot_email, tracker=tracker, limits=limits,
                    chunk_size=chunk)


def _count_messages(path: Path) -> int | None:
    if path.is_file():
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.startswith(b"From "))
    return None


def print_summary(console: Console, report: IngestReport) -> None:
    table = Table(title="mail ingestion", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("received", str(report.received))
    table.add_row("already seen (Message-ID)", str(report.duplicates))
    for kind, n in sorted(report.kinds.items()):
        table.add_row(cell(f"  {kind}"), str(n))
    table.add_row("bugs queued for triage", str(len(report.queued_bugs)))
    table.add_row("tracker calls (batched)", str(report.tracker_calls))
    console.print(table)
    if report.reasons:
        reasons = Table(title="quarantined (raw kept in <state_dir>/quarantine)")
        reasons.add_column("reason")
        reasons.add_column("count", justify="right")
        for reason, n in report.reasons.most_common():
            reasons.add_row(cell(reason), str(n))
        console.print(reasons)
    for text in report.resyncs:
        console.print(Text("resync: ", style="yellow") + cell(text))


@command.command("backfill")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--chunk", default=500, show_default=True, type=click.IntRange(1, 10000),
              help="Messages per transaction (each with its checkpoint).")
@click.option("--tracker/--no-tracker", "use_tracker", default=True,
              help="Fetch the bugs the mails name (batched) and quarantine forged ones.")
@click.pass_context
def backfill(ctx: click.Context, path: Path | None, chunk: int, use_tracker: bool) -> None:
    """Ingest an mbox file or a Maildir folder (autodetected; default: mail.path).
    Resumable: a second run continues after the last message stored."""
    settings = app(ctx).settings
    target = path or settings.mail.path
    console = Console(stderr=False)
    try:
        source = open_archive(target, batch_size=chunk)
    except MailSourceError as exc:
        fail(str(exc), EXIT_INPUT)
    ingestor = _ingestor(settings, app(ctx).store, _tracker(settings, use_tracker), chunk)
    total = _count_messages(target)
    with Progress(TextColumn("[bold]backfill"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("mail", total=total)
        try:
            report = ingestor.run(source, progress=lambda r: bar.update(task,
                                                                           completed=r.received))
        except MailSourceError as exc:
            fail(str(exc), EXIT_INPUT)
        except TrackerError as exc:
            fail(f"tracker unavailable, stopped (resume by running again): {exc}",
                 EXIT_UNAVAILABLE)
    console.print(cell(f"{target}: {report.received} new messages read"))
    print_summary(console, report)


@command.command("watch")
@click.option("--sweep-interval", type=click.FloatRange(min=1), default=None,
              help="Seconds between UID sweeps (default: mail.sweep_interval_seconds).")
@click.pass_context
def watch(ctx: click.Context, sweep_interval: float | None) -> None:
    """Follow the list over IMAP (IDLE, with the periodic sweep) until SIGINT/SIGTERM."""
    from triage.adapters.mail.imap import ImapParams, ImapSource
    from triage.job_runs import recorded_run
    from triage.mailwatch import MailWatcher, WatchGaveUp

    settings = app(ctx).settings
    m = settings.mail
    if m.source != "imap":
        fail("mail.source must be imap for `mail watch` (use `mail backfill` for archives)",
             EXIT_CONFIG)
    if not m.imap_user:
        fail("mail.imap_user is not set", EXIT_CONFIG)
    params = ImapParams(host=m.imap_host, port=m.imap_port, user=m.imap_user,
                        password=settings.imap_password(), folder=m.folder, tls=m.imap_tls,
                        ca_file=m.imap_ca_file, fetch_batch_size=m.fetch_batch_size,
                        idle_timeout_seconds=m.idle_timeout_seconds,
                        timeout_seconds=settings.jobs.network_timeout_seconds)
    console = Console()
    jobs = settings.jobs
    watcher = MailWatcher(
        # What one sweep fetched together is one transaction and one batched tracker call.
        ImapSource(params, max_backoff_seconds=jobs.retry_max_seconds,
                   initial_backoff_seconds=jobs.retry_initial_seconds,
                   give_up_after_seconds=jobs.give_up_after_seconds),
        _ingestor(settings, app(ctx).store, _tracker(settings, True), m.fetch_batch_size),
        sweep_interval=sweep_interval or m.sweep_interval_seconds,
        idle_timeout=m.idle_timeout_seconds, max_backoff=jobs.retry_max_seconds,
        initial_backoff=jobs.retry_initial_seconds, give_up_after=jobs.give_up_after_seconds,
        on_report=lambda r: console.print(cell(
            f"{r.received} new: " + ", ".join(f"{k} {n}" for k, n in sorted(r.kinds.items())))),
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        console.print(f"{signal.Signals(signum).name}: stopping")
        watcher.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    console.print(cell(f"watching {params.folder} on {params.host}:{params.port} "
                       f"({'TLS' if params.tls else 'plain'}); Ctrl-C stops"))
    total = watcher.total
    with recorded_run(app(ctx).store, "mail-watch") as run:
        try:
            total = watcher.run()
        except ConfigError as exc:  # e.g. the IMAP password's variable or file is missing
            run.error(str(exc), EXIT_CONFIG)
        except WatchGaveUp as exc:  # unreachable for jobs.give_up_after_seconds
            run.error(str(exc), EXIT_UNAVAILABLE)
        except MailSourceError as exc:  # login refused, TLS failure, wrong protocol, folder
            run.error(str(exc), EXIT_CONFIG)
        run.summary.update(sweeps=watcher.stats.sweeps, received=watcher.total.received,
                           failures=watcher.stats.failures)
    if run.exit_code:
        fail(run.message, run.exit_code)
    console.print(f"stopped after {watcher.stats.sweeps} sweeps")
    print_summary(console, total)


@command.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Per source: checkpoint, processed / quarantined / ignored, last message, pending events."""
    from sqlalchemy import func, select

    from triage.store.tables import Checkpoint, MailEventRow, MailMessage

    store = app(ctx).store
    with store.session() as s:
        counts = s.execute(
            select(MailMessage.source, MailMessage.status, func.count(),
                   func.max(MailMessage.received_at))
            .group_by(MailMessage.source, MailMessage.status)
        ).all()
        checkpoints = {row.name: row for row in s.scalars(
            select(Checkpoint).where(Checkpoint.name.like("mail:%")))}
        pending = s.scalar(select(func.count()).select_from(MailEventRow)
                           .where(MailEventRow.consumed_at.is_(None))) or 0
    per_source: dict[str, dict[str, Any]] = {}
    for source, state, n, last in counts:
        entry = per_source.setdefault(source, {"last": None})
        entry[state] = n
        if last is not None and (entry["last"] is None or last > entry["last"]):
            entry["last"] = last
    for name in checkpoints:
        per_source.setdefault(name.removeprefix("mail:"), {"last": None})
    # Plain lines, not a table: source ids are long paths and scripts read this output.
    for source, entry in sorted(per_source.items()):
        cp = checkpoints.get(f"mail:{source}"[:200])
        cp_text = ", ".join(f"{k}={v}" for k, v in sorted(cp.value.items())
                            if k != "fingerprint") if cp else "none"
        last = entry["last"].strftime("%Y-%m-%d %H:%M:%SZ") if entry["last"] else "-"
        echo(source)
        echo(f"  checkpoint: {cp_text}")
        echo(f"  processed {entry.get('processed', 0)}, quarantined "
                   f"{entry.get('quarantined', 0)}, ignored {entry.get('ignored', 0)}; "
                   f"last message stored {last}")
    if not per_source:
        echo("no mail ingested yet")
    echo(f"pending events (not yet consumed by the triage engine): {pending}")
