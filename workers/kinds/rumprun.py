"""The Rumprun kind: platform build (cached per worker), app compile (once), bake, boot.

Two levels, as Rumprun itself is built: ``build-rr.sh`` builds the rump kernel, the toolchain
wrapper and ``rumprun-bake`` for one platform (minutes on a real tree), then each app is
compiled with the wrapper and baked per configuration (about a second each). The platform build
is cached on the worker per (tree commit, platform, arch, build options), each app's compile
per (platform build, source); a file lock makes parallel cells of one platform wait for one
build instead of racing it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

from workers import failure
from workers.cell import (
    BOOT_SKIPPED,
    ENVIRONMENT,
    UNSUPPORTED,
    CellResult,
    CellSpec,
    _phase,
    _Relay,
    _run,
)
from workers.failure import rumprun as rr_failure
from workers.failure.model import signature_of
from workers.host import kvm_status
from workers.process import CONTINUE, STOP, run_streaming

# What the tree can build, before any build: hw accepts only x86 ("only supported target is
# x86" after ~6 minutes of building), Xen PV likewise.
SUPPORTED = frozenset({("hw", "x86_64"), ("xen", "x86_64")})
BAKE_CONFIGS = {"hw": ("hw_generic", "hw_virtio", "hw_virtio_scsi"),
                "xen": ("xen_pv", "xen_pci")}
TOOL_PREFIX = {"x86_64": "x86_64-rumprun-netbsd-"}
READY = "ready.json"


@dataclass(frozen=True)
class RumprunCell:
    """The Rumprun part of a cell spec (``CellSpec.kind_spec``), rendered by farm.kinds."""

    tree_root: str
    app: str
    sources: list[str]  # absolute paths of the app's C sources
    platform: str  # hw | xen
    arch: str
    bake: str  # the rumprun-bake configuration
    cache_dir: str  # per worker: platform builds and compiled apps live here
    build_options: list[str]  # after the platform: ["--", "-F", "CFLAGS=-fcommon", ...]
    build_env: dict[str, str]  # e.g. HOST_CFLAGS, NOGCCERROR
    jobs: int = 2
    submodules: list[str] = field(default_factory=lambda: ["src-netbsd", "buildrump.sh"])
    boot_timeout: float = 30.0
    success_lines: list[str] = field(default_factory=list)
    accel: str = "tcg"
    memory_mb: int = 128
    # A platform build made outside the farm (build-rr.sh's -d directory): used as is.
    prebuilt: str = ""

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> RumprunCell:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ValueError(f"unknown rumprun spec key {unknown[0]!r}")
        return cls(**doc)


class RumprunKind:
    name = "rumprun"

    def run(self, spec: CellSpec, res: CellResult, out: TextIO, env: Mapping[str, str],
            clf: failure.LogClassifier) -> None:
        try:
            cell = RumprunCell.from_dict(spec.kind_spec)
        except (TypeError, ValueError) as exc:
            res.finish(ENVIRONMENT, f"bad cell spec: {exc}")
            return
        res.runner = {"kind": "rumprun", "platform": cell.platform, "arch": cell.arch,
                      "bake": cell.bake, "build_options": cell.build_options,
                      "build_env": cell.build_env}
        _phase(out, "configure", f"rumprun {cell.platform}/{cell.arch}, bake {cell.bake}")
        if (cell.platform, cell.arch) not in SUPPORTED:
            _judged(res, rr_failure.Judged(
                UNSUPPORTED, f"unsupported: rumprun builds {cell.platform} for x86_64 only, "
                             f"not {cell.arch}",
                signature_of(UNSUPPORTED, f"rumprun-arch {cell.platform} {cell.arch}")))
            return
        if cell.bake not in BAKE_CONFIGS.get(cell.platform, ()):
            _judged(res, rr_failure.Judged(
                UNSUPPORTED, f"unsupported: no bake configuration {cell.bake!r} for "
                             f"{cell.platform}",
                signature_of(UNSUPPORTED, f"rumprun-bake {cell.platform} {cell.bake}")))
            return
        problem = _checkout_problem(cell)
        if problem:
            out.write(problem + "\n")
            _judged(res, rr_failure.environment(problem, "rumprun-checkout"))
            return
        Path(spec.build_dir).mkdir(parents=True, exist_ok=True)
        run_env = {**env, **cell.build_env}
        dest = platform_build(cell, spec, res, out, run_env, clf)
        if dest is None:
            return
        app = compile_app(cell, spec, res, out, run_env, clf, dest)
        if app is None:
            return
        image = bake(cell, spec, res, out, run_env, clf, dest, app)
        if image is not None:
            boot(cell, spec, res, out, image)


def _judged(res: CellResult, j: rr_failure.Judged) -> None:
    res.signature, res.title = j.signature, j.title
    res.finish(j.cls, j.title)


def _checkout_problem(cell: RumprunCell) -> str | None:
    root = Path(cell.tree_root)
    if not (root / "build-rr.sh").is_file():
        return f"environment: {root} is not a rumprun checkout (no build-rr.sh)"
    for sub in cell.submodules:
        path = root / sub
        if not path.is_dir() or not any(path.iterdir()):
            return (f"environment: checkout incomplete: submodule {sub} is missing "
                    "(git submodule update --init)")
    return None


def tree_revision(root: Path) -> str:
    """The tree's commit (a git checkout) or a digest of its files (a plain directory)."""
    if (root / ".git").exists():
        proc = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=False, timeout=30)
        if proc.returncode == 0:
            return proc.stdout.strip()
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(("obj-", "rumprun/", ".git/")):
            digest.update(rel.encode() + b"\0" + path.read_bytes())
    return "files-" + digest.hexdigest()[:20]


