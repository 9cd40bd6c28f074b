"""The digest model as MediaWiki markup: one sortable wikitable per section, every bug linked,
every section complete (the mail lists only the first entries; the page has them all).

Making user text inert: a summary is first cleaned by :func:`triage.rules.base.sanitize` (one
line: CR/LF gone, no control or bidi-override characters, cut with an ellipsis), then every
character that means something to the wiki parser is written as an HTML character reference:
``<`` ``>`` ``&`` (no tags, no ``</nowiki>``), ``[`` ``]`` (no links, no categories), ``{`` ``}``
(no templates, no parser functions), ``|`` ``!`` (no table cells), ``~`` (no signatures),
``_`` (no ``__NOTOC__``-style magic words), ``'`` (no bold/italic), ``=`` ``*`` ``#`` ``:``
``;`` ``-`` (nothing at a line start can matter, but cells never start a line anyway). The parser
shows references as the characters themselves, so the text stays legible. Long words are
broken by the table's ``word-break`` style instead of overflowing.
"""

from __future__ import annotations

import functools

from reports.model import DigestModel, Entry, Section
from reports.render import count_text, excluded_text, headline, response_sentences
from triage.rules.base import sanitize

SUMMARY_CHARS = 300
_SPECIAL = str.maketrans({c: f"&#{ord(c)};" for c in "&<>[]{}|!~_'=*#:;-\"\\/"})
_TABLE = ('{| class="wikitable sortable" style="table-layout: fixed; width: 100%; '
          'word-break: break-word; overflow-wrap: anywhere;"')


def inert(value: object, limit: int = SUMMARY_CHARS) -> str:
    """User text as wiki markup that renders as exactly that text."""
    text = str(sanitize(value, max_length=limit))
    return text.translate(_SPECIAL)


@functools.lru_cache(maxsize=1024)
def _inert_name(value: str) -> str:
    """Products, components, statuses: a handful of values on thousands of rows."""
    return inert(value, 60)


def _link(model: DigestModel, bug_id: int) -> str:
    # The URL is built from the configured base and an integer: nothing user-controlled.
    return f"[{model.link(bug_id)} #{bug_id}]"


_COLUMNS: dict[str, tuple[str, ...]] = {
    "needs-developer": ("Bug", "Product / component", "Summary", "Status", "Age (days)"),
    "claimed": ("Bug", "Product / component", "Summary", "Claimed by", "Claim age (days)",
                "Stale"),
    "new": ("Bug", "Product / component", "Summary", "Status", "Age (days)"),
    "fixed": ("Bug", "Product / component", "Summary", "Fix reference", "Fixed by"),
    "waiting": ("Bug", "Product / component", "Summary", "Waiting (days)", "Due"),
    "in-review": ("Bug", "Product / component", "Summary", "In review (days)", "Age (days)"),
    "ci-failures": ("Bug", "Product / component", "Summary", "Cells", "Age (days)"),
}


def _cells(section_id: str, e: Entry) -> list[str]:
    mark = f"'''&#91;{inert(e.mark, 80)}&#93;''' " if e.mark else ""
    common = [f"{_inert_name(e.product)} / {_inert_name(e.component)}",
              mark + inert(e.summary)]
    if section_id == "claimed":
        return [*common, inert(e.owner, 120), str(e.claim_age_days or 0),
                "'''stale'''" if e.stale else ""]
    if section_id == "fixed":
        return [*common, inert(e.fix_reference, 200), inert(e.owner, 120)]
    if section_id == "waiting":
        return [*common, str(e.waiting_days or 0), inert(e.due, 80)]
    if section_id == "in-review":
        return [*common, str(e.review_days or 0), str(e.age_days)]
    if section_id == "ci-failures":
        cells = ", ".join(e.cells) + (f"; {e.bisection}" if e.bisection else "")
        return [*common, inert(cells, 460), str(e.age_days)]
    return [*common, _inert_name(e.status), str(e.age_days)]


def _table(model: DigestModel, section: Section) -> list[str]:
    title = section.title[:1].upper() + section.title[1:]
    lines = [f"== {title} ({section.total}) =="]
    if not section.entries:
        return [*lines, "''none''", ""]
    lines += [_TABLE, "! " + " !! ".join(_COLUMNS[section.id])]
    for e in section.entries:
        lines += ["|-", f'| data-sort-value="{e.bug_id}" | {_link(model, e.bug_id)}',
                  *(f"| {cell}" for cell in _cells(section.id, e))]
    return [*lines, "|}", ""]


def render_wiki(model: DigestModel, *, chart_file: str = "") -> str:
    """The whole page. ``chart_file``: the uploaded chart's file name, shown when given."""
    out = [
        "<!-- Written by xentriage from its weekly digest; edits here are replaced. -->",
        f"Week '''{model.week}''', as of {model.as_of:%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    if model.preface.strip():
        out += [inert(p, 2000) for p in model.preface.split("\n\n") if p.strip()]
        out.append("")
    out += ["== Counts ==", f"* {inert(headline(model), 400)}",
            f"* {inert(excluded_text(model), 2000)}",
            *(f"* {inert(line, 400)}" for line in response_sentences(model)), ""]
    out += ["== Trend, last 12 weeks =="]
    if chart_file:
        out.append(f"[[File:{inert(chart_file, 200)}|600px|open, new and fixed bugs per week]]")
    out += ['{| class="wikitable"', "! Week !! Open !! New !! Fixed"]
    for t in model.trend:
        out += ["|-", f"| {t.week} || {t.open} || {t.new} || {t.fixed}"]
    out += ["|}", ""]
    for section in model.sections:
        out += _table(model, section)
    if model.previous is not None:
        ref = model.previous.url or model.previous.message_id
        out.append(f"Marks compare with the digest of {model.previous.week}: {inert(ref, 400)}")
    out += ["",
            "To claim a bug, take it in Bugzilla (assign it to yourself, status IN&#95;PROGRESS) "
            "or reply on the list with <code>#triage claim N</code>."]
    return "\n".join(out) + "\n"


def edit_summary(model: DigestModel) -> str:
    """``week 2026-W49: 5 new, 3 fixed, 2 claimed`` (marks against the last sent digest;
    without one, the week's own counts)."""
    marks = model.marks()
    if model.previous is None:
        c = model.counts
        return (f"week {model.week}: {c.new.value} new, {c.fixed.value} fixed, "
                f"{c.claimed.value} claimed")
    moved = marks.get("MOVED", 0)
    return (f"week {model.week}: {marks.get('NEW', 0)} new, {marks.get('FIXED', 0)} fixed, "
            f"{marks.get('CLAIMED', 0)} claimed" + (f", {moved} moved" if moved else "")
            + f"; {count_text('open', model.counts.open)}")
