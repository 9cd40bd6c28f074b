"""The Buildbot step that runs one cell: ``python -m workers.cell`` as one remote command.

Every build carries the ``cell`` property (set by the farm's schedulers); the step looks the cell
up in the matrix loaded by master.cfg, renders its spec (farm.fragments.cell_spec) and lets the
worker configure, check, build and boot it. Phases are not Buildbot steps of their own: each
step and each remote command costs Buildbot a few dozen database writes and events and two
round trips, more than a small cell's whole build (docs/BENCHMARKS.md, "CI farm").

The step turns the worker's verdict line into the build properties the rest of xentriage reads
(``cell_result``, ``result_reason``, ``image_size``, ``build_seconds``, ``boot_seconds``), so a
reporter never has to parse logs; a failed boot also gets its console as a log of its own.

Outcomes that are not failures of the code under test are not FAILURE: a cell whose requested
symbols Kconfig dropped is *unsupported* and an image no worker can boot is *boot skipped*
(both SKIPPED, the reason in the build's summary); a failure of the worker itself (a missing
host tool, a toolchain too old, a download without network, a runner that died) is
*environment*, Buildbot's EXCEPTION (its infrastructure colour), never a code defect.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from buildbot.process import buildstep, logobserver
from buildbot.process.build import Build
from buildbot.process.results import EXCEPTION, FAILURE, SKIPPED, SUCCESS, worst_status
from twisted.internet import defer

from farm import fragments
from farm.matrix import Cell, FarmSettings
from workers.cell import (
    BOOT_FAILED,
    BOOT_SKIPPED,
    BOOT_TIMEOUT,
    BUILD_FAILED,
    ENVIRONMENT,
    PASSED,
    PHASE_MARKER,
    RESULT_MARKER,
    UNSUPPORTED,
    last_marker_json,
)
from workers.failure.classify import ALIASES

PROP_SOURCE = "xentriage-farm"
BUILDBOT_RESULTS = {PASSED: SUCCESS, BUILD_FAILED: FAILURE, BOOT_FAILED: FAILURE,
                    BOOT_TIMEOUT: FAILURE, UNSUPPORTED: SKIPPED, BOOT_SKIPPED: SKIPPED,
                    ENVIRONMENT: EXCEPTION}
# Verdict fields published as build properties: what the result table, the status view and
# bug reports read. The rest (configure time, boot status, whole boot phase time, image path,
# dropped symbols) stays in the verdict line at the end of the log: each property is one more
# database write per build.
PUBLISHED = ("cell_result", "result_reason", "image_size", "build_seconds", "boot_seconds",
             "signature", "title", "evidence")


def console_section(text: str, truncated: bool = False) -> str:
    """The guest console: the lines of the boot phase, without the verdict lines. ``truncated``:
    ``text`` is only the end of the output, so a console whose start was cut off is all of it."""
    lines = text.splitlines()
    start = next((i for i in range(len(lines) - 1, -1, -1)
                  if lines[i].startswith(PHASE_MARKER + "boot")), None)
    note = []
    if start is None:
        if not truncated:
            return ""
        start, note = -1, ["[the start of the console is only in the stdio log]"]
    body = [ln for ln in lines[start + 1:]
            if not ln.startswith((RESULT_MARKER, "XENTRIAGE-BOOT-RESULT "))]
    return "\n".join(note + body) + "\n"


class TailLogObserver(logobserver.LogObserver):
    """Keeps the last ``limit`` characters of a step's output (stdout and stderr as they came).

    All the step reads is at the end: the verdict line and, before it, the boot console. A
    real tree's build log runs to megabytes, and the master holds this for every running build.
    """

    def __init__(self, limit: int = 512 * 1024) -> None:
        super().__init__()
        self.limit = limit
        self.chunks: list[str] = []
        self.size = 0
        self.truncated = False

    def outReceived(self, data: str) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > 2 * self.limit:  # trim in batches, not on every chunk
            text = self.text()
            self.chunks, self.size, self.truncated = [text], len(text), True

    errReceived = outReceived

    def text(self) -> str:
        joined = "".join(self.chunks)
        if len(joined) <= self.limit:
            return joined
        self.truncated = True
        cut = joined.find("\n", len(joined) - self.limit)  # start at a whole line
        return joined[cut + 1:] if cut >= 0 else joined[-self.limit:]


def tail(text: str, lines: int = 5) -> str:
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
    return " | ".join(kept)[:300] or "no output"


class RunCell(buildstep.ShellMixin, buildstep.BuildStep):
    """Configure, check, build and boot the build's cell in its persistent build directory."""

    name = "cell"

    def __init__(self, cells: Mapping[str, Cell], farm: FarmSettings,
                 boot_expected: frozenset[str] = frozenset(), **kw: Any) -> None:
        self.cells, self.farm, self.boot_expected = cells, farm, boot_expected
        kw = self.setupShellMixin(kw, prohibitArgs=["command"])
        super().__init__(**kw)
        self.output = TailLogObserver()
        self.addLogObserver("stdio", self.output)

    def cell(self) -> Cell:
        name = self.getProperty("cell")
        if name not in self.cells:
            raise ValueError(f"build has no known 'cell' property: {name!r}")
        return self.cells[name]

    def spec_for(self, cell: Cell) -> str:
        builddir = self.getProperty("builddir")
        if cell.tree.is_git:
            root = posixpath.join(builddir, "trees", cell.tree.name)
        else:
            root = str(cell.tree.path)
        cell_dir = posixpath.join(builddir, self.farm.cells_dir, cell.name)
        spec = fragments.cell_spec(cell, root, cell_dir, self.farm,
                                   boot_expected=cell.real_builder in self.boot_expected)
        return spec.to_json()

    @defer.inlineCallbacks
    def run(self):  # type: ignore[no-untyped-def]
        cell = self.cell()
        self.command = [self.farm.worker_python, "-m", "workers.cell",
                        "--spec-json", self.spec_for(cell)]
        cmd = yield self.makeRemoteShellCommand()
        yield self.runCommand(cmd)
        text = self.output.text()
        verdict = last_marker_json(text, RESULT_MARKER)
        # The worker's own verdict, not one made up below for a runner that gave none: what
        # the worker's quarantine counts (farm.quarantine).
        self.build.worker_verdict = (str(verdict.get("cell_result"))
                                     if verdict is not None and not cmd.interrupted else None)
        if cmd.interrupted:
            verdict = {"cell_result": ENVIRONMENT, "result_reason": "interrupted"}
        elif verdict is None:
            # The runner died before its verdict (killed by the step's timeout, a broken
            # worker Python, a worker lost): the farm failed, not the code under test.
            verdict = {"cell_result": ENVIRONMENT,
                       "result_reason": f"no verdict from workers.cell (exit {cmd.rc}): "
                                        f"{tail(text)}"}
        outcome = ALIASES.get(str(verdict.get("cell_result")),
                              str(verdict.get("cell_result") or ENVIRONMENT))
        verdict["cell_result"] = outcome
        for name in PUBLISHED:
            # An empty value (a pass's signature and evidence) is what every reader assumes
            # when the property is missing: not worth a database write.
            if verdict.get(name) not in (None, "", []):
                self.setProperty(name, verdict[name], PROP_SOURCE, runtime=True)
        if outcome != PASSED:
            # CI linking (triage.ci) groups failures by axis: a pass needs none of it.
            self.setProperty("cell_axes", {"tree": cell.tree.name, "app": cell.app.name,
                                           "libset": cell.libset, "platform": cell.platform.name,
                                           "arch": cell.arch.name}, PROP_SOURCE, runtime=True)
        if outcome in (BOOT_FAILED, BOOT_TIMEOUT):
            # The console of a failed boot is what a bug report links to: give it its own log
            # (only then: a log costs Buildbot several database writes per build).
            yield self.addCompleteLog("console", console_section(text, self.output.truncated))
        reason = str(verdict.get("result_reason") or outcome)
        self.descriptionDone = [reason[:120]]
        summary = reason if reason.startswith(outcome) else f"{outcome}: {reason}"
        self.build_summary = summary[:200] if outcome != PASSED else None
        if cmd.interrupted:
            return cmd.results()
        result = BUILDBOT_RESULTS.get(outcome, FAILURE)
        if result == SKIPPED:
            # A SKIPPED step does not change the build's result (SKIPPED ranks above SUCCESS in
            # worst_status); the cell as a whole is skipped, so say so on the build itself.
            self.build.results = SKIPPED
        return result

    build_summary: str | None = None

    @defer.inlineCallbacks
    def getBuildResultSummary(self):  # type: ignore[no-untyped-def]
        """The class and reason on the build itself ("unsupported: CONFIG_PLAT_LINUXU ..."),
        not only on the step: the build summary is what the grid and the console show."""
        summary = yield super().getBuildResultSummary()
        if self.build_summary:
            summary = dict(summary, build=self.build_summary)
        return summary


