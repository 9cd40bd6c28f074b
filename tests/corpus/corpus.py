"""The labelled completeness corpus: load it as Bugs, score the checklist against the labels.

Shared by the scoring test (``tests/corpus/test_corpus_scores.py``) and the benchmark
(``bench/bench_completeness.py``), so both print the same figures.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from triage.completeness.checklist import DEFAULT_CHECKLISTS, Assessment, assess, checklist_for
from triage.model import Attachment, Bug, Comment

HERE = Path(__file__).resolve().parent
TUNING = HERE / "tuning.toml"
HELDOUT = HERE / "heldout.toml"
HELDOUT2 = HERE / "heldout2.toml"
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
ACCOUNTS = ("community", "corporate", "project", "bot")


@dataclass(frozen=True)
class Case:
    id: str
    bug: Bug
    missing: frozenset[str]
    account: str = "community"
    note: str = ""


def _bug(n: int, raw: dict[str, object]) -> Bug:
    reporter = str(raw["reporter"])
    created = T0 + timedelta(days=n)
    comments = [Comment(id=n * 100, bug_id=n, count=0, author=reporter,
                        text=str(raw["description"]), creation_time=created)]
    for i, c in enumerate(raw.get("comments", ()), start=1):  # type: ignore[call-overload]
        who = reporter if c["by"] == "reporter" else str(c["by"])
        comments.append(Comment(id=n * 100 + i, bug_id=n, count=i, author=who, text=c["text"],
                                creation_time=created + timedelta(hours=i)))
    attachments = []
    for i, a in enumerate(raw.get("attachments", ()), start=1):  # type: ignore[call-overload]
        who = reporter if a["by"] == "reporter" else str(a["by"])
        attachments.append(Attachment(
            id=n * 10 + i, bug_id=n, file_name=a["file_name"], summary=a.get("summary", ""),
            content_type=a.get("content_type", "text/plain"), creator=who,
            creation_time=created + timedelta(minutes=i), is_patch=a.get("is_patch", False)))
    return Bug(id=n, summary=str(raw["summary"]), product=str(raw["product"]),
               component=str(raw["component"]), status="UNCONFIRMED", creator=reporter,
               creation_time=created, last_change_time=created,
               version=str(raw.get("version_field", "unspecified")),
               comments=tuple(comments), attachments=tuple(attachments))


def load(path: Path = TUNING, first_id: int = 1) -> list[Case]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    cases = []
    seen: set[str] = set()
    for n, raw in enumerate(data["report"], start=first_id):
        if raw["id"] in seen:
            raise ValueError(f"{path.name}: duplicate id {raw['id']}")
        seen.add(raw["id"])
        bug = _bug(n, raw)
        _, items = checklist_for(DEFAULT_CHECKLISTS, bug.product, bug.component)
        missing = frozenset(raw["missing"])
        unknown = missing - set(items)
        if unknown:
            raise ValueError(f"{path.name}: {raw['id']}: {sorted(unknown)} not on its checklist")
        account = str(raw.get("account", "community"))
        if account not in ACCOUNTS:
            raise ValueError(f"{path.name}: {raw['id']}: unknown account class {account}")
        cases.append(Case(raw["id"], bug, missing, account, str(raw.get("note", ""))))
    return cases


@dataclass
class ItemScore:
    tp: int = 0  # predicted missing, labelled missing
    fp: int = 0  # predicted missing, labelled present (asks for what was given)
    fn: int = 0  # predicted present, labelled missing

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Scores:
    items: dict[str, ItemScore] = field(default_factory=dict)
    exact: int = 0
    total: int = 0
    wrong: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    @property
    def micro(self) -> ItemScore:
        out = ItemScore()
        for s in self.items.values():
            out.tp += s.tp
            out.fp += s.fp
            out.fn += s.fn
        return out

    @property
    def micro_f1(self) -> float:
        m = self.micro
        p, r = m.precision, m.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def exact_rate(self) -> float:
        return self.exact / self.total if self.total else 0.0

    def table(self, title: str) -> str:
        lines = [f"{title}: {self.total} reports",
                 f"  {'item':16} {'P(missing)':>10} {'R(missing)':>10}   tp  fp  fn"]
        for name, s in sorted(self.items.items()):
            lines.append(f"  {name:16} {s.precision:10.3f} {s.recall:10.3f} "
                         f"{s.tp:4d}{s.fp:4d}{s.fn:4d}")
        m = self.micro
        lines.append(f"  micro: P {m.precision:.3f} R {m.recall:.3f} F1 {self.micro_f1:.3f}; "
                     f"exact missing-set match {self.exact}/{self.total} "
                     f"({100 * self.exact_rate:.1f} %)")
        for cid, extra, lacking in self.wrong:
            lines.append(f"  ! {cid}: asked for given {extra}; missed {lacking}")
        return "\n".join(lines)


def score(cases: Iterable[Case], assessments: Sequence[Assessment] | None = None) -> Scores:
    scores = Scores()
    cases = list(cases)
    results = assessments or [assess(c.bug, DEFAULT_CHECKLISTS) for c in cases]
    for case, result in zip(cases, results, strict=True):
        predicted = set(result.missing)
        for name in (*result.present, *result.missing):
            s = scores.items.setdefault(name, ItemScore())
            if name in predicted and name in case.missing:
                s.tp += 1
            elif name in predicted:
                s.fp += 1
            elif name in case.missing:
                s.fn += 1
        scores.total += 1
        if predicted == set(case.missing):
            scores.exact += 1
        else:
            scores.wrong.append((case.id, sorted(predicted - case.missing),
                                 sorted(case.missing - predicted)))
    return scores
