"""CI linking inside the service: one pass (sweep, then link), the scheduled job, and the
intake endpoint of ``xentriage serve`` with its push-driven linking thread.

A stored push wakes the linking thread (debounced: a burst of results is one pass), so a cell's
comment or new bug follows its push within about a second; the scheduled job sweeps Buildbot's
REST API for anything a push lost (the service was down, the POST failed) and links again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from triage.adapters.tracker import TrackerError
from triage.ci.intake import IntakeRules, make_server, serve_in_thread
from triage.ci.linker import CiLinker, LinkReport, force_retry
from triage.ci.sweep import SweepError, SweepReport, sweep
from triage.config import Settings
from triage.store import Store

log = logging.getLogger(__name__)


@dataclass
class CiPass:
    sweep: SweepReport | None
    link: LinkReport | None
    error: str = ""


def make_linker(settings: Settings, store: Store, *, production: bool) -> CiLinker:
    from triage.adapters import open_tracker

    ci = settings.ci
    retry = force_retry(ci.buildbot_url, ci.retry_scheduler) if ci.buildbot_url else None
    return CiLinker(store, settings, open_tracker(settings, production=production), retry=retry)


def ci_pass(settings: Settings, store: Store, *, production: bool, do_sweep: bool = True
            ) -> CiPass:
    """Sweep (when a master is configured) then link; an outage is logged and reported."""
    ci = settings.ci
    swept = None
    try:
        if do_sweep and ci.buildbot_url:
            swept = sweep(store, ci.buildbot_url, master=ci.master_name,
                          page_size=ci.sweep_page_size)
        linked = make_linker(settings, store, production=production).run(production=production)
    except (SweepError, TrackerError) as exc:
        log.error("ci pass: %s", exc)
        return CiPass(swept, None, str(exc))
    return CiPass(swept, linked)


def wait_farm_idle(buildbot_url: str, timeout: float = 900.0) -> None:
    """Until the master has no pending or running build request (the retries were run)."""
    import time

    import requests

    deadline = time.monotonic() + timeout
    url = buildbot_url.rstrip("/") + "/api/v2/buildrequests"
    time.sleep(1.0)
    while time.monotonic() < deadline:
        resp = requests.get(url, params={"complete": "false", "limit": "1"}, timeout=30)
        resp.raise_for_status()
        if not resp.json().get("buildrequests"):
            return
        time.sleep(1.0)
    raise SweepError(f"the farm is still busy after {timeout:.0f}s")


def ci_job(config_path: str | None = None) -> None:
    from triage.jobs import _scheduled

    with _scheduled(config_path, "ci") as (settings, store, report):
        result = ci_pass(settings, store, production=settings.safety.production)
        if result.error:
            report.fail("ci", result.error)
        else:
            writes = len(result.link.changes) if result.link else 0
            report.add("ci", f"swept {result.sweep.stored if result.sweep else 0} new results, "
                             f"{writes} writes planned")


class IntakeService:
    """The intake endpoint plus the thread that links after each stored push."""

    def __init__(self, settings: Settings, store: Store) -> None:
        ci = settings.ci
        self.settings, self.store = settings, store
        self.wake = threading.Event()
        self.stopping = threading.Event()
        rules = IntakeRules(settings.ci_hmac_secret().get().encode("utf-8"),
                            ci.max_body_bytes, ci.clock_skew_seconds)
        self.server: ThreadingHTTPServer = make_server(store, rules, ci.intake_host,
                                                       ci.intake_port, on_stored=self.wake.set)
        host, port = self.server.server_address[:2]
        self.address: tuple[str, int] = (str(host), int(port))
        self.linker = threading.Thread(target=self._link_loop, name="ci-link", daemon=True)

    def start(self) -> None:
        serve_in_thread(self.server)
        self.linker.start()
        log.info("ci intake listening on %s:%d", *self.address)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.server.shutdown()
        self.server.server_close()
        self.linker.join(timeout=30)

    def _link_loop(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait()
            if self.stopping.is_set():
                return
            self.stopping.wait(0.2)  # debounce a burst of pushes into one pass
            self.wake.clear()
            try:
                ci_pass(self.settings, self.store, production=self.settings.safety.production,
                        do_sweep=False)
            except Exception:  # keep the endpoint serving; the scheduled job links again
                log.exception("ci link after push failed")
