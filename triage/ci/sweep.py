"""The backfill sweep: every finished cell build from Buildbot's REST API, paged from a checkpoint.

Buildbot's HTTP push only logs a failed POST, so the sweep is what makes intake complete. It
reads ``/api/v2/builds?order=buildid&buildid__gt=N&limit=P&property=*`` pages and stores each
complete build (unique on master + build id: a build already pushed is not stored twice). The
checkpoint advances only over an unbroken run of complete builds: a build still running when
a later one finished is read again on the next sweep instead of being skipped for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from farm.bisect_protocol import is_bisection_build
from triage.ci.model import BadResult, CellResult, from_buildbot
from triage.store import Store
from triage.store import ci as ci_rows

log = logging.getLogger(__name__)

Fetch = Callable[[str, dict[str, Any]], dict[str, Any]]


class SweepError(Exception):
    pass


@dataclass
class SweepReport:
    pages: int = 0
    builds: int = 0
    stored: int = 0
    skipped: int = 0  # not a cell build (a bisection step's), or no verdict
    checkpoint: int = 0


def http_fetch(timeout: float = 30.0) -> Fetch:
    session = requests.Session()

    def fetch(url: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = session.get(url, params=params, timeout=timeout)
            resp.raise_for_status()
            doc = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise SweepError(f"Buildbot REST API: {type(exc).__name__}: {exc}"[:300]) from None
        if not isinstance(doc, dict):
            raise SweepError("Buildbot REST API: not a JSON object")
        return doc

    return fetch


def sweep(store: Store, buildbot_url: str, *, master: str = "", page_size: int = 500,
          fetch: Fetch | None = None, max_pages: int = 10_000) -> SweepReport:
    master = master or buildbot_url.rstrip("/")
    fetch = fetch or http_fetch()
    url = buildbot_url.rstrip("/") + "/api/v2/builds"
    with store.session() as s:
        position = ci_rows.sweep_position(s, master)
    report = SweepReport(checkpoint=position)
    while report.pages < max_pages:
        doc = fetch(url, {"order": "buildid", "buildid__gt": position, "limit": page_size,
                          "property": "*"})
        builds = doc.get("builds")
        if not isinstance(builds, list):
            raise SweepError("Buildbot REST API: no 'builds' list")
        report.pages += 1
        advance, blocked = position, False
        page: list[CellResult] = []
        for build in builds:
            bid = int(build.get("buildid", 0))
            if not build.get("complete"):
                blocked = True
                continue
            report.builds += 1
            try:
                # A bisection step's build is a commit of a range, not the cell's history.
                result = (None if is_bisection_build(build.get("properties"))
                          else from_buildbot(build, master, buildbot_url))
            except BadResult as exc:
                log.warning("ci sweep: build %s is not a readable result: %s", bid, exc)
                result = None
            if result is None:
                report.skipped += 1
            else:
                page.append(result)
            if not blocked:
                advance = bid
        with store.session() as s:
            report.stored += ci_rows.record_results(s, page)
            if advance > position:
                ci_rows.set_sweep_position(s, master, advance)
        position = max(position, int(builds[-1].get("buildid", 0)) if builds else position)
        report.checkpoint = advance if advance > report.checkpoint else report.checkpoint
        if len(builds) < page_size or blocked:
            break
    log.info("ci sweep: %d pages, %d builds, %d stored, checkpoint %d", report.pages,
             report.builds, report.stored, report.checkpoint)
    return report
