"""A whole farm on one machine: a Buildbot master and workers on 127.0.0.1, SQLite, one state dir.

Used by ``xentriage farm up/run/down``, by the integration test and by the benchmark. The
master's ``buildbot.tac`` points at the repository's ``ci/master.cfg``; its basedir holds
``farm.json`` (ports, database, matrix, workers file). Each worker's capabilities come from
running ``workers.probe --json`` *in that worker's environment*, so a worker started with a
restricted PATH (see :func:`restricted_path_dir`) is declared, and routed, as the machine it
really is.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from triage import retry_policy

# farm.buildbot_config (the master's side) imports Buildbot and Twisted, a second at start-up:
# the client side (`farm run`, `farm cells`, `farm down`, `web`) takes its two names on use.

REPO_ROOT = Path(__file__).resolve().parent.parent
CI_DIR = REPO_ROOT / "ci"
BIN_DIR = Path(sys.executable).parent  # buildbot / buildbot-worker live next to this python
# What a worker "without cross compiler and QEMU" must not find on its PATH.
NO_CROSS_NO_QEMU = ("aarch64-linux-gnu-*", "qemu-system-*", "firecracker", "xl")


class FarmError(Exception):
    pass


@dataclass(frozen=True)
class WorkerPlan:
    name: str
    max_builds: int = 2
    hide_tools: tuple[str, ...] = ()  # fnmatch patterns removed from the worker's PATH
    env: Mapping[str, str] = field(default_factory=dict)
    cpus: frozenset[int] | None = None  # CPU affinity of the worker and every build it runs


def parse_cpus(text: str) -> frozenset[int]:
    """A CPU list as taskset and cgroups write it: ``0``, ``1-3``, ``0,2-5``."""
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise FarmError(f"bad CPU list {text!r} (expected e.g. 0 or 1-3 or 0,2-5)") from None
    available = os.sched_getaffinity(0)
    if not cpus or not cpus <= available:
        raise FarmError(f"CPU list {text!r} is not within this machine's CPUs "
                        f"{sorted(available)}")
    return frozenset(cpus)


@dataclass(frozen=True)
class FarmState:
    state_dir: Path
    www_port: int
    pb_port: int

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.www_port}/api/v2"

    @property
    def master_dir(self) -> Path:
        return self.state_dir / "master"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def restricted_path_dir(target: Path, hide: Iterable[str], path: str | None = None) -> Path:
    """A directory of symlinks to every program on PATH except those matching ``hide``.

    This is how a test simulates a worker without a cross compiler or QEMU on a machine that
    has them: the worker process (and the probe run for it) gets PATH=<this dir>.
    """
    import fnmatch

    hide = tuple(hide)
    target.mkdir(parents=True, exist_ok=True)
    for d in (path or os.environ.get("PATH", "")).split(os.pathsep):
        if not d or not os.path.isdir(d) or Path(d).resolve() == target.resolve():
            continue
        for entry in os.scandir(d):
            if any(fnmatch.fnmatchcase(entry.name, p) for p in hide):
                continue
            link = target / entry.name
            if not link.exists() and not link.is_symlink():
                link.symlink_to(entry.path)
    return target


def _run(cmd: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120,
         check: bool = True, cpus: frozenset[int] | None = None,
         redact: tuple[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``redact``: (text, replacement) for the error message (a database URL's password)."""
    # The daemon twistd forks from this command inherits its CPU affinity, and so does every
    # process a worker starts (compilers, QEMU).
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    proc = subprocess.run(list(cmd), env=dict(env) if env is not None else None, text=True,
                          capture_output=True, timeout=timeout, preexec_fn=pin)
    if check and proc.returncode != 0:
        # Never echo the command line: create-worker's carries the worker password.
        output = proc.stderr or proc.stdout
        if redact is not None:
            output = output.replace(*redact)
        raise FarmError(f"{Path(cmd[0]).name} {cmd[1] if len(cmd) > 1 else ''} failed "
                        f"(exit {proc.returncode}): {output[-800:]}")
    return proc


