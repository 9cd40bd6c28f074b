"""The local step runner: one cell at one commit, built and booted on this machine.

Each slot owns a git worktree of the tree's repository (and of the app's, when the app has its
own repository) and one persistent build directory per cell, under ``bisect.workdir``: a step
checks its commit out in the slot's worktree and runs ``python -m workers.cell`` with the spec
the farm renders (``farm.fragments.cell_spec``, ccache on PATH when the matrix says so), the
very command a farm worker runs. Only the files that differ between two commits get a new
mtime on checkout, so make rebuilds what changed and the slot's ccache serves the rest. The
step's result, signature and title are the worker's verdict line; its log is kept next to the
build directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from farm import fragments
from farm.matrix import Cell, Matrix
from triage.ci.bisect.commits import (
    AppPairing,
    CommitLog,
    CommitLogError,
    committed_times,
    git,
)
from triage.ci.bisect.model import StepRun
from workers.cell import KEEP_CONFIG_ENV, PHASE_MARKER, RESULT_MARKER, last_marker_json
from workers.failure import ENVIRONMENT
from workers.failure.model import ALIASES

PROJECT_ROOT = Path(__file__).resolve().parents[3]  # where `python -m workers.cell` imports from


@dataclass(frozen=True)
class StepTiming:
    """Where one step's wall time went (seconds), for the bisection bench: ``checkout`` (the
    slot's worktrees to the commit), ``spec`` (rendering the cell spec), ``process`` (the whole
    ``workers.cell`` run) and, from its verdict, ``configure``, ``build`` and ``boot``; what the
    process spent outside those three (interpreter start, imports, tool checks) is ``python``."""

    slot: int
    commit: str
    checkout: float
    spec: float
    process: float
    configure: float
    build: float
    boot: float

    @property
    def python(self) -> float:
        return max(0.0, self.process - self.configure - self.build - self.boot)


# Files whose change can change what defconfig makes of the fragment (Kconfig sources, the
# tree's configurator and build glue, saved configurations): any of them changed between two
# commits and the slot's next step configures again. Conservative on purpose: a kept .config
# that Kconfig would now write differently would give a wrong verdict.
_KCONFIG_NAMES = ("Config.uk", "Makefile", "Makefile.uk", "Makefile.rules")


def local_repository(cell: Cell, given: Path | None) -> Path:
    """The tree's repository on this host: the one given (bisect.repository, --tree), else the
    matrix tree's own path."""
    repo = given or cell.tree.path
    if repo is None:
        raise RunnerError(f"tree {cell.tree.name!r} has no local path: give the repository "
                          "(bisect.repository or --tree)")
    return Path(repo).resolve()


def config_inputs_changed(repo: Path, old: str, new: str) -> bool:
    """Whether a file that defconfig reads may differ between commits ``old`` and ``new``."""
    if old == new:
        return False
    try:
        changed = git(repo, "diff", "--name-only", "--no-renames", old, new,
                      error=RunnerError).splitlines()
    except RunnerError:
        return True
    for path in changed:
        name = path.rsplit("/", 1)[-1]
        if (name in _KCONFIG_NAMES or name.startswith(("Kconfig", "Config.")) or
                "config" in name.lower() or path.startswith(("support/", "scripts/"))):
            return True
    return False


def last_phase(log: Path) -> str:
    """The phase a running ``workers.cell`` is in, from its log ("" before the first)."""
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - 65536))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    idx = tail.rfind(PHASE_MARKER)
    if idx < 0:
        return ""
    return tail[idx + len(PHASE_MARKER):].split(":", 1)[0].strip()


class RunnerError(Exception):
    """The runner cannot be set up (unknown cell, no repository, git refusing)."""


class RunnerUnavailable(RunnerError):
    """The runner's builders went away (the farm's master unreachable): the bisection stops
    with an error rather than spending its budget on steps that cannot run."""


def _git(cwd: Path, *args: str) -> None:
    git(cwd, *args, error=RunnerError, timeout=300)  # a checkout of a big tree takes a while


