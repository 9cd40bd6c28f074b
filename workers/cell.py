"""One matrix cell from fragment to verdict: ``python -m workers.cell --spec-json '{...}'``.

The farm runs each cell as this single worker-side command (write the Kconfig fragment,
``defconfig``, check the ``.config``, incremental ``make``, boot) instead of one Buildbot step per
phase: Buildbot's fixed cost per step and per remote command (database writes, events, round
trips) was larger than a fixture cell's whole build. The same command, copied from a build's
log header, reproduces a cell by hand on any machine with the tree.

Output: each phase starts with ``XENTRIAGE-PHASE <name>``; make's and the guest console's
output follow as they arrive; the last line is ``XENTRIAGE-CELL-RESULT {json}`` (a
:class:`CellResult`). Exit codes: 0 passed; 1 failed (build-failed, boot-failed, timeout);
3 not verified (unsupported, boot-skipped); 4 error (bad spec, the runner itself failed).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

from workers import boot as boot_mod
from workers import kconfig_check
from workers.process import CONTINUE, run_streaming

PHASE_MARKER = "XENTRIAGE-PHASE "
RESULT_MARKER = "XENTRIAGE-CELL-RESULT "
FRAGMENT_NAME = "xentriage.fragment"
CONSOLE_NAME = "console.log"

# cell_result values, in the words the result table and the triage service use.
PASSED, BUILD_FAILED, BOOT_FAILED, BOOT_TIMEOUT = "passed", "build-failed", "boot-failed", "timeout"
UNSUPPORTED, BOOT_SKIPPED, ERROR = "unsupported", "boot-skipped", "error"
EXIT_CODES = {PASSED: 0, BUILD_FAILED: 1, BOOT_FAILED: 1, BOOT_TIMEOUT: 1,
              UNSUPPORTED: 3, BOOT_SKIPPED: 3, ERROR: 4}

# The first compiler/linker/make error is the build failure's signature (DESIGN §4 CI→Bugzilla).
_BUILD_ERROR_RE = re.compile(r"(error:|Error \d+|undefined reference|No rule to make target)")


@dataclass(frozen=True)
class CellSpec:
    """Everything the worker needs, rendered by the master from the matrix (farm.fragments)."""

    name: str
    build_dir: str  # persistent per cell: incremental make across builds
    fragment: str  # the Kconfig fragment's text
    defconfig: list[str]  # argv; passes UK_DEFCONFIG=<build_dir>/FRAGMENT_NAME
    build: list[str]  # argv: make ... -jN
    image_glob: str  # relative to build_dir
    boot: list[str]  # workers.boot options, without the image
    kconfig_root: str
    kconfig_app: str | None = None
    kconfig_libs: list[str] = field(default_factory=list)
    path_prepend: list[str] = field(default_factory=list)  # e.g. /usr/lib/ccache
    build_timeout: float = 900.0

    @classmethod
    def from_json(cls, text: str) -> CellSpec:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("the cell spec must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ValueError(f"unknown cell spec key {unknown[0]!r}")
        missing = sorted(f.name for f in fields(cls) if f.name not in doc
                         and f.default is MISSING and f.default_factory is MISSING)
        if missing:
            raise ValueError(f"cell spec lacks {missing[0]!r}")
        return cls(**doc)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


@dataclass
class CellResult:
    cell: str
    cell_result: str = ERROR
    result_reason: str = ""
    phase: str = "configure"  # the last phase that ran
    configure_seconds: float | None = None
    build_seconds: float | None = None
    image_size: int | None = None
    image_path: str | None = None
    boot_status: str | None = None
    boot_seconds: float | None = None  # the guest's time to its verdict
    boot_wall_seconds: float | None = None  # the whole boot phase, VMM start/teardown included
    dropped: list[dict[str, Any]] = field(default_factory=list)

    def line(self) -> str:
        return RESULT_MARKER + json.dumps(asdict(self), sort_keys=True)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.cell_result, 4)

    def finish(self, cell_result: str, reason: str) -> CellResult:
        self.cell_result, self.result_reason = cell_result, reason[:500]
        return self


def first_build_error(lines: Sequence[str]) -> str:
    for line in lines:
        if _BUILD_ERROR_RE.search(line):
            return line.strip()[:300]
    stripped = [ln.strip() for ln in lines if ln.strip()]
    return stripped[-1][:300] if stripped else "no output"


class _Relay:
    """Copies a command's merged output to ``out`` and keeps what a verdict needs: the first
    error-looking line and the last lines (the whole log stays on the master)."""

    def __init__(self, out: TextIO, keep: int = 40) -> None:
        self.out, self.keep = out, keep
        self.first_error: str | None = None
        self.tail: list[str] = []

    def __call__(self, line: str) -> bool:
        self.out.write(line + "\n")
        if self.first_error is None and _BUILD_ERROR_RE.search(line):
            self.first_error = line.strip()[:300]
        self.tail.append(line)
        if len(self.tail) > self.keep:
            del self.tail[0]
        return CONTINUE

    def error(self) -> str:
        return self.first_error or first_build_error(self.tail)


def _run(argv: Sequence[str], relay: _Relay, timeout: float,
         env: Mapping[str, str]) -> tuple[int | None, bool]:
    try:
        outcome = run_streaming(list(argv), relay, timeout=timeout, env=dict(env))
    except OSError as exc:
        relay(f"cannot run {argv[0]}: {exc.strerror or exc}")
        return 127, False
    return outcome.exit_code, outcome.timed_out


def _phase(out: TextIO, name: str, detail: str) -> None:
    out.write(f"{PHASE_MARKER}{name}: {detail}\n")
    out.flush()


def configure(spec: CellSpec, res: CellResult, out: TextIO, env: Mapping[str, str]) -> bool:
    """Fragment, ``defconfig``, then the check that Kconfig kept every requested symbol."""
    _phase(out, "configure", "fragment, make defconfig, .config check")
    started = time.monotonic()
    build_dir = Path(spec.build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    fragment = build_dir / FRAGMENT_NAME
    fragment.write_text(spec.fragment, encoding="utf-8")
    relay = _Relay(out)
    rc, timed_out = _run(spec.defconfig, relay, spec.build_timeout, env)
    if rc != 0:
        res.configure_seconds = round(time.monotonic() - started, 3)
        what = "timed out" if timed_out else f"exit {rc}"
        res.finish(BUILD_FAILED, f"defconfig failed ({what}): {relay.error()}")
        return False
    try:
        requested = kconfig_check.read_config(spec.fragment)
        values = kconfig_check.read_config((build_dir / ".config").read_text(encoding="utf-8"))
    except OSError as exc:
        res.finish(ERROR, f"kconfig check error: cannot read {exc.filename}: {exc.strerror}")
        return False
    check = kconfig_check.check_tree(
        requested, values, Path(spec.kconfig_root),
        Path(spec.kconfig_app) if spec.kconfig_app else None,
        [Path(lib) for lib in spec.kconfig_libs], out=out, warnings=out)
    res.configure_seconds = round(time.monotonic() - started, 3)
    if check.dropped:
        res.dropped = [asdict(d) for d in check.dropped]
        # Kconfig silently drops a symbol whose dependencies are unmet: the cell cannot be
        # built as asked, which is "unsupported", not a failure of the code under test.
        res.finish(UNSUPPORTED, "unsupported: " + "; ".join(d.reason for d in check.dropped))
        return False
    return True


def build(spec: CellSpec, res: CellResult, out: TextIO, env: Mapping[str, str]) -> bool:
    _phase(out, "build", " ".join(spec.build))
    res.phase = "build"
    relay = _Relay(out)
    started = time.monotonic()
    rc, timed_out = _run(spec.build, relay, spec.build_timeout, env)
    res.build_seconds = round(time.monotonic() - started, 3)
    if rc != 0:
        what = f"timed out after {spec.build_timeout:.0f}s: " if timed_out else ""
        res.finish(BUILD_FAILED, f"build failed: {what}{relay.error()}")
        return False
    images = sorted(p for p in glob.glob(os.path.join(spec.build_dir, spec.image_glob))
                    if os.path.isfile(p))
    if not images:
        res.finish(BUILD_FAILED, "build failed: make succeeded but produced no image matching "
                   f"{spec.image_glob}")
        return False
    res.image_path, res.image_size = images[0], os.path.getsize(images[0])
    out.write(f"image {res.image_path} ({res.image_size} bytes)\n")
    return True


def boot(spec: CellSpec, res: CellResult, out: TextIO) -> None:
    res.phase = "boot"
    assert res.image_path is not None
    try:
        args = boot_mod.parse_args([*spec.boot, res.image_path])
    except SystemExit:  # argparse has printed what is wrong with the options
        res.finish(ERROR, f"bad boot options in the cell spec: {' '.join(spec.boot)}")
        return
    _phase(out, "boot", f"{args.platform}/{args.arch}, timeout {args.timeout:g}s")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="xentriage-boot-") as work, \
            open(Path(spec.build_dir) / CONSOLE_NAME, "w", encoding="utf-8") as console:
        req = boot_mod.request_from_args(args, Path(work))
        verdict = boot_mod.boot(req, timeout=args.timeout, success_lines=args.success_line,
                                out=out, log=console, settle=args.settle)
    out.write(verdict.line() + "\n")
    res.boot_wall_seconds = round(time.monotonic() - started, 3)
    res.boot_status = verdict.status
    if verdict.status != "skipped":
        res.boot_seconds = verdict.boot_seconds
    reason = verdict.reason
    if verdict.status == "passed":
        res.finish(PASSED, "booted" + (f": {reason}" if reason else ""))
    elif verdict.status == "failed":
        res.finish(BOOT_FAILED, f"failed at boot: {reason or 'no success line'}")
    elif verdict.status == "timeout":
        res.finish(BOOT_TIMEOUT, f"boot timed out after {args.timeout:g}s"
                   + (f": {reason}" if reason else ""))
    elif verdict.status == "skipped":
        res.finish(BOOT_SKIPPED, "boot skipped: no capable worker"
                   + (f" ({reason})" if reason else ""))
    else:
        res.finish(ERROR, f"boot error: {reason}")


def run_cell(spec: CellSpec, out: TextIO) -> CellResult:
    res = CellResult(spec.name)
    env = dict(os.environ)
    if spec.path_prepend:
        env["PATH"] = os.pathsep.join([*spec.path_prepend, env.get("PATH", "")])
    if configure(spec, res, out, env) and build(spec, res, out, env):
        boot(spec, res, out)
    return res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m workers.cell",
        description="Configure, build and boot one farm cell; the verdict is the last line.",
        epilog="Exit codes: 0 passed, 1 failed, 3 not verified (unsupported, boot skipped), "
               "4 error.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec-json", metavar="JSON", help="the cell spec itself")
    src.add_argument("--spec", type=Path, metavar="FILE", help="a file holding the cell spec")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return 4 if exc.code else 0
    try:
        text = args.spec_json if args.spec_json is not None else args.spec.read_text("utf-8")
        spec = CellSpec.from_json(text)
    except (OSError, ValueError, TypeError) as exc:
        res = CellResult("?").finish(ERROR, f"bad cell spec: {exc}")
        print(res.line(), flush=True)
        return res.exit_code
    out = sys.stdout
    try:
        res = run_cell(spec, out)
    except Exception as exc:  # the verdict line must come out whatever broke
        res = CellResult(spec.name).finish(ERROR, f"cell runner failed: {type(exc).__name__}: "
                                                  f"{exc}")
    out.write(res.line() + "\n")
    out.flush()
    return res.exit_code


if __name__ == "__main__":
    sys.exit(main())
