"""What the reporter said, and only the reporter: the sources a checklist item may be found in.

A careful triager reads the summary, the description, the reporter's own later comments and the
reporter's attachments (their file name, description and content type: the bot never downloads
attachment data). Other people's comments ("me too", a triager's question that quotes an example
version) and the Bugzilla version drop-down (a required field, so it says nothing) are not the
reporter's evidence and are never read here.

Pure: no I/O. Each source keeps its text and a lower-cased copy computed once (the detectors
search the copy with case-sensitive patterns, several times faster than ``re.IGNORECASE``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from triage.model import Attachment, Bug

# Descriptions longer than this are cut for the detectors (the head and the tail are kept: the
# prose is before and after a pasted log): a careful reader does not need the 30th megabyte of a
# log to know it is a log, and the rule must stay fast.
MAX_SOURCE_CHARS = 200_000
_TAIL_CHARS = 50_000


# Latin letters with the accents of the languages read (Latin-1 and Latin Extended-A).
_WORD = re.compile(r"[a-z\u00e0-\u00ff\u0100-\u017f][a-z0-9\u00e0-\u00ff\u0100-\u017f]*")


@dataclass(frozen=True)
class Source:
    """One place the reporter wrote something."""

    where: str  # "summary", "description", "comment 3", "attachment xl-dmesg.txt"
    text: str
    lower: str = ""
    attachment: Attachment | None = None

    def __post_init__(self) -> None:
        if not self.lower:
            object.__setattr__(self, "lower", self.text.lower())

    @property
    def words(self) -> frozenset[str]:
        """The words of the text (built once, on first use)."""
        cached: frozenset[str] | None = self.__dict__.get("_words")
        if cached is None:
            cached = frozenset(_WORD.findall(self.lower))
            object.__setattr__(self, "_words", cached)
        return cached

    def at(self, words: frozenset[str], pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        """Matches of ``pattern`` anchored where one of ``words`` starts (word by word, each in
        text order: callers want *a* match, and stop at the first good one).

        Detectors with many alternatives look only where one of their first words is, instead
        of trying every alternative at every position (Python's regular expressions do not
        index alternations): the set of the text's words says which are there at all, and a
        one-word pattern (a fast literal search) says where."""
        hits = words.intersection(self.words)
        if not hits:
            return
        low = self.lower
        match = pattern.match
        for w in sorted(hits):
            for found in _word_re(w).finditer(low):
                start = found.start()
                if start and low[start - 1].isalnum():
                    continue  # inside a longer word
                m = match(low, start)
                if m:
                    yield m


_LETTER = "a-z0-9\u00e0-\u00ff\u0100-\u017f"


@functools.lru_cache(maxsize=4096)
def _word_re(word: str) -> re.Pattern[str]:
    # The literal first, so the engine searches for it quickly (a leading look-behind would make
    # it try every position); the start of the word is checked by the caller.
    return re.compile(f"{re.escape(word)}(?![{_LETTER}])")


@dataclass(frozen=True)
class Finding:
    """One checklist item: found or not, and the words that show it (for the follow-up and
    ``xentriage explain``)."""

    item: str
    found: bool
    value: str = ""  # what was understood, e.g. "Xen 4.19.1", "arm64", "a serial log"
    quote: str = ""  # the span of the reporter's words it came from
    where: str = ""  # the source: summary, description, comment N, attachment NAME
    note: str = ""  # why not, when a near miss was seen ("4.17.2 is the version upgraded from")

    def as_dict(self) -> dict[str, object]:
        return {"found": self.found, "value": self.value, "quote": self.quote,
                "where": self.where, "note": self.note}


@dataclass(frozen=True)
class Evidence:
    """The reporter's sources, in reading order, and the non-obsolete attachments by the
    reporter."""

    sources: tuple[Source, ...]
    attachments: tuple[Attachment, ...] = ()
    texts: tuple[Source, ...] = field(default=())  # the sources that are text (not attachments)

    def __post_init__(self) -> None:
        if not self.texts:
            object.__setattr__(self, "texts",
                               tuple(s for s in self.sources if s.attachment is None))

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.texts)


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) <= MAX_SOURCE_CHARS:
        return text
    return text[:MAX_SOURCE_CHARS - _TAIL_CHARS] + "\n\n" + text[-_TAIL_CHARS:]


def gather(bug: Bug, bots: object = ()) -> Evidence:
    """The reporter's own words on ``bug``. ``bots`` is accepted for compatibility: bot
    comments are not the reporter's anyway (unless the bot filed the bug, which the rule
    handles before asking)."""
    reporter = bug.creator.strip().lower()
    sources: list[Source] = [Source("summary", _clean(bug.summary))]
    for c in sorted(bug.comments, key=lambda c: (c.count, c.id)):
        if c.count == 0:
            sources.append(Source("description", _clean(c.text)))
        elif c.author.strip().lower() == reporter and not c.text.startswith("Created attachment"):
            sources.append(Source(f"comment {c.count}", _clean(c.text)))
        elif c.author.strip().lower() == reporter:
            # Bugzilla's "Created attachment N\n<description>" comment: the attachment's own
            # source below says the same with its name; keep any words the reporter added.
            rest = c.text.split("\n", 2)[2:] if c.text.count("\n") >= 2 else []
            if rest and rest[0].strip():
                sources.append(Source(f"comment {c.count}", _clean(rest[0])))
    attachments = tuple(a for a in bug.attachments
                        if not a.is_obsolete and a.creator.strip().lower() == reporter)
    for a in attachments:
        sources.append(Source(f"attachment {a.file_name}",
                              _clean(f"{a.file_name}\n{a.summary}\n{a.content_type}"),
                              attachment=a))
    return Evidence(tuple(sources), attachments)
