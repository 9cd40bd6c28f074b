"""``xentriage serve``: the long-running service.

Periodic jobs (sync, the triage queue, the daily pass, archive polling) run from the scheduler
with its persistent job store, so a job missed while the service was down runs once on restart.
With ``mail.source = "imap"`` the list is followed continuously (IDLE + sweep) in the foreground;
otherwise the process waits for SIGINT/SIGTERM. Writes follow ``safety.production`` from the
configuration (a daemon has no ``--production`` flag on each run).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from triage.cli.common import app, echo
from triage.jobs import service_jobs
from triage.scheduler import build_scheduler


@click.command("serve")
@click.option("--no-mail", is_flag=True, help="Do not watch IMAP; run only the periodic jobs.")
@click.pass_context
def command(ctx: click.Context, no_mail: bool) -> None:
    """Run the service: periodic jobs plus the IMAP watch, until SIGINT/SIGTERM."""
    a = app(ctx)
    settings = a.settings
    store = a.store  # migrates the schema before any job touches it
    jobs = service_jobs(settings, a.config_path)
    scheduler = build_scheduler(settings.store_url, jobs)
    scheduler.resume()
    intake = None
    if settings.ci.intake_port:
        from triage.ci.service import IntakeService

        intake = IntakeService(settings, store)  # the farm's reporter posts here
        intake.start()
        echo(f"ci intake on http://{intake.address[0]}:{intake.address[1]}/ci/results")
    mode = "production" if settings.writes_enabled() else "dry run"
    echo(f"serving ({mode}); jobs: " + ", ".join(
        f"{j.id} (next {scheduler.get_job(j.id).next_run_time:%Y-%m-%d %H:%M %Z})" for j in jobs))
    try:
        if settings.mail.source == "imap" and not no_mail:
            from triage.cli.cmd_mail import watch

            ctx.invoke(watch)  # blocks until a signal stops the watcher
        else:
            stop = threading.Event()

            def on_signal(signum: int, _frame: FrameType | None) -> None:
                echo(f"{signal.Signals(signum).name}: stopping")
                stop.set()

            signal.signal(signal.SIGINT, on_signal)
            signal.signal(signal.SIGTERM, on_signal)
            stop.wait()
    finally:
        if intake is not None:
            intake.stop()
        scheduler.shutdown(wait=True)
        store.dispose()
    echo("stopped")