def worker_env(plan: WorkerPlan, state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    path = os.pathsep.join([str(BIN_DIR), env.get("PATH", "")])
    if plan.hide_tools:
        path = str(restricted_path_dir(state_dir / f"path-{plan.name}", plan.hide_tools, path))
    env["PATH"] = path
    env.update(plan.env)
    return env


def probe(env: Mapping[str, str]) -> dict[str, Any]:
    proc = _run([sys.executable, "-m", "workers.probe", "--json"], env=env, timeout=180,
                check=False)
    try:
        return dict(json.loads(proc.stdout))
    except ValueError as exc:
        raise FarmError(f"workers.probe printed no JSON (exit {proc.returncode}): "
                        f"{proc.stderr[-500:]}") from exc


def up(state_dir: Path, matrix: Path, plans: Sequence[WorkerPlan],
       probes: Mapping[str, Mapping[str, Any]] | None = None, start_timeout: float = 120,
       www_port: int | None = None, pb_port: int | None = None,
       master_settings: Mapping[str, Any] | None = None,
       master_cpus: frozenset[int] | None = None, db_url: str | None = None) -> FarmState:
    """Create (if needed) and start the master and workers; return when all workers are
    connected. ``probes`` overrides a worker's probe result (tests, hand-declared workers).
    ``db_url``: the master's database (Buildbot's ``db_url``; default SQLite in its basedir),
    e.g. ``postgresql://buildbot@127.0.0.1:5432/buildbot`` (password: ``$PGPASSWORD`` or
    ``~/.pgpass`` rather than the URL, which farm.json keeps).
    ``master_cpus`` and each plan's ``cpus`` pin the daemons: the master's own work (database,
    events) then never competes with builds, as on a farm whose master has its own host."""
    from farm.master_db import DEFAULT_URL, MasterDbError, normalize_url, shown_url

    try:
        url = normalize_url(db_url or DEFAULT_URL)
    except MasterDbError as exc:
        raise FarmError(f"--db: {exc}") from None
    state_dir = state_dir.resolve()
    if is_running(state_dir):
        raise FarmError(f"a farm is already running in {state_dir}; run `farm down` first")
    state_dir.mkdir(parents=True, exist_ok=True)
    state = FarmState(state_dir, www_port or free_port(), pb_port or free_port())
    secrets_dir = state_dir / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)

    declared = []
    envs = {}
    for plan in plans:
        env = envs[plan.name] = worker_env(plan, state_dir)
        caps = dict(probes[plan.name]) if probes and plan.name in probes else probe(env)
        pw_file = secrets_dir / f"{plan.name}.pass"
        if not pw_file.exists():
            pw_file.write_text(secrets.token_hex(16) + "\n", encoding="utf-8")
            pw_file.chmod(0o600)
        declared.append({"name": plan.name, "max_builds": plan.max_builds,
                         "password_file": f"../secrets/{plan.name}.pass", "probe": caps})
    mdir = state.master_dir
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "workers.json").write_text(json.dumps({"workers": declared}, indent=2) + "\n")
    from farm.buildbot_config import SETTINGS_FILE

    settings_file = mdir / SETTINGS_FILE
    previous = json.loads(settings_file.read_text()) if settings_file.exists() else {}
    settings_file.write_text(json.dumps({
        "matrix": str(Path(matrix).resolve()), "workers": "workers.json",
        "pb_port": state.pb_port, "www_port": state.www_port,
        "db_url": url, **(master_settings or {}),
    }, indent=2) + "\n")
    settings_file.chmod(0o600)  # a database URL may carry a password
    master_env = dict(os.environ)
    master_env["PYTHONPATH"] = str(REPO_ROOT)
    if not (mdir / "buildbot.tac").exists():
        _run([str(BIN_DIR / "buildbot"), "create-master", "-q", "-r",
              f"--config={CI_DIR / 'master.cfg'}", f"--db={url}", str(mdir)],
             env=master_env, redact=(url, shown_url(url)))
    elif previous.get("db_url", DEFAULT_URL) != url:
        # An existing master moved to another database: create (or upgrade) its tables there;
        # upgrade-master reads the URL from farm.json through master.cfg.
        _run([str(BIN_DIR / "buildbot"), "upgrade-master", "-q", str(mdir)], env=master_env,
             timeout=600, redact=(url, shown_url(url)))
    _run([str(BIN_DIR / "buildbot"), "start", f"--start_timeout={int(start_timeout)}", str(mdir)],
         env=master_env, timeout=start_timeout + 10, cpus=master_cpus)
    (state_dir / "farm-state.json").write_text(json.dumps(
        {"www_port": state.www_port, "pb_port": state.pb_port,
         "workers": [p.name for p in plans]}) + "\n")

    for plan in plans:
        wdir = state_dir / "workers" / plan.name
        if not (wdir / "buildbot.tac").exists():
            wdir.parent.mkdir(parents=True, exist_ok=True)
            password = (secrets_dir / f"{plan.name}.pass").read_text().strip()
            _run([str(BIN_DIR / "buildbot-worker"), "create-worker", "-q", "--umask=0o022",
                  str(wdir), f"127.0.0.1:{state.pb_port}", plan.name, password])
        else:
            _retarget_worker(wdir, state.pb_port)
        _run([str(BIN_DIR / "buildbot-worker"), "start", str(wdir)], env=envs[plan.name],
             cpus=plan.cpus)
    wait_for_workers(state, [p.name for p in plans], timeout=start_timeout)
    return state