def _is_worktree(where: Path) -> bool:
    out = subprocess.run(["git", "-C", str(where), "rev-parse", "--git-dir"],
                         capture_output=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
    return out.returncode == 0


class LocalRunner:
    """``slots`` steps at once on this machine (one worktree and build directory set each)."""

    def __init__(self, matrix: Matrix, workdir: Path, *, slots: int = 1,
                 repository: Path | None = None, python: str = sys.executable,
                 keep_config: bool = True,
                 slot_cpus: Sequence[frozenset[int]] | None = None) -> None:
        if slots < 1:
            raise RunnerError("a runner needs at least one slot")
        if slot_cpus is not None and (len(slot_cpus) < slots or not all(slot_cpus)):
            raise RunnerError("slot_cpus needs a non-empty CPU set for every slot")
        # Each slot's step (and the make and VMM under it) on these CPUs only: slots that stand
        # for workers of their own, not for more work on the same cores (the benchmark).
        self.slot_cpus = slot_cpus
        self.matrix, self._slots, self.python = matrix, slots, python
        self.workdir = Path(workdir).resolve()
        self._cells: dict[str, Cell] | None = None
        self._repository = repository
        self._lock = threading.Lock()  # git worktree add/prune share the repository's files
        self._runs = 0
        self.last_log: Path | None = None  # the newest step's log (bisect-step prints it)
        self.timings: list[StepTiming] = []  # one per step run, in the order they ended
        self._steps: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}  # running, by slot
        self._checked: set[Path] = set()  # worktrees known to be sound
        self._cancelled: set[int] = set()  # slots whose running step cancel() stopped
        # keep a slot's .config when no Kconfig input changed (False: defconfig every step)
        self.keep_config = keep_config
        self._configured_at: dict[tuple[int, str], tuple[str, str]] = {}  # (slot, cell)

    @property
    def slots(self) -> int:
        return self._slots

    # --- set-up --------------------------------------------------------------------------

    def cell(self, name: str) -> Cell:
        if self._cells is None:
            self._cells = {c.name: c for c in self.matrix.cells()}
        try:
            return self._cells[name]
        except KeyError:
            raise RunnerError(f"no cell {name!r} in the matrix") from None

    def repository(self, cell: Cell) -> Path:
        return local_repository(cell, self._repository)

    def app_repository(self, cell: Cell) -> Path | None:
        """The app's own repository, when its path is outside the tree and under git."""
        app = Path(cell.app.path)
        if not app.is_absolute():
            return None
        try:
            app.resolve().relative_to(self.repository(cell))
            return None
        except ValueError:
            pass
        return app.resolve() if (app / ".git").exists() else None

    def slot_dir(self, cell: Cell, slot: int) -> Path:
        repo = self.repository(cell)
        key = hashlib.sha256(str(repo).encode()).hexdigest()[:10]
        return self.workdir / f"{repo.name}-{key}" / f"slot-{slot}"

    def _worktree(self, repo: Path, where: Path, *, recheck: bool = False) -> Path:
        with self._lock:
            if where in self._checked and not recheck:
                return where  # checked once: a git process under the lock per step is waste
            if (where / ".git").exists() and not _is_worktree(where):
                # Left over from a repository that was pruned, moved or re-cloned: start over.
                shutil.rmtree(where)
            if not (where / ".git").exists():
                where.parent.mkdir(parents=True, exist_ok=True)
                _git(repo, "worktree", "prune")
                _git(repo, "worktree", "add", "--detach", "--force", str(where), "HEAD")
            self._checked.add(where)
        return where

    def _checked_out(self, repo: Path, where: Path, commit: str) -> Path:
        """The slot's worktree at ``commit``; a worktree broken since it was checked (its
        repository entry pruned, say) is made again once."""
        tree = self._worktree(repo, where)
        try:
            self._checkout(tree, commit)
        except RunnerError:
            tree = self._worktree(repo, where, recheck=True)
            self._checkout(tree, commit)
        return tree

    def _checkout(self, tree: Path, commit: str) -> None:
        # --force and clean: a step interrupted half-way must not leak into the next one.
        _git(tree, "checkout", "--quiet", "--force", "--detach", commit)
        _git(tree, "clean", "-ffdq")

    def pairing_text(self, cell_name: str) -> str:
        """How the app's commits were chosen ("" when the app lives in the tree)."""
        cell = self.cell(cell_name)
        app_repo = self.app_repository(cell)
        return AppPairing(cell.app.name, ()).describe() if app_repo else ""

    # --- one step ------------------------------------------------------------------------

    def prepare(self, cell_name: str, commit: str, slot: int) -> tuple[Cell, Path, str]:
        """Check ``commit`` out in the slot's worktree (and the paired app commit in the slot's
        app worktree); the cell as it is built there and the app commit ("" when none)."""
        cell = self.cell(cell_name)
        repo = self.repository(cell)
        tree = self._checked_out(repo, self.slot_dir(cell, slot) / "tree", commit)
        app_commit = ""
        app_repo = self.app_repository(cell)
        if app_repo is not None:
            pairing = AppPairing.of(cell.app.name, app_repo)
            when = committed_times(CommitLog(repo), [CommitLog(repo).commit(commit)])
            app_commit = pairing.pair(next(iter(when.values())))
            app_tree = self._checked_out(app_repo, self.slot_dir(cell, slot) / "app",
                                         app_commit)
            cell = dataclasses.replace(cell, app=dataclasses.replace(cell.app,
                                                                     path=str(app_tree)))
        return cell, tree, app_commit

    def spec_json(self, cell: Cell, tree: Path, slot: int) -> str:
        build_dir = self.slot_dir(cell, slot) / self.matrix.farm.cells_dir / cell.name
        return fragments.cell_spec(cell, str(tree), str(build_dir), self.matrix.farm).to_json()

    def run(self, cell: str, commit: str, slot: int) -> StepRun:
        started = time.monotonic()
        try:
            built, tree, app_commit = self.prepare(cell, commit, slot)
        except (RunnerError, CommitLogError) as exc:
            return StepRun(commit, ENVIRONMENT, title=f"runner: {exc}", worker=f"local/{slot}",
                           seconds=round(time.monotonic() - started, 3))
        # The cell's build directory was configured at the commit its slot last started (the
        # worker's stamp covers a configure killed half-way): no Kconfig input changed since,
        # and the worker keeps that .config instead of running defconfig again.
        base = self._configured_at.get((slot, built.name))
        self._configured_at[(slot, built.name)] = (commit, app_commit)
        keep = self.keep_config and base is not None and base[1] == app_commit and not (
            config_inputs_changed(tree, base[0], commit))
        checked_out = time.monotonic()
        spec = self.spec_json(built, tree, slot)
        rendered = time.monotonic()
        log_dir = self.slot_dir(built, slot) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._runs += 1
            seq = self._runs
        log = log_dir / f"{built.name}-{commit[:12]}-{seq}.log"
        self.last_log = log
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            KEEP_CONFIG_ENV: "1" if keep else "0"}
        timeout = self.matrix.farm.build_timeout * 2 + built.boot_timeout + 60
        with log.open("w", encoding="utf-8") as out:
            pin = ([] if self.slot_cpus is None else
                   ["taskset", "-c", ",".join(map(str, sorted(self.slot_cpus[slot])))])
            proc = subprocess.Popen([*pin, self.python, "-m", "workers.cell", "--spec-json", spec],
                                    stdout=out, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL)
            with self._lock:
                self._steps[slot] = (proc, log)
            try:
                rc: int | None = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()  # its make and VMM die with it (workers.process: PDEATHSIG)
                proc.wait()
                rc = None
            finally:
                with self._lock:
                    self._steps.pop(slot, None)
        ended = time.monotonic()
        with self._lock:
            stopped = slot in self._cancelled
            self._cancelled.discard(slot)
        if stopped:  # the driver drops this run: no verdict, no timing
            return StepRun(commit, ENVIRONMENT, title="runner: stopped, no longer needed",
                           worker=f"local/{slot}", seconds=round(ended - started, 3))
        text = log.read_text(encoding="utf-8", errors="replace")
        verdict = last_marker_json(text, RESULT_MARKER) or {
            "cell_result": ENVIRONMENT,
            "title": f"no verdict from workers.cell ({'timed out' if rc is None else rc})"}
        with self._lock:
            self.timings.append(StepTiming(
                slot, commit, checked_out - started, rendered - checked_out, ended - rendered,
                *(float(verdict.get(k) or 0.0) for k in
                  ("configure_seconds", "build_seconds", "boot_wall_seconds"))))
        result = str(verdict.get("cell_result") or ENVIRONMENT)
        return StepRun(commit=commit, result=ALIASES.get(result, result),
                       signature=str(verdict.get("signature") or ""),
                       title=str(verdict.get("title") or verdict.get("result_reason") or ""),
                       worker=f"local/{slot}", seconds=round(time.monotonic() - started, 3),
                       app_commit=app_commit, build_url="")

    def cancel(self, slot: int) -> bool:
        """Stop the slot's running step because its result is no longer needed (the driver
        then drops it); False when nothing can be stopped now. Never during make: a compiler
        killed mid-write leaves an object newer than its source, which the slot's next
        incremental build would link. Before it (configure) or after it (boot) the persistent
        build directory stays consistent: defconfig is redone by every step."""
        with self._lock:
            running = self._steps.get(slot)
            if running is None or running[0].poll() is not None:
                return False
            proc, log = running
            if last_phase(log) not in ("configure", "boot"):
                return False
            proc.kill()  # make and the VMM are the cell runner's children: PDEATHSIG
            self._cancelled.add(slot)
            return True

    def reproduce(self, cell: str, commit: str) -> str:
        """The command that runs one step by hand (same runner, same verdict)."""
        return f"xentriage ci bisect-step {cell} {commit}"
