"""Running a guest process: own process group, console streamed line by line, hard deadline.

The process gets its own session so a timeout kills everything it started (QEMU helpers,
``script``'s child, ``xl console``), not just the direct child.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

# What the line callback returns: keep reading, or stop the guest now.
CONTINUE = False
STOP = True


@dataclass(frozen=True)
class ProcessOutcome:
    exit_code: int | None  # None when we killed it
    timed_out: bool
    stopped: bool  # the callback asked to stop
    seconds: float


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it if the boot runner dies (Linux PR_SET_PDEATHSIG).
    Without it a runner killed hard (a worker stopped mid-build) leaves a hung guest spinning
    on a CPU for ever; its own timeout can only kill what it outlives."""
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the timeout still applies
        pass


def kill_group(proc: subprocess.Popen[bytes], grace: float = 1.0) -> None:
    """SIGTERM the whole process group, SIGKILL it if it is still there after ``grace``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def run_streaming(
    argv: list[str],
    on_line: Callable[[str], bool],
    *,
    timeout: float,
    use_pty: bool = False,
    stop_grace: float = 0.0,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
) -> ProcessOutcome:
    """Run ``argv``; call ``on_line`` for each console line (stdout and stderr merged).

    ``use_pty`` gives the child a terminal on stdin/stdout (linuxu needs one). Once ``on_line``
    returns STOP the process keeps running for ``stop_grace`` seconds (its last lines, e.g. a
    panic right after the success line, are still fed) and is then killed.
    """
    start = time.monotonic()
    deadline = start + timeout
    if use_pty:
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, cwd=cwd,
            env=env, preexec_fn=_die_with_parent,
        )
        os.close(slave)
        fd = master
    else:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
            env=env,
            preexec_fn=_die_with_parent,
        )
        assert proc.stdout is not None
        fd = proc.stdout.fileno()

    buf = b""
    stopped = False
    timed_out = False
    eof = False

    def emit(chunk: bytes) -> bool:
        nonlocal buf
        buf += chunk
        ask_stop = False
        while True:
            cut = buf.find(b"\n")
            if cut < 0:
                break
            line, buf = buf[:cut], buf[cut + 1 :]
            ask_stop = on_line(line.decode("utf-8", "replace")) or ask_stop
        return ask_stop

    try:
        while not eof:
            now = time.monotonic()
            if now >= deadline:
                timed_out = not stopped
                break
            ready, _, _ = select.select([fd], [], [], min(0.2, deadline - now))
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the pty's other side closed
                chunk = b""
            if not chunk:
                eof = True
                break
            if emit(chunk) and not stopped:
                stopped = True
                deadline = min(deadline, time.monotonic() + stop_grace)
        if buf:
            on_line(buf.decode("utf-8", "replace"))
            buf = b""
        if eof:
            # Output closed; the process normally exits right after. Bound the wait anyway.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, min(2.0, deadline - time.monotonic())))
    finally:
        if proc.poll() is None:
            kill_group(proc)
        else:
            # The leader exited; helpers left in its group must not outlive the boot.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if use_pty:
            os.close(master)
        elif proc.stdout is not None:
            proc.stdout.close()
    code = proc.returncode if proc.returncode is not None and proc.returncode >= 0 else None
    return ProcessOutcome(code, timed_out, stopped, time.monotonic() - start)
