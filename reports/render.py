"""The digest as a list mail: text/plain (the primary part, at most 72 columns, complete on its
own) and text/html (inline styles only, the chart as a ``cid:`` image).

Every user-controlled string (summaries, account names, the preface) goes through
:func:`triage.rules.base.sanitize` first: one line, no control or bidi-override characters, no
look-alike bot markers, cut with an ellipsis. The text part is then wrapped at 72 columns
(very long words are broken, so no line is longer); the HTML template autoescapes.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from reports.model import Count, DigestModel, Entry, Section
from triage.rules.base import sanitize

WIDTH = 72
SUMMARY_CHARS = 160
TEMPLATES = Path(__file__).resolve().parent / "templates"
CHART_CID = "trend@xentriage"


def environment(*, html: bool) -> jinja2.Environment:
    """The package's templates, ``StrictUndefined``; HTML output is autoescaped."""
    # Text output is not HTML: its user values are made inert by sanitize() instead.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              undefined=jinja2.StrictUndefined, autoescape=html,  # noqa: S701
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def inert(value: object, limit: int = SUMMARY_CHARS) -> str:
    return str(sanitize(value, max_length=limit))


def wrap(text: str, indent: str = "", first: str | None = None) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent if first is None else first,
                         subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False) or [first or indent]


def count_text(name: str, c: Count) -> str:
    if c.added is None or c.removed is None:
        return f"{name} {c.value}"
    return f"{name} {c.value} (+{c.added} -{c.removed})"


def _filed(days: int) -> str:
    return "filed today" if days == 0 else f"filed {days} d ago"


def details(section_id: str, e: Entry) -> str:
    """The second line of an entry: the facts that section is about."""
    parts = [e.status.lower().replace("_", " "), _filed(e.age_days)]
    if section_id == "claimed" and e.owner:
        stale = ", STALE" if e.stale else ""
        parts = [f"claimed by {inert(e.owner, 80)} for {e.claim_age_days} d{stale}"]
    elif section_id == "fixed":
        parts = [f"fix: {inert(e.fix_reference, 120)}"] + (
            [f"by {inert(e.owner, 80)}"] if e.owner else [])
    elif section_id == "waiting":
        parts = [f"waiting {e.waiting_days} d", e.due]
    elif section_id == "in-review":
        parts = [f"in review {e.review_days} d", _filed(e.age_days)]
    elif section_id == "ci-failures" and e.cells:
        parts = [f"cells: {inert(', '.join(e.cells), 120)}", f"open {e.age_days} d"]
        if e.bisection:
            parts.append(inert(e.bisection, 160))
    return "; ".join(parts)


@dataclass(frozen=True)
class Group:
    name: str
    entries: list[Entry]


def groups(entries: tuple[Entry, ...] | list[Entry]) -> list[Group]:
    out: list[Group] = []
    for e in entries:
        name = f"{inert(e.product, 60)} / {inert(e.component, 60)}"
        if not out or out[-1].name != name:
            out.append(Group(name, []))
        out[-1].entries.append(e)
    return out


def _text_entry(section_id: str, e: Entry) -> list[str]:
    mark = f"[{e.mark}] " if e.mark else ""
    lines = wrap(f"{mark}#{e.bug_id} {inert(e.summary)}", indent="      ", first="  ")
    lines += wrap(details(section_id, e), indent="      ")
    return lines


def _section_lines(section: Section, cap: int, wiki_url: str) -> list[str]:
    lines: list[str] = []
    shown = list(section.entries[:cap])
    for group in groups(shown):
        lines.append(group.name[:WIDTH])
        for e in group.entries:
            lines.extend(_text_entry(section.id, e))
    more = section.total - len(shown)
    if more > 0:
        where = f": {wiki_url}" if wiki_url else ""
        lines.extend(wrap(f"... {more} more on the wiki page{where}", indent="  "))
    if not section.entries:
        lines.append("  (none)")
    return lines


def _title(title: str) -> str:
    return title[:1].upper() + title[1:]


def excluded_text(model: DigestModel) -> str:
    if not model.counts.excluded:
        return "excluded (not community): 0"
    parts = [f"{inert(e.label, 40)} {inert(e.organisation or '?', 60)} {e.count}"
             for e in model.counts.excluded]
    return f"excluded (not community): {model.counts.excluded_total}: " + ", ".join(parts)