class CellBuild(Build):
    """Buildbot words a SKIPPED build "build successful"; a cell that was not verified
    (unsupported, boot skipped) must never read as a success. The worker's verdict goes to
    its quarantine count before Buildbot decides on a quarantine (farm.quarantine)."""

    worker_verdict: str | None = None
    # farm.longest_first.LongestFirst of the config (a subclass per config sets it): told of
    # each build's start (its request is no longer pending) and of its duration.
    longest_first: Any = None
    started_clock: float | None = None

    def startBuild(self, workerforbuilder):  # type: ignore[no-untyped-def]
        if self.longest_first is not None:
            self.started_clock = self.master.reactor.seconds()
            for request in self.requests:
                self.longest_first.note_started(self.builder.name, request.id)
        return super().startBuild(workerforbuilder)

    def buildFinished(self, text, results):  # type: ignore[no-untyped-def]
        if (self.longest_first is not None and self.started_clock is not None
                and self.worker_verdict is not None):  # a cell that ran to its verdict
            self.longest_first.record(str(self.getProperty("cell")),
                                      self.master.reactor.seconds() - self.started_clock)
        # By attribute, not isinstance: a reconfig reloads farm.* while the connected workers
        # stay instances of the class they were made with.
        note = getattr(getattr(self.workerforbuilder, "worker", None), "note_verdict", None)
        if callable(note):
            outcome = (ALIASES.get(self.worker_verdict, self.worker_verdict)
                       if self.worker_verdict is not None else None)
            note(outcome, worst_status(self.results, results) == EXCEPTION)
        return super().buildFinished(text, results)

    def allStepsDone(self):  # type: ignore[no-untyped-def]
        if self.results == SKIPPED:
            return self.buildFinished(["skipped", *self.text], self.results)
        return super().allStepsDone()


def cell_step(step_class: type[RunCell], cells: Mapping[str, Cell], farm: FarmSettings,
              boot_expected: frozenset[str]) -> RunCell:
    """The cell's step with the farm's time limits (a farm build's and a bisection step's).

    timeout: seconds without output (a hung make); maxTime: configure and make each get
    build_timeout, the boot its own timeout, plus slack for the VMM's start and teardown."""
    longest_boot = max(c.boot_timeout for c in cells.values())
    return step_class(cells, farm, boot_expected=boot_expected, timeout=farm.build_timeout,
                      maxTime=2 * farm.build_timeout + longest_boot + 120, logEnviron=False,
                      warnOnWarnings=True)

