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
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

from workers import boot as boot_mod
from workers import failure, kconfig_check, kinds, preflight
from workers.failure.logformat import ChunkFeeder
from workers.process import CONTINUE, run_streaming

PHASE_MARKER = "XENTRIAGE-PHASE "
RESULT_MARKER = "XENTRIAGE-CELL-RESULT "
FRAGMENT_NAME = "xentriage.fragment"
CONSOLE_NAME = "console.log"
# "1" from a caller that knows no Kconfig input changed since the last configure here (the
# bisection runner, from git; never the farm): that .config is kept, if CONFIGURED_NAME (written
# once a configure and its check succeeded) says it was made from the same spec.
KEEP_CONFIG_ENV = "XENTRIAGE_KEEP_CONFIG"
CONFIGURED_NAME = ".xentriage-configured"

# cell_result values, in the words the result table and the triage service use
# (workers.failure says what each means and picks the cause's line and signature).
PASSED, BUILD_FAILED, BOOT_FAILED, BOOT_TIMEOUT = (failure.PASSED, failure.BUILD_FAILED,
                                                   failure.BOOT_FAILED, failure.BOOT_TIMEOUT)
UNSUPPORTED, BOOT_SKIPPED, ENVIRONMENT = (failure.UNSUPPORTED, failure.BOOT_SKIPPED,
                                          failure.ENVIRONMENT)
ERROR = ENVIRONMENT  # the worker, not the code under test, failed
EXIT_CODES = {PASSED: 0, BUILD_FAILED: 1, BOOT_FAILED: 1, BOOT_TIMEOUT: 1,
              UNSUPPORTED: 3, BOOT_SKIPPED: 3, ENVIRONMENT: 4}


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
    # The master routed this cell to workers that declared they can boot it: if this one then
    # cannot (its QEMU vanished), that is the worker's fault, not "no capable worker".
    boot_expected: bool = False
    # The tree kind (workers.kinds) and its own part of the spec; the Kconfig/make fields
    # above are the Unikraft kind's and stay empty for the others.
    kind: str = "unikraft"
    kind_spec: dict[str, Any] = field(default_factory=dict)

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


def last_marker_json(text: str, marker: str) -> dict[str, Any] | None:
    """The JSON object after the last ``marker`` in ``text`` (a cell's log): how the farm's
    step and the bisection runner read the verdict line ``CellResult.line`` writes."""
    for line in reversed(text.splitlines()):
        idx = line.find(marker)
        if idx >= 0:
            try:
                value = json.loads(line[idx + len(marker):])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


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
    signature: str = ""  # workers.failure: one cause, one signature across cells and workers
    title: str = ""
    evidence: list[str] = field(default_factory=list)
    runner: dict[str, Any] = field(default_factory=dict)  # accel, cpu, memory, extra args

    def line(self) -> str:
        return RESULT_MARKER + json.dumps(asdict(self), sort_keys=True)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.cell_result, 4)

    def finish(self, cell_result: str, reason: str) -> CellResult:
        self.cell_result, self.result_reason = cell_result, reason[:500]
        if not self.title:
            self.title = reason[:300]
        return self

    def classified(self, found: failure.Classification, reason: str | None = None
                   ) -> CellResult:
        """Take the class, signature, title and evidence the log's classifier found."""
        self.signature, self.title, self.evidence = found.signature, found.title, found.evidence
        return self.finish(found.cls, reason or found.title)


class _Relay:
    """Copies a command's merged output to ``out`` and feeds it to the cell's classifier a
    chunk at a time, which keeps what a verdict needs (the cause and a few lines around it)."""

    def __init__(self, out: TextIO, clf: failure.LogClassifier) -> None:
        self.out, self.feeder = out, ChunkFeeder(clf)

    def __call__(self, line: str) -> bool:
        self.out.write(line + "\n")
        self.feeder.line(line)
        return CONTINUE