def _retarget_worker(wdir: Path, pb_port: int) -> None:
    """An existing worker keeps its build dirs (incremental builds); only the port changes."""
    tac = wdir / "buildbot.tac"
    lines = tac.read_text().splitlines()
    lines = [f"port = {pb_port}" if ln.startswith("port = ") else ln for ln in lines]
    tac.write_text("\n".join(lines) + "\n")


def load_state(state_dir: Path) -> FarmState:
    path = state_dir.resolve() / "farm-state.json"
    if not path.exists():
        raise FarmError(f"no farm in {state_dir}: run `xentriage farm up` first")
    doc = json.loads(path.read_text())
    return FarmState(state_dir.resolve(), int(doc["www_port"]), int(doc["pb_port"]))


def is_running(state_dir: Path) -> bool:
    pid_file = state_dir / "master" / "twistd.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def down(state_dir: Path) -> list[str]:
    """Stop the workers, then the master; returns what was stopped."""
    state_dir = state_dir.resolve()
    stopped = []
    workers_dir = state_dir / "workers"
    if workers_dir.is_dir():
        for wdir in sorted(workers_dir.iterdir()):
            if (wdir / "twistd.pid").exists():
                _run([str(BIN_DIR / "buildbot-worker"), "stop", str(wdir)], check=False)
                stopped.append(f"worker {wdir.name}")
    if (state_dir / "master" / "twistd.pid").exists():
        _run([str(BIN_DIR / "buildbot"), "stop", str(state_dir / "master")], check=False,
             timeout=120)
        stopped.append("master")
    return stopped


# --- REST API ----------------------------------------------------------------------------


# Buildbot's www gzips its answers; under load its gzip stream was seen to come out corrupt
# ("incorrect header check"). On loopback compression buys nothing, so ask for none.
PLAIN = {"Accept-Encoding": "identity"}


def api_get(state: FarmState, path: str, *, attempts: int = 3, **params: Any) -> dict[str, Any]:
    """GET from the master's data API, retrying a transient failure (a busy master may drop
    a connection or answer 5xx while it starts builds); waits 0.5 s, 1 s, ..."""

    def get() -> dict[str, Any]:
        resp = requests.get(f"{state.api}/{path}", params=params, headers=PLAIN, timeout=30)
        resp.raise_for_status()
        return dict(resp.json())

    return retry_policy.attempts(retry_if=_transient, tries=attempts, step=0.5)(get)


def _transient(exc: BaseException) -> bool:
    """A dropped connection, a corrupt gzip stream or a 5xx; a 4xx is our mistake."""
    if not isinstance(exc, requests.ConnectionError | requests.exceptions.ContentDecodingError
                      | requests.HTTPError):
        return False
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status is None or status >= 500