def response_lines(model: DigestModel) -> list[str]:
    """The response-time sentences wrapped for the text part."""
    return [line for sentence in response_sentences(model)
            for line in wrap(sentence, indent="  ")]


def response_sentences(model: DigestModel) -> list[str]:
    r = model.response
    oldest = (f" (oldest #{r.oldest_unanswered_id}, {r.oldest_unanswered_days} d)"
              if r.oldest_unanswered_id is not None else "")
    this = "n/a" if r.median_hours_this_week is None else f"{r.median_hours_this_week} h"
    before = "n/a" if r.median_hours_before is None else f"{r.median_hours_before} h"
    return [
        f"community bugs with no human response: {r.unanswered}{oldest}",
        f"median filing to first response: {this} this week ({_bugs(r.responses_this_week)}), "
        f"{before} in the 8 weeks before ({_bugs(r.responses_before)})",
    ]


def _bugs(n: int) -> str:
    return f"{n} bug" if n == 1 else f"{n} bugs"


def headline(model: DigestModel) -> str:
    c = model.counts
    return (f"{count_text('open', c.open)}, {count_text('new', c.new)}, "
            f"{count_text('fixed', c.fixed)}, {count_text('claimed', c.claimed)}")


def subject(model: DigestModel, prefix: str = "") -> str:
    """Only the week and numbers: no user-controlled text ever reaches the subject."""
    c = model.counts
    quiet = "" if model.changed else ", no change"
    return (f"{prefix}[xen-bugs] Week {model.week}: {c.open.value} open, {c.new.value} new, "
            f"{c.fixed.value} fixed{quiet}")


def _common(model: DigestModel, cap: int, wiki_url: str, optout: str) -> dict[str, Any]:
    return {"model": model, "optout": optout, "cap": cap, "wiki_url": wiki_url,
            "headline": headline(model),
            "headline_lines": wrap(headline(model), indent="  "),
            "excluded": excluded_text(model),
            "excluded_lines": wrap(excluded_text(model), indent="    ", first="  "),
            "response": response_lines(model),
            "response_sentences": response_sentences(model),
            "as_of": f"{model.as_of:%Y-%m-%d %H:%M} UTC"}


def render_text(model: DigestModel, *, cap: int, wiki_url: str = "", short: bool = False,
                optout: str = "no-nag") -> str:
    preface = [line for para in model.preface.splitlines()
               for line in (wrap(inert(para, 2000)) if para.strip() else [""])]
    sections = [] if short else [
        {"title": f"{_title(s.title)} ({s.total})",
         "lines": _section_lines(s, cap, wiki_url)} for s in model.sections]
    text = environment(html=False).get_template("digest.txt.j2").render(
        **_common(model, cap, wiki_url, inert(optout, 40)), preface=preface,
        sections=sections, short=short,
        trend=[f"  {t.week:<10} {t.open:>6} {t.new:>6} {t.fixed:>6}" for t in model.trend],
        previous=_previous_lines(model))
    # "-- " (with its space) is the signature separator mail readers know; nothing else ends
    # in a space.
    return "\n".join(line if line == "-- " else line.rstrip() for line in text.splitlines()) + "\n"


def _previous_lines(model: DigestModel) -> list[str]:
    if model.previous is None:
        return ["This is the first digest: nothing to compare with."]
    p = model.previous
    ref = p.url or p.message_id
    return wrap(f"Marks compare with the digest of {p.week}: {ref}")


def render_html(model: DigestModel, *, cap: int, wiki_url: str = "", chart: bool = True,
                short: bool = False, optout: str = "no-nag") -> str:
    sections = [] if short else [
        {"section": s, "title": f"{_title(s.title)} ({s.total})",
         "groups": [{"name": g.name, "rows": [
             {"e": e, "summary": inert(e.summary), "details": details(s.id, e),
              "link": model.link(e.bug_id)} for e in g.entries]}
             for g in groups(list(s.entries[:cap]))],
         "more": max(0, s.total - cap)} for s in model.sections]
    return environment(html=True).get_template("digest.html.j2").render(
        **_common(model, cap, wiki_url, inert(optout, 40)), sections=sections, short=short,
        preface=[inert(p, 2000) for p in model.preface.split("\n\n") if p.strip()],
        chart_cid=CHART_CID if chart else "", previous=_previous_lines(model))
