"""CommitLog on the scripted history (real git): topology order, errors, app pairing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.ukhistory import History, make_history
from triage.ci.bisect.commits import AppPairing, CommitLog, CommitLogError, committed_times


@pytest.fixture(scope="module")
def hist(tmp_path_factory: pytest.TempPathFactory) -> History:
    return make_history(tmp_path_factory.mktemp("commits") / "repo")


def test_between_is_history_order_without_old_ending_with_new(hist: History) -> None:
    log = CommitLog(hist.path, "https://example.org/tree/commit/{id}")
    got = log.between(hist.root, hist.tip)
    assert [c.id for c in got] == list(hist.commits[1:])
    assert got[0].url == f"https://example.org/tree/commit/{hist.commits[1]}"
    assert got[-1].subject == hist.subject(hist.tip)
    assert "<" in got[0].author and got[0].date
    # tags, branches and short ids resolve
    assert log.resolve(hist.breaking[:10]) == hist.breaking
    assert log.between(hist.last_good, "main")[0].id == hist.breaking


def test_history_order_is_not_date_order(hist: History) -> None:
    log = CommitLog(hist.path)
    commits = log.between(hist.root, hist.tip)
    times = committed_times(log, commits)
    by_date = sorted(commits, key=lambda c: times[c.id])
    assert by_date != commits


def test_bad_revisions_and_ranges_are_clear_errors(hist: History, tmp_path: Path) -> None:
    log = CommitLog(hist.path)
    with pytest.raises(CommitLogError, match="is not a commit"):
        log.resolve("no-such-rev")
    with pytest.raises(CommitLogError, match="not a revision"):
        log.resolve("--all")
    with pytest.raises(CommitLogError, match="not an ancestor"):
        log.between(hist.tip, hist.root)
    with pytest.raises(CommitLogError, match="git rev-parse"):
        CommitLog(tmp_path).resolve("HEAD")


def _commit_at(repo: Path, when: int, name: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE":
           f"@{when} +0000", "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.org",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.org"}
    (repo / name).write_text(name)
    subprocess.run(["git", "-C", str(repo), "add", name], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", name], check=True, env=env)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_app_pairing_takes_the_newest_app_commit_not_later(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    subprocess.run(["git", "init", "-q", str(app)], check=True)
    first = _commit_at(app, 1000, "a")
    second = _commit_at(app, 2000, "b")
    third = _commit_at(app, 3000, "c")
    pairing = AppPairing.of("hello", app)
    assert pairing.pair(2500) == second
    assert pairing.pair(2000) == second  # "not later than": equal times pair
    assert pairing.pair(99_999) == third
    assert pairing.pair(10) == first  # before the app existed: its oldest commit
    assert "newest hello commit not later than" in pairing.describe()
