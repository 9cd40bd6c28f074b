"""The outcome as text and JSON, and the [bisect] settings (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.ci.bisect import render
from triage.ci.bisect.algorithm import Bisection, Policy
from triage.ci.bisect.driver import assign_slots
from triage.ci.bisect.model import (
    CAUSE,
    FIX,
    FOUND,
    INCONCLUSIVE,
    BisectOutcome,
    BisectRequest,
    Commit,
    StepRun,
)
from triage.config import ConfigError, load_settings
from workers.failure import BOOT_FAILED, BUILD_FAILED, PASSED


def _id(i: int) -> str:
    return f"c{i}".ljust(40, "0")


def _outcome(kind: str = CAUSE, budget: int = 12) -> BisectOutcome:
    line = [Commit(_id(i), f"subject {i} <b>", "Ann <ann@example.org>",
                   "2026-01-01T00:00:00+00:00", f"https://example.org/c/{_id(i)}")
            for i in range(9)]
    req = BisectRequest(kind, "hello-crc-kvm-x86_64", line[0].id, line[-1].id, "sigS")
    b = Bisection(req, line[0], line[1:], Policy(max_builds=budget))
    while batch := b.next_batch(1):
        for c in batch:
            i = int(c.id[1])
            failing = (i >= 3) == (kind == CAUSE)  # commit 4, the first test point, skips
            b.record(StepRun(c.id, BUILD_FAILED, "other") if i == 4 else
                     StepRun(c.id, BOOT_FAILED, "sigS") if failing else StepRun(c.id, PASSED))
    return b.outcome(datetime(2026, 12, 1, tzinfo=UTC), reproduce="xentriage ci bisect-step x y")


def test_text_names_the_commit_pair_confidence_steps_and_reproduce() -> None:
    out = _outcome()
    assert out.status == FOUND
    text = render.render(out)
    assert f"first bad:    {_id(3)}  subject 3 <b>" in text
    assert f"last good:    {_id(2)}" in text
    assert "Ann <ann@example.org>" in text and f"https://example.org/c/{_id(3)}" in text
    assert "confidence:   1.000" in text
    assert "skip   build-failed other" in text
    assert "reproduce:    xentriage ci bisect-step x y" in text
    fix = render.render(_outcome(FIX))
    assert "first fixed:" in fix and "last failing:" in fix
    assert "  fixed  passed" in fix and "  fails  boot-failed sigS" in fix


def test_inconclusive_text_gives_reason_and_candidates() -> None:
    out = _outcome(budget=2)
    assert out.status == INCONCLUSIVE
    text = render.render(out)
    assert "inconclusive: budget spent" in text and "candidates:" in text


def test_json_round_trip() -> None:
    for out in (_outcome(), _outcome(budget=2), _outcome(FIX)):
        doc = render.to_json(out)
        assert doc["finished_at"] == "2026-12-01T00:00:00+00:00"
        assert render.from_json(doc) == out


def test_slots_keep_the_commits_nearest_their_last_build() -> None:
    assert assign_slots([90, 10], [100, 0]) == [(1, 10), (0, 90)]
    assert assign_slots([50], [100, 0]) == [(1, 50)]
    assert sorted(s for s, _ in assign_slots([3, 3], [0, 0])) == [0, 1]


def test_bisect_settings_defaults_and_checks(tmp_path: Path) -> None:
    s = load_settings(None).bisect
    assert (s.enabled, s.max_builds, s.per_day, s.confidence, s.flake_threshold,
            s.max_repeats, s.workers, s.commit_url, s.fix_wait_hours) == (
        True, 12, 4, 0.95, 0.05, 5, 0, "", 24.0)
    assert s.workdir.name == "bisect"
    cfg = tmp_path / "c.toml"
    cfg.write_text('[bisect]\ncommit_url = "https://h/commit/{id}"\nworkdir = "w"\n')
    loaded = load_settings(cfg).bisect
    assert loaded.commit_url == "https://h/commit/{id}" and loaded.workdir == tmp_path / "w"
    for bad, key in (('commit_url = "https://h/commit/"', "bisect.commit_url"),
                     ("confidence = 1.0", "bisect.confidence"),
                     ("max_builds = 0", "bisect.max_builds"),
                     ("max_bulids = 3", "bisect.max_bulids")):
        cfg.write_text(f"[bisect]\n{bad}\n")
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_settings(cfg)
