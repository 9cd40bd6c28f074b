"""Buildbot steps for one cell: configure, check Kconfig, build incrementally, boot.

Every build carries the ``cell`` property (set by the farm's schedulers); the steps look the cell
up in the matrix loaded by master.cfg. Each step classifies its outcome into the build properties
the rest of xentriage reads (``cell_result``, ``result_reason``, ``image_size``,
``build_seconds``, ``boot_seconds``, ``boot_status``), so a reporter never has to parse logs.

Outcomes that are not failures of the code under test are not FAILURE: a cell whose requested
symbols Kconfig dropped is *unsupported* (build result SKIPPED), and an image no worker can boot
is *boot skipped* (build result WARNINGS: built, but not verified).
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from collections.abc import Mapping
from typing import Any

from buildbot.process import buildstep, logobserver
from buildbot.process.results import FAILURE, SKIPPED, SUCCESS, WARNINGS
from twisted.internet import defer

from farm import fragments
from farm.matrix import Cell, FarmSettings

PROP_SOURCE = "xentriage-farm"
KCONFIG_MARKER = "XENTRIAGE-KCONFIG-RESULT "
BOOT_MARKER = "XENTRIAGE-BOOT-RESULT "
IMAGE_MARKER = "XENTRIAGE-IMAGE "
# The first compiler/linker/make error is the build failure's signature (DESIGN §4 CI→Bugzilla).
_BUILD_ERROR_RE = re.compile(r"(error:|Error \d+|undefined reference|No rule to make target)")

# cell_result values, in the words the result table and the triage service use.
PASSED, BUILD_FAILED, BOOT_FAILED, BOOT_TIMEOUT = "passed", "build-failed", "boot-failed", "timeout"
UNSUPPORTED, BOOT_SKIPPED, ERROR = "unsupported", "boot-skipped", "error"


def last_marker_json(text: str, marker: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        idx = line.find(marker)
        if idx >= 0:
            try:
                value = json.loads(line[idx + len(marker):])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def first_build_error(text: str) -> str:
    for line in text.splitlines():
        if _BUILD_ERROR_RE.search(line):
            return line.strip()[:300]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


class CellStepMixin:
    """Access to the build's cell and its worker-side paths."""

    cells: Mapping[str, Cell]
    farm: FarmSettings

    def cell(self) -> Cell:
        name = self.getProperty("cell")  # type: ignore[attr-defined]
        if name not in self.cells:
            raise ValueError(f"build has no known 'cell' property: {name!r}")
        return self.cells[name]

    def finished_already(self) -> bool:
        return self.getProperty("cell_result") is not None  # type: ignore[attr-defined]

    def set_prop(self, name: str, value: Any) -> None:
        self.setProperty(name, value, PROP_SOURCE, runtime=True)  # type: ignore[attr-defined]


class PrepareCell(CellStepMixin, buildstep.BuildStep):
    """Resolve the cell's tree root and persistent build directory on this worker."""

    name = "prepare cell"

    def __init__(self, cells: Mapping[str, Cell], farm: FarmSettings, **kw: Any) -> None:
        self.cells, self.farm = cells, farm
        super().__init__(**kw)

    def run(self):  # type: ignore[no-untyped-def]
        # Master-side only (no remote command, no log): each costs Buildbot database writes.
        cell = self.cell()
        builddir = self.getProperty("builddir")
        if cell.tree.is_git:
            root = posixpath.join(builddir, "trees", cell.tree.name)
        else:
            root = str(cell.tree.path)
        self.set_prop("tree_root", root)
        self.set_prop("cell_dir", posixpath.join(builddir, self.farm.cells_dir, cell.name))
        self.set_prop("platform", cell.platform.name)
        self.set_prop("arch", cell.arch.name)
        self.set_prop("libraries", [lib.name for lib in cell.libraries])
        self.descriptionDone = [cell.name]
        return SUCCESS


class CellShell(CellStepMixin, buildstep.ShellMixin, buildstep.BuildStep):
    """A shell step whose command is computed from the cell; subclasses classify the outcome."""

    def __init__(self, cells: Mapping[str, Cell], farm: FarmSettings, **kw: Any) -> None:
        self.cells, self.farm = cells, farm
        kw = self.setupShellMixin(kw, prohibitArgs=["command"])
        super().__init__(**kw)
        self.output = logobserver.BufferLogObserver(wantStdout=True, wantStderr=True)
        self.addLogObserver("stdio", self.output)

    def command_for(self, cell: Cell, root: str, cell_dir: str) -> list[str] | str:
        raise NotImplementedError

    def classify(self, cell: Cell, rc: int, text: str, seconds: float):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    @defer.inlineCallbacks
    def run(self):  # type: ignore[no-untyped-def]
        cell = self.cell()
        self.command = self.command_for(
            cell, self.getProperty("tree_root"), self.getProperty("cell_dir"))
        cmd = yield self.makeRemoteShellCommand()
        started = time.monotonic()
        yield self.runCommand(cmd)
        seconds = time.monotonic() - started
        text = self.output.getStdout() + self.output.getStderr()
        if cmd.interrupted:
            self.set_prop("cell_result", ERROR)
            self.set_prop("result_reason", f"{self.name}: interrupted")
            return cmd.results()
        result = yield self.classify(cell, cmd.rc, text, seconds)
        return result

    def fail(self, cell_result: str, reason: str, result: int = FAILURE) -> int:
        self.set_prop("cell_result", cell_result)
        self.set_prop("result_reason", reason)
        self.descriptionDone = [reason[:120]]
        return result


