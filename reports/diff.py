"""What changed since the last digest that was sent (pure).

Each entry gets a mark against the stored model of that digest: ``[NEW]`` (in no section then),
``[CLAIMED]`` (claimed now, not then), ``[FIXED]`` (fixed this week), ``[MOVED: a -> b]`` (another
section then); counts get their deltas (``open 42 (+5 -3)``: five bugs joined the open set, three
left it). Without a previous digest nothing is marked: everything would be "new".
"""

from __future__ import annotations

from dataclasses import replace

from reports.model import (
    PLACES,
    SECTIONS,
    Count,
    DigestModel,
    PreviousDigest,
    Section,
    model_from_dict,
)
from triage.store.digests import StoredDigest


def _places(model: DigestModel) -> dict[int, str]:
    out: dict[int, str] = {}
    for section in model.sections:
        if section.id in PLACES:
            for e in section.entries:
                out.setdefault(e.bug_id, section.id)
    return out


def _mark(section_id: str, bug_id: int, before: dict[int, str], seen_before: set[int]) -> str:
    if section_id == "fixed":
        return "FIXED"
    was = before.get(bug_id)
    if section_id == "new":
        return "NEW" if bug_id not in seen_before else ""
    if was is None:
        return "CLAIMED" if section_id == "claimed" else "NEW"
    if was == section_id:
        return ""
    if section_id == "claimed":
        return "CLAIMED"
    return f"MOVED: {SECTIONS[was]} -> {SECTIONS[section_id]}"


def _delta(now: set[int], then: set[int], value: int) -> Count:
    return Count(value, added=len(now - then), removed=len(then - now))


def apply_previous(model: DigestModel, stored: StoredDigest | None, archive_url: str = ""
                   ) -> DigestModel:
    if stored is None or not stored.model:
        return model
    previous = model_from_dict(stored.model)
    before = _places(previous)
    seen_before = set(before) | set(previous.open_ids) | {
        e.bug_id for s in previous.sections for e in s.entries}
    sections = tuple(
        Section(s.id, s.title, tuple(replace(e, mark=_mark(s.id, e.bug_id, before, seen_before))
                                     for e in s.entries))
        for s in model.sections)
    c, pc = model.counts, previous.counts
    counts = replace(
        c, open=_delta(set(model.open_ids), set(previous.open_ids), c.open.value),
        new=Count(c.new.value, added=max(0, c.new.value - pc.new.value),
                  removed=max(0, pc.new.value - c.new.value)),
        fixed=Count(c.fixed.value, added=max(0, c.fixed.value - pc.fixed.value),
                    removed=max(0, pc.fixed.value - c.fixed.value)),
        claimed=_delta(set(model.claimed_by), set(previous.claimed_by), c.claimed.value))
    url = archive_url.replace("{message_id}", stored.message_id.strip("<>")) \
        if archive_url and stored.message_id else ""
    now_places = _places(replace(model, sections=sections))
    changed = (now_places != before or set(model.open_ids) != set(previous.open_ids)
               or any(e.mark for s in sections for e in s.entries))
    return replace(model, sections=sections, counts=counts, changed=changed,
                   previous=PreviousDigest(previous.week, stored.message_id, url))
