"""The pages' JSON twins (``?format=json``): the same view, as plain data for scripts."""

from __future__ import annotations

from typing import Any

from triage.web import links
from triage.web.matrix_model import CellView, MatrixView
from triage.web.triage_model import TriageView


def _cell(c: CellView, ctx: Any) -> dict[str, Any]:
    return {
        "cell": c.spec.name, "tree": c.spec.tree, "branch": c.spec.branch, "app": c.spec.app,
        "libset": c.spec.libset, "platform": c.spec.platform, "arch": c.spec.arch,
        "state": c.state.key, "label": c.state.label, "running": c.running,
        "age_seconds": c.age_seconds, "reason": c.reason,
        "history": [h.state.key for h in c.history],
        "red_since": ({"revision": c.red_since.revision, "buildid": c.red_since.buildid,
                       "finished": c.red_since.finished.isoformat()
                       if c.red_since.finished else None} if c.red_since else None),
        "revision": c.latest.revision if c.latest else None,
        "build_url": links.build_url(ctx, c), "log_url": links.log_url(ctx, c),
        "bug": ({"id": c.bug.bug_id, "status": c.bug.status, "resolution": c.bug.resolution,
                 "summary": c.bug.summary, "claimed_by": c.bug.claimed_by,
                 "bisection": c.bug.bisection,
                 "url": links.bug_url(ctx, c.bug.bug_id)} if c.bug else None),
    }


def matrix(view: MatrixView, ctx: Any) -> dict[str, Any]:
    return {
        "generated": view.generated.isoformat(), "shown": view.shown, "total": view.total,
        "counts": dict(view.counts), "queries": view.queries, "history": view.history,
        "filters": dict(_grouped(view.filters.as_query())),
        "trees": [{"tree": t.tree, "branch": t.branch,
                   "columns": [{"name": c.name, "pass_rate": c.pass_rate, "runs": c.runs}
                               for c in t.columns],
                   "rows": [{"label": r.label,
                             "cells": [_cell(c, ctx) if c else None for c in r.cells]}
                            for r in t.rows]} for t in view.trees],
    }


def triage(view: TriageView, ctx: Any) -> dict[str, Any]:
    return {
        "generated": view.generated.isoformat(), "shown": view.shown, "total": view.total,
        "queries": view.queries, "filters": dict(_grouped(view.filters.as_query())),
        "sections": [{"key": s.key, "title": s.title, "bugs": [{
            "id": b.row.bug_id, "summary": b.row.summary, "product": b.row.product,
            "component": b.row.component, "status": b.row.status, "state": b.row.state,
            "claimed_by": b.row.claimed_by, "claim_days": b.claim_days, "stale": b.stale,
            "days_in_state": b.days_in_state, "url": links.bug_url(ctx, b.row.bug_id),
        } for b in s.bugs]} for s in view.sections],
        "weeks": [{"week": w.label, "open": w.opened, "new": w.new, "fixed": w.fixed}
                  for w in view.weeks],
    }


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out
