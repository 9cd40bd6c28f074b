"""The revision a build of a tree is of, for runs that no change triggered (forced, nightly).

A change-triggered build has its change's revision. A forced or nightly run names none, so
Buildbot would record an empty source stamp: its grid and console views (which match builds to
*changes* through the source stamp) stay empty, and nobody can say which code a result is for.
The farm therefore stamps such runs with the tree's revision, taken when the run is scheduled:

- a git tree (``url``): the branch head, ``git ls-remote <url> refs/heads/<branch>``;
- a local tree (``path``) that is the top of a git checkout: ``git rev-parse HEAD``, with
  ``-dirty`` appended when the work tree differs from it;
- any other local tree (the fixture tree lives inside this repository, not in a checkout of its
  own): a content hash, ``content-`` + the SHA-1 over every file's relative path and bytes in
  sorted order (the files git would track when the tree is inside a work tree, so ignored build
  output does not count; else every file outside dot-directories). The same files give the
  same revision on any machine; any edit gives a new one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from farm.matrix import Tree

CONTENT_PREFIX = "content-"


def _tree_files(root: Path) -> list[str]:
    """The tree's files, relative. Inside a git work tree: what git would track (ignored build
    output left in the tree must not change the revision); else every file but dot-dirs."""
    listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "."],
                  cwd=root)
    if listed is not None:
        return sorted(p for p in listed.split("\0") if p and (root / p).is_file())
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Dot-directories are VCS and tool state, never tree content.
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        out += [(Path(dirpath) / n).relative_to(root).as_posix() for n in filenames
                if (Path(dirpath) / n).is_file()]
    return sorted(out)


def content_revision(root: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for rel in _tree_files(root):
        digest.update(rel.encode() + b"\0")
        digest.update((root / rel).read_bytes())
        digest.update(b"\0")
    return CONTENT_PREFIX + digest.hexdigest()


def _git(args: list[str], cwd: Path | None = None, timeout: float = 60) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def tree_revision(tree: Tree) -> str | None:
    """The tree's current revision, or None when it cannot be known (unreachable remote)."""
    if tree.url is not None:
        out = _git(["ls-remote", tree.url, f"refs/heads/{tree.branch}"])
        return out.split()[0] if out else None
    if tree.path is None or not tree.path.is_dir():
        return None
    top = _git(["rev-parse", "--show-toplevel"], cwd=tree.path)
    if top and Path(top).resolve() == tree.path.resolve():
        head = _git(["rev-parse", "HEAD"], cwd=tree.path)
        if head:
            dirty = _git(["status", "--porcelain"], cwd=tree.path)
            return head + ("-dirty" if dirty else "")
    return content_revision(tree.path)
