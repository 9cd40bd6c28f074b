"""The console judge and the process runner, without a guest."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from workers.console import ConsoleJudge, Verdict, clean_line
from workers.process import STOP, run_streaming


def feed(judge: ConsoleJudge, *lines: str) -> Verdict:
    verdict = judge.verdict
    for line in lines:
        verdict = judge.feed(line)
    return verdict


def test_success_needs_the_banner_first() -> None:
    judge = ConsoleJudge(("Hello",))
    assert feed(judge, "Hello early", "SeaBIOS") is Verdict.RUNNING
    assert feed(judge, "Powered by xentriage-fixture", "Hello from x") is Verdict.PASSED


def test_every_success_line_is_required() -> None:
    judge = ConsoleJudge(("listening", "ready"))
    assert feed(judge, "Powered by", "ready") is Verdict.RUNNING
    assert feed(judge, "listening on :80") is Verdict.PASSED


def test_panic_fails_even_after_success_and_gives_the_line() -> None:
    judge = ConsoleJudge(("Hello",))
    feed(judge, "Powered by", "Hello")
    line = "[    0.1] CRIT: [libukrandom] Assertion failure: rdseed"
    assert judge.feed(line + "\r") is Verdict.FAILED
    assert judge.reason == line


def test_finish_without_banner_or_success() -> None:
    judge = ConsoleJudge(("Hello",))
    feed(judge, "qemu: could not load kernel")
    verdict, reason = judge.finish()
    assert verdict is Verdict.FAILED and "could not load kernel" in reason
    judge = ConsoleJudge(("Hello",))
    feed(judge, "Powered by")
    assert judge.finish()[0] is Verdict.FAILED
    assert ConsoleJudge(()).finish()[0] is Verdict.FAILED
    judge = ConsoleJudge(())
    feed(judge, "Powered by")
    assert judge.finish()[0] is Verdict.PASSED


def test_clean_line_strips_terminal_noise() -> None:
    assert clean_line("\x1b[2J\x1b[0mBooting\r") == "Booting"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; echo started; sleep 60"
    start = time.monotonic()
    out = run_streaming(["sh", "-c", script], lambda line: False, timeout=1.0)
    assert out.timed_out and time.monotonic() - start < 5
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the grandchild survived the timeout")


def test_stop_keeps_reading_for_the_grace_period() -> None:
    code = "import time; print('a', flush=True); time.sleep(0.2); print('b', flush=True); " \
           "time.sleep(30)"
    seen: list[str] = []

    def on_line(line: str) -> bool:
        seen.append(line)
        return STOP

    out = run_streaming([sys.executable, "-c", code], on_line, timeout=20, stop_grace=1.0)
    assert out.stopped and not out.timed_out and out.seconds < 5
    assert seen == ["a", "b"]


def test_pty_gives_the_child_a_terminal() -> None:
    code = "import sys; print('tty' if sys.stdin.isatty() else 'notty')"
    seen: list[str] = []

    def on_line(line: str) -> bool:
        seen.append(line.strip())
        return False

    run_streaming([sys.executable, "-c", code], on_line, timeout=10, use_pty=True)
    assert seen == ["tty"]
