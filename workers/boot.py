"""Boot one image and judge it from the console: ``python -m workers.boot``.

Prints the console as it arrives, then one machine-readable line::

    XENTRIAGE-BOOT-RESULT {"status": "passed", "reason": "...", "boot_seconds": 0.4, ...}

Exit codes: 0 passed, 1 failed, 2 timeout, 3 skipped (no capable booter here), 4 usage or
other error. QEMU's own exit code is never trusted: only the console decides.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from workers import ARCHES, PLATFORMS
from workers.console import ConsoleJudge, Verdict
from workers.process import CONTINUE, STOP, run_streaming
from workers.runners import BootRequest, runner_for

RESULT_MARKER = "XENTRIAGE-BOOT-RESULT"
EXIT_CODES = {"passed": 0, "failed": 1, "timeout": 2, "skipped": 3, "error": 4}


@dataclass(frozen=True)
class BootResult:
    status: str  # passed | failed | timeout | skipped | error
    reason: str
    boot_seconds: float
    platform: str
    arch: str
    image: str
    accel: str = ""
    command: tuple[str, ...] = ()
    vmm_exit_code: int | None = None  # informational only

    def line(self) -> str:
        return f"{RESULT_MARKER} {json.dumps(asdict(self), sort_keys=True)}"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def boot(req: BootRequest, *, timeout: float, success_lines: Sequence[str],
         out: TextIO, log: TextIO | None = None, settle: float = 0.5,
         stop_after_success: bool = False) -> BootResult:
    """Boot ``req`` and return the judged result; console lines go to ``out`` and ``log``.

    A guest must print its success lines *and exit*: one that prints them and keeps running
    has timed out (a unikernel that does not shut down hangs a CI slot). Only with
    ``stop_after_success`` (a server that never exits) does the success line end the boot,
    ``settle`` seconds later."""

    def result(status: str, reason: str, seconds: float = 0.0, **kw: object) -> BootResult:
        return BootResult(status, reason, round(seconds, 3), req.platform, req.arch,
                          str(req.image), **kw)  # type: ignore[arg-type]

    if not req.image.is_file():
        return result("error", f"image {req.image} does not exist")
    runner = runner_for(req.platform, req.vmm)
    avail = runner.availability(req.arch) if req.platform != "kvm" else None
    if avail is not None and not avail.ok:
        return result("skipped", avail.reason)
    try:
        spec = runner.launch(req)
    except RuntimeError as exc:
        reason = str(exc)
        return result("skipped" if "no capable booter" in reason else "error", reason)

    judge = ConsoleJudge(tuple(success_lines))

    def on_line(line: str) -> bool:
        out.write(line + "\n")
        out.flush()
        if log is not None:
            log.write(line + "\n")
        verdict = judge.feed(line)
        # A failure stops at once; a pass waits for the guest to exit (or, for a server,
        # `settle` seconds more for a late panic).
        if verdict is Verdict.FAILED or (verdict is Verdict.PASSED and stop_after_success):
            return STOP
        return CONTINUE

    try:
        outcome = run_streaming(spec.argv, on_line, timeout=timeout, use_pty=spec.use_pty,
                                stop_grace=settle if judge.verdict is Verdict.PASSED else 0.0,
                                cwd=str(req.workdir))
    except OSError as exc:
        return result("error", f"cannot start {spec.argv[0]}: {exc.strerror or exc}")
    finally:
        for cmd in spec.cleanup:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False, timeout=30)
    common = {"accel": spec.accel, "command": tuple(spec.argv),
              "vmm_exit_code": outcome.exit_code}
    if judge.verdict is Verdict.PASSED and outcome.timed_out:
        return result("timeout", f"success line seen but the guest did not exit within "
                                 f"{timeout:g} s", outcome.seconds, **common)
    if judge.verdict is Verdict.FAILED or judge.verdict is Verdict.PASSED:
        return result(judge.verdict.value, judge.reason, outcome.seconds, **common)
    if outcome.timed_out:
        return result("timeout", judge.timeout_reason(timeout), outcome.seconds, **common)
    verdict, reason = judge.finish()
    return result(verdict.value, reason, outcome.seconds, **common)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m workers.boot",
        description="Boot a unikernel image and judge success from its console.",
        epilog="Exit codes: 0 passed, 1 failed, 2 timeout, 3 skipped, 4 usage/other error.",
    )
    ap.add_argument("--platform", required=True, choices=PLATFORMS)
    ap.add_argument("--arch", required=True, choices=ARCHES)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    ap.add_argument("--success-line", action="append", default=[], metavar="TEXT",
                    help="text that must appear after the banner (repeatable; all required)")
    ap.add_argument("--vmm", choices=("qemu", "firecracker"), default="qemu",
                    help="for --platform kvm: the VMM the image was built for")
    ap.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                    help="QEMU accelerator; auto uses KVM only if a probe boot proved it works")
    ap.add_argument("--memory", type=int, metavar="MB")
    ap.add_argument("--cpu", metavar="MODEL",
                    help="QEMU -cpu model (default: max on x86_64 TCG, cortex-a57 on arm64 "
                         "TCG, host under KVM)")
    ap.add_argument("--vmm-arg", action="append", default=[], metavar="ARG",
                    help="an extra argument for the VMM's command line (repeatable)")
    ap.add_argument("--stop-after-success", action="store_true",
                    help="the guest is a server: the success lines end the boot (after "
                         "--settle s) instead of the guest's exit")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="with --stop-after-success: seconds to keep watching after the "
                         "success line (late panics)")
    ap.add_argument("--log", type=Path, help="also write the console to this file")
    ap.add_argument("--result-json", type=Path, help="also write the result JSON here")
    ap.add_argument("image", type=Path)
    try:
        return ap.parse_args(argv)
    except SystemExit as exc:
        # argparse exits 2 on usage errors, which would read as "timeout".
        raise SystemExit(EXIT_CODES["error"] if exc.code else 0) from None


def request_from_args(args: argparse.Namespace, workdir: Path) -> BootRequest:
    return BootRequest(platform=args.platform, arch=args.arch, image=args.image,
                       workdir=workdir, vmm=args.vmm, accel=args.accel,
                       memory_mb=args.memory, name=f"xentriage-{args.image.name}"[:60],
                       cpu=args.cpu, extra_args=tuple(args.vmm_arg))


def runner_record(req: BootRequest, res: BootResult) -> dict[str, object]:
    """What the guest ran on, for the verdict: a result depends on the CPU model and memory."""
    cmd = list(res.command)

    def after(flag: str) -> str | None:
        return cmd[cmd.index(flag) + 1] if flag in cmd[:-1] else None

    memory = after("-m")
    return {"platform": req.platform, "arch": req.arch, "accel": res.accel or None,
            "cpu": after("-cpu") or req.cpu,
            "memory_mb": int(memory) if memory and memory.isdigit() else req.memory_mb,
            "extra_args": list(req.extra_args)}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xentriage-boot-") as work:
        req = request_from_args(args, Path(work))
        log = args.log.open("w", encoding="utf-8") if args.log else None
        try:
            res = boot(req, timeout=args.timeout, success_lines=args.success_line,
                       out=sys.stdout, log=log, settle=args.settle,
                       stop_after_success=args.stop_after_success)
        finally:
            if log is not None:
                log.close()
    print(res.line(), flush=True)
    if args.result_json:
        args.result_json.write_text(json.dumps(asdict(res), indent=2, sort_keys=True) + "\n")
    return res.exit_code


if __name__ == "__main__":
    sys.exit(main())