def platform_key(cell: RumprunCell) -> str:
    what = json.dumps([tree_revision(Path(cell.tree_root)), cell.platform, cell.arch,
                       cell.build_options, sorted(cell.build_env.items()), cell.prebuilt])
    return hashlib.sha256(what.encode()).hexdigest()[:16]


class _PlatformRelay(_Relay):
    """Also watches the platform build for the first worker-side cause (a toolchain newer
    than the code, an incomplete checkout): those are *environment*, not the tree's fault."""

    def __init__(self, out: TextIO, clf: failure.LogClassifier) -> None:
        super().__init__(out, clf)
        self.env_cause: tuple[str, str] | None = None

    def __call__(self, line: str) -> bool:
        if self.env_cause is None:
            self.env_cause = rr_failure.platform_environment(line)
        return super().__call__(line)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def platform_build(cell: RumprunCell, spec: CellSpec, res: CellResult, out: TextIO,
                   env: Mapping[str, str], clf: failure.LogClassifier) -> Path | None:
    if cell.prebuilt:
        dest = Path(cell.prebuilt)
        res.phase = "build"
        _phase(out, "build", f"platform build prebuilt outside the farm: {dest}")
        res.runner["platform_build"] = {"cached": True, "prebuilt": str(dest)}
        if not (dest / "bin" / (TOOL_PREFIX[cell.arch] + "gcc")).is_file():
            _judged(res, rr_failure.environment(
                f"environment: the prebuilt platform {dest} has no "
                f"bin/{TOOL_PREFIX[cell.arch]}gcc", "rumprun-prebuilt"))
            return None
        return dest
    key = platform_key(cell)
    base = Path(cell.cache_dir) / "platform" / f"{cell.platform}-{cell.arch}-{key}"
    dest, obj = base / "dest", base / "obj"
    argv = ["./build-rr.sh", f"-j{cell.jobs}", "-o", str(obj), "-d", str(dest), cell.platform,
            *cell.build_options]
    res.phase = "build"
    with _locked(base.with_suffix(".lock")):
        if (base / READY).is_file():
            _phase(out, "build", f"platform build cached ({cell.platform}/{cell.arch} {key})")
            res.runner["platform_build"] = {"cached": True, "key": key}
            return dest
        _phase(out, "build", "platform: " + " ".join(argv))
        clf.section("build", " ".join(argv))
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        relay = _PlatformRelay(out, clf)
        started = time.monotonic()
        rc, timed_out = _run(argv, relay, spec.build_timeout, env, cwd=cell.tree_root)
        seconds = round(time.monotonic() - started, 3)
        res.runner["platform_build"] = {"cached": False, "key": key, "seconds": seconds}
        res.build_seconds = seconds
        clf.exit_status(rc, timed_out)
        if rc != 0:
            shutil.rmtree(dest, ignore_errors=True)
            if relay.env_cause:
                k, title = relay.env_cause
                _judged(res, rr_failure.environment(f"environment: {title}", k))
            else:
                found = clf.result()
                res.classified(found, f"platform build failed: {found.title}")
            return None
        (base / READY).write_text(json.dumps({"key": key, "seconds": seconds,
                                              "command": argv, "env": cell.build_env}),
                                  encoding="utf-8")
    return dest


def compile_app(cell: RumprunCell, spec: CellSpec, res: CellResult, out: TextIO,
                env: Mapping[str, str], clf: failure.LogClassifier, dest: Path) -> Path | None:
    """The app compiled once per platform build and source: every bake configuration reuses it.
    The wrapper links, so an undefined symbol fails here (the first real error)."""
    digest = hashlib.sha256(platform_key(cell).encode())
    for src in cell.sources:
        digest.update(Path(src).read_bytes() if Path(src).is_file() else src.encode())
    app_dir = Path(cell.cache_dir) / "apps" / f"{cell.app}-{digest.hexdigest()[:16]}"
    binary = app_dir / cell.app
    cc = dest / "bin" / (TOOL_PREFIX[cell.arch] + "gcc")
    with _locked(app_dir.with_suffix(".lock")):
        if binary.is_file():
            _phase(out, "build", f"app {cell.app} compiled already ({binary.parent.name})")
            return binary
        app_dir.mkdir(parents=True, exist_ok=True)
        partial = app_dir / (cell.app + ".partial")
        argv = [str(cc), "-o", str(partial), *cell.sources]
        _phase(out, "build", "compile: " + " ".join(argv))
        clf.section("build", " ".join(argv))
        started = time.monotonic()
        rc, timed_out = _run(argv, _Relay(out, clf), spec.build_timeout, env,
                             cwd=spec.build_dir)
        clf.exit_status(rc, timed_out)
        res.runner["compile_seconds"] = round(time.monotonic() - started, 3)
        if rc != 0:
            partial.unlink(missing_ok=True)
            found = clf.result()
            res.classified(found, f"build failed: {found.title}")
            return None
        partial.rename(binary)
    return binary