class Configure(CellShell):
    """Fragment, ``defconfig`` and the ``.config`` check in one remote command. Kconfig silently
    drops a symbol whose dependencies are unmet: that makes the cell unsupported, not failed."""

    name = "configure"

    def command_for(self, cell: Cell, root: str, cell_dir: str) -> str:
        return fragments.configure_command(cell, root, cell_dir, self.farm.worker_python)

    def classify(self, cell, rc, text, seconds):  # type: ignore[no-untyped-def]
        self.set_prop("configure_seconds", round(seconds, 3))
        if rc == 0:
            return SUCCESS
        if fragments.DEFCONFIG_FAILED in text:
            return self.fail(BUILD_FAILED, f"defconfig failed: {first_build_error(text)}")
        result = last_marker_json(text, KCONFIG_MARKER) or {}
        if rc == 3:
            reason = _dropped_summary(result) or result.get("message") or first_build_error(text)
            self.fail(UNSUPPORTED, f"unsupported: {reason}", SKIPPED)
            # A SKIPPED step does not change the build's result (SKIPPED ranks above SUCCESS in
            # worst_status); the cell as a whole is skipped, so say so on the build itself.
            self.build.results = SKIPPED
            return SKIPPED
        return self.fail(ERROR, f"kconfig check error (exit {rc}): {first_build_error(text)}")


def _dropped_summary(result: Mapping[str, Any]) -> str:
    dropped = result.get("dropped") or []
    parts = []
    for d in dropped:
        if isinstance(d, dict) and d.get("reason"):
            parts.append(str(d["reason"]))
        elif isinstance(d, dict):
            sym = d.get("symbol", "?")
            dep = d.get("unmet") or d.get("depends_on") or d.get("dependency") or "?"
            if isinstance(dep, list):
                dep = ", ".join(str(x) for x in dep)
            parts.append(f"{sym} dropped (unmet dependency {dep})")
        else:
            parts.append(f"{d} dropped")
    return "; ".join(parts)


class BuildImage(CellShell):
    """Incremental make in the cell's persistent build directory; records the image size."""

    name = "build"

    def command_for(self, cell: Cell, root: str, cell_dir: str) -> str:
        return fragments.build_command(cell, root, cell_dir, self.farm, self.farm.ccache)

    def classify(self, cell, rc, text, seconds):  # type: ignore[no-untyped-def]
        self.set_prop("build_seconds", round(seconds, 3))
        if rc != 0:
            return self.fail(BUILD_FAILED, f"build failed: {first_build_error(text)}")
        images = [ln.split(None, 2) for ln in text.splitlines() if ln.startswith(IMAGE_MARKER)]
        if not images:
            return self.fail(BUILD_FAILED, "build failed: make succeeded but produced no image "
                             f"matching {fragments.image_glob(cell)}")
        _, size, path = images[0]
        self.set_prop("image_size", int(size))
        self.set_prop("image_path", path)
        return SUCCESS


class BootImage(CellShell):
    """Boot through workers.boot; exit 3 (no capable booter) is a skip, not a failure."""

    name = "boot"

    def command_for(self, cell: Cell, root: str, cell_dir: str) -> list[str]:
        cmd = [self.farm.worker_python, "-m", "workers.boot",
               "--platform", cell.platform.boot_platform, "--arch", cell.arch.name,
               "--timeout", str(cell.boot_timeout),
               "--result-json", posixpath.join(cell_dir, "boot-result.json")]
        for line in cell.success_lines:
            cmd += ["--success-line", line]
        cmd += list(cell.platform.boot_args)
        return [*cmd, self.getProperty("image_path")]

    def classify(self, cell, rc, text, seconds):  # type: ignore[no-untyped-def]
        result = last_marker_json(text, BOOT_MARKER) or {}
        status = str(result.get("status") or {0: "passed", 1: "failed", 2: "timeout",
                                              3: "skipped"}.get(rc, "error"))
        reason = str(result.get("reason") or "")
        self.set_prop("boot_status", status)
        # boot_seconds is the guest's time to its verdict; this is the whole step on the worker
        # (VMM start and teardown included), which is what a farm's capacity planning needs.
        self.set_prop("boot_wall_seconds", round(seconds, 3))
        if result.get("boot_seconds") is not None and status != "skipped":
            self.set_prop("boot_seconds", result["boot_seconds"])
        if rc == 0:
            self.set_prop("cell_result", PASSED)
            self.set_prop("result_reason", "booted" + (f": {reason}" if reason else ""))
            return SUCCESS
        if rc == 1:
            return self.fail(BOOT_FAILED, f"failed at boot: {reason or 'no success line'}")
        if rc == 2:
            return self.fail(BOOT_TIMEOUT,
                             f"boot timed out after {cell.boot_timeout}s" +
                             (f": {reason}" if reason else ""))
        if rc == 3:
            self.fail(BOOT_SKIPPED, "boot skipped: no capable worker" +
                      (f" ({reason})" if reason else ""), WARNINGS)
            return WARNINGS
        return self.fail(ERROR, f"boot error (exit {rc}): {reason or first_build_error(text)}")


def not_finished(step: Any) -> bool:
    """doStepIf: run only while no earlier step has classified the cell."""
    return step.getProperty("cell_result") is None
