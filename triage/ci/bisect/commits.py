"""The commits of a git repository in history order, and the app paired with each (git CLI).

``CommitLog.between(old, new)`` is ``old..new`` along first parents, oldest first: topology,
never dates (commits are applied in batches with equal or older dates). A merge on the first
parent line stands for the branch it merged, as one step; ``old`` must be an ancestor of
``new``. An app or external library with its own repository is paired by time, the only order
two repositories share: each tree commit gets the newest app commit whose committer date is not
later than the tree commit's (``AppPairing``); the outcome says so.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from triage.ci.bisect.model import Commit

_SEP = "\x1f"
_FORMAT = _SEP.join(("%H", "%s", "%an <%ae>", "%aI", "%ct"))


class CommitLogError(Exception):
    """A revision that does not exist, a range that is not one, git failing."""


@dataclass(frozen=True)
class LoggedCommit:
    commit: Commit
    committed: int  # committer time (epoch seconds), for pairing only


def git(repo: Path, *args: str, error: type[Exception] = CommitLogError,
        timeout: float = 120) -> str:
    """``git -C repo args`` and its output; a failure, a timeout or a missing git raises
    ``error`` with git's last line (the bisection's one way to run git)."""
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"git {args[0]} in {repo}: {exc}") from None
    if out.returncode != 0:
        msg = out.stderr.strip().splitlines()
        raise error(f"git {args[0]} in {repo}: {msg[-1] if msg else 'failed'}")
    return out.stdout


class CommitLog:
    def __init__(self, repo: Path, url_template: str = "") -> None:
        self.repo, self.url_template = Path(repo), url_template
        self._checked = False

    def resolve(self, rev: str) -> str:
        """The full commit id of ``rev`` (a tag, branch or abbreviated id)."""
        if not rev or rev.startswith("-"):
            raise CommitLogError(f"not a revision: {rev!r}")
        if not self._checked:
            git(self.repo, "rev-parse", "--git-dir")  # "not a git repository" said plainly
            self._checked = True
        try:
            full = git(self.repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
                        f"{rev}^{{commit}}").strip()
        except CommitLogError:
            full = ""
        if not full:
            raise CommitLogError(f"{rev!r} is not a commit of {self.repo}")
        return full

    def commit(self, rev: str) -> Commit:
        return self._parse(git(self.repo, "log", "-1", f"--format={_FORMAT}",
                                self.resolve(rev)))[0].commit

    def between(self, old: str, new: str) -> list[Commit]:
        """``old..new`` along first parents, oldest first: excludes ``old``, ends with ``new``."""
        old_id, new_id = self.resolve(old), self.resolve(new)
        check = subprocess.run(["git", "-C", str(self.repo), "merge-base", "--is-ancestor",
                                old_id, new_id], capture_output=True, stdin=subprocess.DEVNULL,
                               check=False)
        if check.returncode != 0:
            raise CommitLogError(f"{old} is not an ancestor of {new}: no range to bisect")
        text = git(self.repo, "log", "--first-parent", "--reverse", f"--format={_FORMAT}",
                    f"{old_id}..{new_id}")
        commits = [c.commit for c in self._parse(text)]
        if not commits or commits[-1].id != new_id:
            # old is an ancestor of new but not on its first-parent line (it was merged in).
            raise CommitLogError(f"{old} is not on the first-parent history of {new}")
        return commits

    def logged(self, rev: str = "HEAD") -> list[LoggedCommit]:
        """Every commit reachable from ``rev`` along first parents, oldest first."""
        return self._parse(git(self.repo, "log", "--first-parent", "--reverse",
                                f"--format={_FORMAT}", self.resolve(rev)))

    def _parse(self, text: str) -> list[LoggedCommit]:
        out = []
        for line in text.splitlines():
            if not line:
                continue
            cid, subject, author, date, ct = line.split(_SEP)
            url = self.url_template.replace("{id}", cid) if self.url_template else ""
            out.append(LoggedCommit(Commit(cid, subject, author, date, url), int(ct)))
        return out


@dataclass(frozen=True)
class AppPairing:
    """Pairs tree commits with the newest app commit not later than each (committer dates)."""

    name: str
    app: Sequence[LoggedCommit]  # the app's history, oldest first

    @classmethod
    def of(cls, name: str, repo: Path, rev: str = "HEAD") -> AppPairing:
        return cls(name, CommitLog(repo).logged(rev))

    def pair(self, tree_commit_time: int) -> str:
        """The app commit for a tree commit committed at ``tree_commit_time`` ("" if the app's
        history starts later: then its oldest commit, the nearest there is)."""
        if not self.app:
            return ""
        # The app's own history may have out-of-order dates too: take the newest by position
        # among those not later than the tree commit.
        times = [c.committed for c in self.app]
        newest = -1
        for i, t in enumerate(times):
            if t <= tree_commit_time:
                newest = i
        return self.app[max(newest, 0)].commit.id

    def describe(self) -> str:
        return (f"{self.name} paired by commit time: each tree commit with the newest {self.name} "
                "commit not later than it")


def committed_times(log: CommitLog, commits: Sequence[Commit]) -> dict[str, int]:
    """Committer times of ``commits`` (one git call)."""
    if not commits:
        return {}
    text = git(log.repo, "show", "-s", f"--format={_FORMAT}", *[c.id for c in commits])
    return {c.commit.id: c.committed for c in log._parse(text)}

