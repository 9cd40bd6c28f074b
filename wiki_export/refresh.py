"""One wiki refresh: the digest model (as the next mail would show it), rendered as markup,
published where ``wiki.target`` says, and recorded in the store's ``digests`` table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reports.compose import build_model
from triage.config import Settings
from triage.store import Store
from triage.store import digests as digest_rows
from wiki_export.markup import edit_summary, render_wiki
from wiki_export.publish import PublishOutcome, WikiPage, content_hash, publish


@dataclass(frozen=True)
class RefreshOutcome:
    week: str
    summary: str
    publish: PublishOutcome


def refresh_wiki(settings: Settings, store: Store, *, production: bool, week: str | None = None,
                 now: datetime | None = None, client: WikiPage | None = None) -> RefreshOutcome:
    model = build_model(settings, store, week=week, now=now)
    cfg = settings.wiki
    chart = b""
    if cfg.target == "mediawiki" and cfg.uploads:
        from reports.chart import trend_png

        chart = trend_png(model.trend)
    text = render_wiki(model, chart_file=cfg.chart_name if chart else "")
    summary = edit_summary(model)
    outcome = publish(text, summary, settings, production=production, chart=chart,
                      client=client)
    if outcome.status in ("edited", "created", "unchanged", "written"):
        with store.session() as s:
            digest_rows.record(s, "wiki", model.week, digest_rows.WRITTEN,
                               model={"hash": content_hash(text), "summary": summary,
                                      "status": outcome.status, "target": outcome.target})
    return RefreshOutcome(model.week, summary, outcome)