def wait_for_workers(state: FarmState, names: Sequence[str], timeout: float) -> None:
    missing = set(names)  # the last answer's, for the error message

    def still_missing() -> set[str]:
        nonlocal missing
        try:
            workers = api_get(state, "workers")["workers"]
        except requests.RequestException:
            return missing  # the master is still starting: ask again
        missing = {w["name"] for w in workers if not w["connected_to"]} & set(names)
        missing |= set(names) - {w["name"] for w in workers}
        return missing

    if retry_policy.polling(until=lambda left: not left, every=0.3, timeout=timeout)(
            still_missing):
        raise FarmError(f"workers not connected after {timeout:.0f}s: "
                        f"{', '.join(sorted(missing))}")


def max_build_id(state: FarmState) -> int:
    builds = api_get(state, "builds", order="-buildid", limit=1)["builds"]
    return int(builds[0]["buildid"]) if builds else 0


def force(state: FarmState, cells: str = "*", reason: str = "xentriage farm run") -> None:
    body = {"jsonrpc": "2.0", "method": "force", "id": 1,
            "params": {"cells": cells, "reason": reason, "owner": "xentriage"}}
    from farm.buildbot_config import FORCE_SCHEDULER

    resp = requests.post(f"{state.api}/forceschedulers/{FORCE_SCHEDULER}", json=body,
                         headers=PLAIN, timeout=60)
    resp.raise_for_status()
    if "error" in resp.json():
        raise FarmError(f"force failed: {resp.json()['error'].get('message')}")


def send_change(state: FarmState, files: Sequence[str], project: str = "",
                comments: str = "change") -> None:
    """Post a change through the www 'base' change hook (as a post-receive hook would)."""
    resp = requests.post(
        f"http://127.0.0.1:{state.www_port}/change_hook/base",
        data={"comments": comments, "files": json.dumps(list(files)), "project": project,
              "repository": "", "branch": "master", "author": "farm <farm@localhost>",
              "revision": secrets.token_hex(20)}, headers=PLAIN, timeout=30)
    resp.raise_for_status()


def wait_idle(state: FarmState, timeout: float, settle: float = 1.0,
              on_poll: Callable[[], None] | None = None, every: float = 0.25) -> float:
    """Until no build request is pending or running (checked twice, ``settle`` apart).
    Returns the ``time.monotonic()`` at which the farm was first seen idle: the end of the
    work, without the settle time spent confirming it. ``on_poll`` runs at each check (a
    progress display); each check is a request the master answers, ``every`` seconds."""
    quiet_since: float | None = None

    def settled_since() -> float | None:
        nonlocal quiet_since
        if on_poll is not None:
            on_poll()
        pending = api_get(state, "buildrequests", complete="false", limit=1)["buildrequests"]
        if pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return quiet_since
        return None

    idle_at = retry_policy.polling(until=lambda at: at is not None, every=every,
                                   timeout=timeout)(settled_since)
    if idle_at is None:
        raise FarmError(f"farm still busy after {timeout:.0f}s")
    return float(idle_at)


@dataclass(frozen=True)
class RunProgress:
    """Where a forced run stands: cells finished, building now, waiting for a worker."""

    done: int
    running: int
    queued: int

    @property
    def total(self) -> int:
        return self.done + self.running + self.queued


def run_progress(state: FarmState, after_buildid: int) -> RunProgress:
    """Two reads of the data API: the open build requests (claimed = a worker builds it) and
    the builds finished since ``after_buildid``."""
    # No ``field=`` selection: Buildbot 4.3 answers 400 when a filtered field is not selected.
    open_requests = api_get(state, "buildrequests", complete="false")["buildrequests"]
    running = sum(1 for r in open_requests if r.get("claimed"))
    finished = api_get(state, "builds", buildid__gt=after_buildid,
                       complete="true")["builds"]
    return RunProgress(done=len(finished), running=running,
                       queued=len(open_requests) - running)


def builds_since(state: FarmState, after_buildid: int) -> list[dict[str, Any]]:
    """Finished builds newer than ``after_buildid`` with all properties (flattened)."""
    builds = api_get(state, "builds", property="*", buildid__gt=after_buildid,
                     order="buildid")["builds"]
    out = []
    for b in builds:
        props = {k: v[0] for k, v in (b.get("properties") or {}).items()}
        out.append({**b, "props": props})
    return out