class _Tee:
    """A text stream for the boot runner: the console goes to ``out`` and, line by line, to
    the classifier (the first error a failed guest printed is its cause)."""

    def __init__(self, out: TextIO, clf: failure.LogClassifier) -> None:
        self.out, self.clf, self.partial = out, clf, ""

    def write(self, text: str) -> int:
        self.out.write(text)
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            if not line.startswith(boot_mod.RESULT_MARKER):
                self.clf.feed(line)
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def _run(argv: Sequence[str], relay: _Relay, timeout: float,
         env: Mapping[str, str], cwd: str | None = None) -> tuple[int | None, bool]:
    try:
        try:
            outcome = run_streaming(list(argv), relay, timeout=timeout, env=dict(env), cwd=cwd)
        except OSError as exc:
            relay(f"cannot run {argv[0]}: {exc.strerror or exc}")
            return 127, False
        if outcome.timed_out:
            # In the log, for whoever classifies it later (the sectioned format's words).
            relay(f"--- timed out after {timeout:g} s: killed")
        return outcome.exit_code, outcome.timed_out
    finally:
        relay.feeder.flush()


def _phase(out: TextIO, name: str, detail: str) -> None:
    out.write(f"{PHASE_MARKER}{name}: {detail}\n")
    out.flush()


def configure(spec: CellSpec, res: CellResult, out: TextIO, env: Mapping[str, str],
              clf: failure.LogClassifier) -> bool:
    """Fragment, ``defconfig``, then the check that Kconfig kept every requested symbol."""
    _phase(out, "configure", "fragment, make defconfig, .config check")
    clf.section("configure", " ".join(spec.defconfig))
    started = time.monotonic()
    build_dir = Path(spec.build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp, configured = build_dir / CONFIGURED_NAME, _configured_with(spec)
    if env.get(KEEP_CONFIG_ENV) == "1" and _read(stamp) == configured and (
            build_dir / ".config").is_file():
        out.write("kept the .config of the last configure: same fragment and defconfig, and "
                  "the caller says no Kconfig input changed\n")
        res.configure_seconds = round(time.monotonic() - started, 3)
        return True
    stamp.unlink(missing_ok=True)
    fragment = build_dir / FRAGMENT_NAME
    fragment.write_text(spec.fragment, encoding="utf-8")
    rc, timed_out = _run(spec.defconfig, _Relay(out, clf), spec.build_timeout, env)
    clf.exit_status(rc, timed_out)
    if rc != 0:
        res.configure_seconds = round(time.monotonic() - started, 3)
        found = clf.result()
        what = "timed out" if timed_out else f"exit {rc}"
        res.classified(found, found.title if found.cls == ENVIRONMENT else
                       f"defconfig failed ({what}): {found.title}")
        return False
    try:
        requested = kconfig_check.read_config(spec.fragment)
        values = kconfig_check.read_config((build_dir / ".config").read_text(encoding="utf-8"))
    except OSError as exc:
        res.finish(ENVIRONMENT, f"kconfig check error: cannot read {exc.filename}: "
                                f"{exc.strerror}")
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
        clf.add_dropped(res.dropped)
        res.classified(clf.result())
        return False
    stamp.write_text(configured, encoding="utf-8")
    return True


def _configured_with(spec: CellSpec) -> str:
    return json.dumps({"fragment": spec.fragment, "defconfig": spec.defconfig,
                       "kconfig": [spec.kconfig_root, spec.kconfig_app, spec.kconfig_libs]},
                      sort_keys=True)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def build(spec: CellSpec, res: CellResult, out: TextIO, env: Mapping[str, str],
          clf: failure.LogClassifier) -> bool:
    _phase(out, "build", " ".join(spec.build))
    clf.section("build", " ".join(spec.build))
    res.phase = "build"
    started = time.monotonic()
    rc, timed_out = _run(spec.build, _Relay(out, clf), spec.build_timeout, env)
    clf.exit_status(rc, timed_out)
    res.build_seconds = round(time.monotonic() - started, 3)
    if rc != 0:
        found = clf.result()
        what = f"timed out after {spec.build_timeout:.0f}s: " if timed_out else ""
        res.classified(found, f"{what}{found.title}" if found.cls == ENVIRONMENT else
                       f"build failed: {what}{found.title}")
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


def boot(spec: CellSpec, res: CellResult, out: TextIO, clf: failure.LogClassifier) -> None:
    res.phase = "boot"
    assert res.image_path is not None
    try:
        args = boot_mod.parse_args([*spec.boot, res.image_path])
    except SystemExit:  # argparse has printed what is wrong with the options
        res.finish(ENVIRONMENT, f"bad boot options in the cell spec: {' '.join(spec.boot)}")
        return
    _phase(out, "boot", f"{args.platform}/{args.arch}, timeout {args.timeout:g}s")
    clf.section("boot", f"{args.platform}/{args.arch}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="xentriage-boot-") as work, \
            open(Path(spec.build_dir) / CONSOLE_NAME, "w", encoding="utf-8") as console:
        req = boot_mod.request_from_args(args, Path(work))
        verdict = boot_mod.boot(req, timeout=args.timeout, success_lines=args.success_line,
                                out=_Tee(out, clf), log=console,  # type: ignore[arg-type]
                                settle=args.settle,
                                stop_after_success=args.stop_after_success)
    out.write(verdict.line() + "\n")
    res.boot_wall_seconds = round(time.monotonic() - started, 3)
    res.boot_status = verdict.status
    res.runner = boot_mod.runner_record(req, verdict)
    if verdict.status != "skipped":
        res.boot_seconds = verdict.boot_seconds
    clf.boot_result(verdict.status, verdict.reason)
    found = clf.result()
    reason = verdict.reason
    if verdict.status == "passed":
        res.classified(found, "booted" + (f": {reason}" if reason else ""))
    elif verdict.status == "failed":
        res.classified(found, f"failed at boot: {found.title}")
    elif verdict.status == "timeout":
        res.classified(found, f"boot timed out after {args.timeout:g}s: {found.title}")
    elif verdict.status == "skipped" and spec.boot_expected:
        res.signature = failure.classify.signature_of(ENVIRONMENT, f"boot-unavailable {reason}")
        res.title = f"environment: this worker was routed the boot but cannot run it: {reason}"
        res.finish(ENVIRONMENT, res.title)
    elif verdict.status == "skipped":
        res.classified(found, "boot skipped: no capable worker"
                       + (f" ({reason})" if reason else ""))
    else:
        res.classified(found, f"boot error: {reason}")


def run_cell(spec: CellSpec, out: TextIO) -> CellResult:
    res = CellResult(spec.name)
    env = dict(os.environ)
    if spec.path_prepend:
        env["PATH"] = os.pathsep.join([*spec.path_prepend, env.get("PATH", "")])
    clf = failure.LogClassifier(_success_lines(spec.boot), cell=spec.name)
    try:
        tree_kind = kinds.kind_for(spec.kind)
    except ValueError as exc:
        return res.finish(ERROR, f"bad cell spec: {exc}")
    tree_kind.run(spec, res, out, env, clf)
    return res


def unikraft_phases(spec: CellSpec, res: CellResult, out: TextIO, env: Mapping[str, str],
                    clf: failure.LogClassifier) -> None:
    """The Unikraft kind's phases (workers.kinds.unikraft)."""
    missing = preflight.missing_tools(Path(spec.kconfig_root), spec.build, env.get("PATH"))
    if missing:
        # Before make: one clear verdict instead of an error buried in the build's output.
        _phase(out, "configure", "host tools check")
        reason = "environment: the worker lacks " + ", ".join(missing)
        out.write(reason + "\n")
        res.signature = failure.classify.signature_of(
            ENVIRONMENT, failure.rules.missing_tool_key(missing[0].split()[0]))
        res.title = reason
        res.finish(ENVIRONMENT, reason)
        return
    if configure(spec, res, out, env, clf) and build(spec, res, out, env, clf):
        boot(spec, res, out, clf)


def _success_lines(boot_opts: Sequence[str]) -> list[str]:
    return [boot_opts[i + 1] for i, opt in enumerate(boot_opts[:-1]) if opt == "--success-line"]


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