def bake(cell: RumprunCell, spec: CellSpec, res: CellResult, out: TextIO,
         env: Mapping[str, str], clf: failure.LogClassifier, dest: Path,
         app: Path) -> Path | None:
    image = Path(spec.build_dir) / f"{cell.app}.bin"
    argv = [str(dest / "bin" / "rumprun-bake"), cell.bake, str(image), str(app)]
    _phase(out, "build", "bake: " + " ".join(argv))
    clf.section("build", " ".join(argv))
    started = time.monotonic()
    image.unlink(missing_ok=True)
    rc, timed_out = _run(argv, _Relay(out, clf), spec.build_timeout, env, cwd=spec.build_dir)
    clf.exit_status(rc, timed_out)
    res.runner["bake_seconds"] = round(time.monotonic() - started, 3)
    if rc != 0 or not image.is_file():
        found = clf.result()
        res.classified(found, f"bake failed: {found.title}")
        return None
    res.image_path, res.image_size = str(image), image.stat().st_size
    out.write(f"image {image} ({res.image_size} bytes)\n")
    return image


def qemu_argv(cell: RumprunCell, image: Path) -> list[str]:
    """``-vga none`` or the console goes to VGA and the serial line shows only "Booting from
    ROM.."; ``-no-reboot`` so that a triple fault ends QEMU instead of looping."""
    cmdline = '{,, "cmdline": "' + image.name + '",, },,'
    accel = cell.accel
    if accel == "auto":
        # KVM only where the probe boot proved it works ("KVM internal error" on some hosts).
        accel = "kvm" if kvm_status("x86_64").usable else "tcg"
    return ["qemu-system-x86_64", "-accel", accel, "-m", str(cell.memory_mb), "-net", "none",
            "-nographic", "-vga", "none", "-no-reboot", "-kernel", str(image),
            "-append", cmdline]


def boot(cell: RumprunCell, spec: CellSpec, res: CellResult, out: TextIO, image: Path) -> None:
    res.phase = "boot"
    _phase(out, "boot", f"rumprun {cell.platform}/{cell.arch}, timeout {cell.boot_timeout:g}s")
    if cell.platform == "xen":
        # Built and baked; booting a Xen PV guest needs a dom0 with xl.
        xl = shutil.which("xl")
        reason = ("no xl on this worker" if xl is None else
                  "xl found, but the farm boots Rumprun Xen guests only in a dom0 worker pool")
        res.boot_status = "skipped"
        _judged(res, rr_failure.Judged(BOOT_SKIPPED, f"boot skipped: {reason}",
                                       signature_of(BOOT_SKIPPED, f"rumprun-xen {reason}")))
        return
    judge = rr_failure.RumprunConsole(tuple(cell.success_lines))
    argv = qemu_argv(cell, image)
    res.runner["command"] = argv
    started = time.monotonic()
    with open(Path(spec.build_dir) / "console.log", "w", encoding="utf-8") as console:
        def on_line(line: str) -> bool:
            out.write(line + "\n")
            console.write(line + "\n")
            return STOP if judge.feed(line) else CONTINUE

        try:
            outcome = run_streaming(argv, on_line, timeout=cell.boot_timeout,
                                    cwd=spec.build_dir)
        except OSError as exc:
            _judged(res, rr_failure.environment(
                f"environment: cannot start {argv[0]}: {exc.strerror or exc}",
                f"missing-tool {argv[0]}"))
            return
    verdict = judge.verdict(outcome.timed_out and not judge.halted and judge.trap is None,
                            cell.boot_timeout)
    res.boot_wall_seconds = round(time.monotonic() - started, 3)
    res.boot_seconds = round(outcome.seconds, 3)
    res.boot_status = {"passed": "passed", "boot-timeout": "timeout"}.get(verdict.cls, "failed")
    res.runner["exit_code"] = verdict.exit_code
    out.write(f"XENTRIAGE-BOOT-RESULT {json.dumps(asdict(verdict), sort_keys=True)}\n")
    if verdict.cls == "passed":
        res.signature, res.title = "", verdict.title
        res.finish(verdict.cls, "booted: " + verdict.title)
    else:
        _judged(res, verdict)
