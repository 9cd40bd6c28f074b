"""Measurements for bench/bench_farm.py: the master's CPU by thread, a process tree's CPU
(PostgreSQL), the whole machine's CPU (/proc/stat), a summary of py-spy's raw stacks, and
the farm's CPU sampled over a run (bench/farm_timeline.py lays it beside the builds)."""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path


def master_threads(pid_file: Path) -> dict[str, float]:
    """CPU seconds of each thread of the master: the reactor (main thread) and the rest,
    which in a Buildbot master are the database threads (DBThreadPool)."""
    pid = int(pid_file.read_text().strip())
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        out[task.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {"reactor" if tid == str(pid) else tid: cpu for tid, cpu in out.items()}


def _proc_stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/PID/stat after the command name) of every live process; one
    that ends while it is read is left out."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            yield int(proc.name), (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue


def process_tree_cpu(pid: int) -> float:
    """CPU of a process, its finished children and its live children (PostgreSQL's
    postmaster and its backends)."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc_pid, fields in _proc_stats():
        if proc_pid == pid:
            total += sum(int(f) for f in fields[11:15]) / tck
        elif int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tck
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) core-seconds of the whole machine so far (/proc/stat): what other
    processes than the farm's took during a run is busy minus the farm's own."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tck = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / tck, idle / tck


# Innermost frames of a thread waiting for work (not the master's work).
IDLE_LEAVES = ("EPollReactor.doPoll", "Condition.wait", "select", "sleep", "Lock.acquire")
DB_WRAPPERS = ("DBThreadPool.__thd", "DBThreadPool.do_with_transaction.<locals>._transaction")
DB_PHASES = (("do_commit", "commit"), ("do_execute", "execute statements"),
             ("do_close", "close connections"), ("DefaultDialect.connect", "open connections"),
             ("connect", "check out a pooled connection"))


def summarize_profile(raw: Path, top: int = 8) -> str:
    """py-spy's raw stacks of the master, idle waits left out: the database threads' samples
    by Buildbot operation and by what SQLite was doing (a sample in commit includes waiting
    for its fsync), and the reactor thread's by Buildbot function (inclusive)."""
    ops: collections.Counter[str] = collections.Counter()
    phases: collections.Counter[str] = collections.Counter()
    reactor: collections.Counter[str] = collections.Counter()
    n_db = n_reactor = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        names = [f.split(" (", 1)[0] for f in frames]
        if names[-1].startswith(IDLE_LEAVES):
            continue
        if DB_WRAPPERS[0] in names:
            n_db += n
            op = next((nm for f, nm in zip(frames, names, strict=True)
                       if "buildbot/" in f and nm not in DB_WRAPPERS),
                      "(its commit, connection open/close)")
            ops[op.replace(".<locals>.", ".").replace("ConnectorComponent", "")] += n
            phase = next((label for key, label in DB_PHASES
                          if any(key in nm for nm in names[-6:])), "Python (SQLAlchemy)")
            phases[phase] += n
        elif names[0] == "<module>":
            n_reactor += n
            for nm in dict.fromkeys(nm for f, nm in zip(frames, names, strict=True)
                                    if "buildbot/" in f):
                reactor[nm] += n

    def block(title: str, counter: collections.Counter[str], total: int) -> list[str]:
        return [f"   {title}:"] + [f"    {v / max(1, total) * 100:5.1f}% {k}"
                                   for k, v in counter.most_common(top)]

    lines = [f"  profile {raw.name}: {n_db} busy samples in the database threads, "
             f"{n_reactor} in the reactor"]
    lines += block("database threads by phase", phases, n_db)
    lines += block("database threads by Buildbot operation", ops, n_db)
    lines += block("reactor by Buildbot function (inclusive)", reactor, n_reactor)
    return "\n".join(lines)


def tree_cpu(roots: tuple[int, ...]) -> float:
    """CPU seconds so far of the processes under ``roots`` (included): each live process's own
    and its reaped children's time. A process reaped between two readings moves from its own
    line into its parent's children's time, so the sum is continuous."""
    tck = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, int] = {}
    for pid, fields in _proc_stats():
        parent[pid] = int(fields[1])
        cpu[pid] = sum(int(f) for f in fields[11:15])
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, ppid in parent.items():
        children[ppid].append(pid)
    total, todo = 0, [r for r in roots if r in cpu]
    while todo:
        pid = todo.pop()
        total += cpu[pid]
        todo.extend(children.get(pid, ()))
    return total / tck


class CoreSampler(threading.Thread):
    """Every ``every`` seconds: (wall clock, CPU of the farm's process trees, the machine's
    busy and idle core-seconds). The farm's trees are the master and the worker daemon with
    every build process under it."""

    def __init__(self, roots: tuple[int, ...], every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.roots, self.every = roots, every
        self.samples: list[tuple[float, float, float, float]] = []
        self._done = threading.Event()

    def sample(self) -> None:
        busy, idle = machine_cpu()
        self.samples.append((time.time(), tree_cpu(self.roots), busy, idle))

    def run(self) -> None:
        self.sample()
        while not self._done.wait(self.every):
            self.sample()

    def stop(self) -> list[tuple[float, float, float, float]]:
        self._done.set()
        self.join(10)
        self.sample()
        return self.samples
