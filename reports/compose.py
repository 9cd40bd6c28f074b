"""One digest, ready to render or send: the model read from the store (a bounded number of
queries), the preface file, and the chart. The only I/O of ``reports`` besides sending."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from reports.build import TREND_WEEKS, Params, build_digest
from reports.model import DigestModel
from reports.render import CHART_CID, render_html, render_text, subject
from reports.weeks import as_of_for
from triage.config import Settings
from triage.model import InlineImage, OutgoingMail, parse_bz_time
from triage.store import Store
from triage.store import digests as digest_rows

log = logging.getLogger(__name__)


class DigestError(Exception):
    """A digest cannot be built (a bad week, an unreadable preface file)."""


class BadWeek(DigestError):
    """The week asked for is not an ISO week, or is in the future."""


def data_clock(settings: Settings, now: datetime | None = None) -> datetime:
    """"Now" for the digest. With a live Bugzilla, the clock. Serving a snapshot (the embedded
    default), the moment the snapshot was taken: its bugs describe the world as of then, and a
    digest of them "this week" must not see every claim grow stale as the calendar moves on."""
    now = now or datetime.now(UTC)
    if settings.bugzilla.url:
        return now
    try:
        head = json.loads(settings.bugzilla.snapshot.read_text(encoding="utf-8"))
        taken = parse_bz_time(head.get("taken_at"))
    except (OSError, ValueError, AttributeError):
        return now
    return min(taken, now) if taken else now


def read_preface(settings: Settings) -> str:
    path = settings.digest.preface_file
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DigestError(f"digest.preface_file {path}: cannot read it ({exc})") from None


def build_model(settings: Settings, store: Store, *, week: str | None = None,
                now: datetime | None = None) -> DigestModel:
    from reports.weeks import WeekError

    try:
        label, as_of = as_of_for(week, settings.digest, data_clock(settings, now))
    except WeekError as exc:
        raise BadWeek(str(exc)) from None
    params = Params.of(settings)
    since = as_of - timedelta(days=7 * (TREND_WEEKS + 1))
    with _no_gc(), store.session() as s:
        inputs = digest_rows.load_inputs(s, digest_rows.DigestQuery(
            closed_since=since, week_start=as_of - timedelta(days=7), week=label,
            products=tuple(settings.bugzilla.products), in_progress=params.in_progress,
            closed_statuses=params.closed_statuses, fixed_resolution=params.fixed_resolution,
            ignore_authors=tuple(sorted(params.bots))))
        return build_digest(inputs, settings, as_of=as_of, week=label,
                            preface=read_preface(settings), params=params)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Reading tens of thousands of bugs allocates hundreds of thousands of small objects and
    no reference cycles: the cyclic collector's passes over them cost a quarter of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class RenderedDigest:
    model: DigestModel
    subject: str
    text: str
    html: str
    chart: bytes

    def mail(self, to: tuple[str, ...], *, subject_prefix: str = "") -> OutgoingMail:
        return OutgoingMail(
            to=to, subject=subject_prefix + self.subject, text=self.text, html=self.html,
            headers={"Precedence": "bulk", "List-Id": "xentriage weekly digest"},
            images=(InlineImage(CHART_CID, self.chart),) if self.chart else ())


def render(model: DigestModel, settings: Settings, *, chart: bool = True) -> RenderedDigest:
    cfg = settings.digest
    short = not model.changed and cfg.no_change == "send"
    png = b""
    if chart and not short:
        from reports.chart import trend_png

        png = trend_png(model.trend)
    optout = settings.nag.optout_marker
    return RenderedDigest(
        model=model, subject=subject(model),
        text=render_text(model, cap=cfg.max_entries, wiki_url=cfg.wiki_url, short=short,
                         optout=optout),
        html=render_html(model, cap=cfg.max_entries, wiki_url=cfg.wiki_url, chart=bool(png),
                         short=short, optout=optout),
        chart=png)
