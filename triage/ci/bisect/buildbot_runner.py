"""The Buildbot step runner: each step a build on a farm worker of the cell's capability.

The master has a bisection builder beside each real builder, with the same workers
(``farm.bisect_builder``). ``slots`` are the workers connected to the cell's bisection builder
(read from ``/api/v2``); slot i is always the i-th of them (the request names its worker), so a
slot keeps building in one worker's persistent checkout, cell directory and ccache. A step is a
JSON-RPC ``force`` of the bisection scheduler with the cell, the bisection id, the step and
repeat index and, when the app has its own history, the paired app commit; the tree commit is
the request's revision. The runner waits for the build and reads the verdict the farm's cell
step published (``cell_result``, ``signature``, ``title``).

Failures never become a verdict about the code: a step that times out, a worker that is lost
or a build that ends without a verdict is an *environment* run (a skip); a master that cannot
be reached for ``outage_seconds`` raises :class:`RunnerUnavailable`, which ends the whole
bisection in an error (the queue keeps it as such) instead of spending the budget on skips.
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from farm import bisect_protocol as proto
from farm.matrix import Cell, Matrix
from triage.ci.bisect.commits import AppPairing, CommitLog, committed_times
from triage.ci.bisect.model import StepRun
from triage.ci.bisect.runners import RunnerError, RunnerUnavailable, local_repository
from workers.failure import ENVIRONMENT
from workers.failure.model import ALIASES

PLAIN = {"Accept-Encoding": "identity"}  # as farm.localfarm: no gzip on loopback


class BuildbotRunner:
    """Steps of one cell's bisection on the farm at ``buildbot_url`` (the master's www)."""

    def __init__(self, matrix: Matrix, buildbot_url: str, cell: str, *,
                 repository: Path | None = None, bisection: str = "",
                 step_timeout: float | None = None, outage_seconds: float = 60.0,
                 poll_seconds: float = 2.0, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not buildbot_url:
            raise RunnerError("bisect.runner = \"buildbot\" needs bisect.buildbot_url")
        self.matrix, self.url = matrix, buildbot_url.rstrip("/") + "/"
        self.api = self.url + "api/v2"
        self._cell = self._find_cell(cell)
        self._repository = repository
        self.bisection = bisection or f"{cell}-{secrets.token_hex(4)}"
        farm = matrix.farm
        # A step may wait for its worker behind farm builds, then configure, make and boot.
        self.step_timeout = step_timeout or (
            2 * farm.build_timeout + self._cell.boot_timeout + 600)
        self.outage_seconds, self.poll_seconds, self.clock = outage_seconds, poll_seconds, clock
        self.session = session or requests.Session()
        self._lock = threading.Lock()
        self._steps = 0
        self._repeats: collections.Counter[str] = collections.Counter()
        self._builder: tuple[int, list[str]] | None = None
        self.last_log: str | None = None  # the newest step's build page (bisect-step prints it)

    # --- set-up --------------------------------------------------------------------------

    def _find_cell(self, name: str) -> Cell:
        for c in self.matrix.cells():
            if c.name == name:
                return c
        raise RunnerError(f"no cell {name!r} in the matrix")

    def cell(self, name: str) -> Cell:
        if name != self._cell.name:
            raise RunnerError(f"this runner bisects {self._cell.name}, not {name}")
        return self._cell

    def repository(self, cell: Cell) -> Path:
        """The tree's repository on this host (the commit log; the workers fetch their own)."""
        return local_repository(cell, self._repository)

    @property
    def builder_name(self) -> str:
        return proto.builder_name(self._cell.real_builder)

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        try:
            resp = self.session.get(f"{self.api}/{path}", params=params, headers=PLAIN,
                                    timeout=30)
            resp.raise_for_status()
            doc = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise RunnerUnavailable(f"Buildbot at {self.url}: {type(exc).__name__}: "
                                    f"{exc}"[:300]) from None
        if not isinstance(doc, dict):
            raise RunnerUnavailable(f"Buildbot at {self.url}: not a JSON object")
        return doc

    def workers(self) -> tuple[int, list[str]]:
        """(builder id, the connected workers of the cell's bisection builder, by name)."""
        found = self._get("builders", name=self.builder_name)["builders"]
        if not found:
            raise RunnerError(f"the master at {self.url} has no builder {self.builder_name} "
                              "(farm.json bisect_builders = false, or an older master)")
        bid = int(found[0]["builderid"])
        rows = self._get(f"builders/{bid}/workers")["workers"]
        names = sorted(w["name"] for w in rows if w.get("connected_to"))
        if not names:
            raise RunnerUnavailable(f"no worker of {self.builder_name} is connected to "
                                    f"{self.url}")
        return bid, names

    @property
    def slots(self) -> int:
        if self._builder is None:
            self._builder = self.workers()
        return len(self._builder[1])

    def pairing_text(self, cell_name: str) -> str:
        cell = self.cell(cell_name)
        return AppPairing(cell.app.name, ()).describe() if proto.app_repository(cell) else ""

    def reproduce(self, cell: str, commit: str) -> str:
        return f"xentriage ci bisect-step {cell} {commit}"

    # --- one step ------------------------------------------------------------------------

    def _app_commit(self, cell: Cell, commit: str) -> str:
        app_repo = proto.app_repository(cell)
        if app_repo is None:
            return ""
        log = CommitLog(self.repository(cell))
        when = committed_times(log, [log.commit(commit)])
        return AppPairing.of(cell.app.name, Path(app_repo)).pair(next(iter(when.values())))

    def run(self, cell: str, commit: str, slot: int) -> StepRun:
        started = self.clock()
        built = self.cell(cell)
        if self._builder is None:
            self._builder = self.workers()
        bid, names = self._builder
        worker = names[slot % len(names)]
        with self._lock:
            self._steps += 1
            self._repeats[commit] += 1
            step, repeat = self._steps, self._repeats[commit]
        app_commit = self._app_commit(built, commit)
        brid = self._force(bid, cell, commit, app_commit, worker, step, repeat)

        def run_of(result: str, title: str, **kw: Any) -> StepRun:
            return StepRun(commit, result, title=title, worker=kw.pop("worker", worker),
                           seconds=round(self.clock() - started, 3), app_commit=app_commit,
                           **kw)

        gave_up, lost = self._wait(brid, worker, started)
        if gave_up:
            self._cancel(brid)
            if lost:  # the slot's next steps go to a worker still connected
                with self._lock:
                    self._builder = None
            return run_of(ENVIRONMENT, f"runner: {gave_up}")
        builds = self._get(f"buildrequests/{brid}/builds", property="*")["builds"]
        if not builds:
            return run_of(ENVIRONMENT, "runner: the step's request ended without a build")
        build = builds[-1]
        props = {k: v[0] for k, v in (build.get("properties") or {}).items()
                 if isinstance(v, list) and v}
        url = f"{self.url}#/builders/{build.get('builderid')}/builds/{build.get('number')}"
        self.last_log = url
        verdict = props.get("cell_result")
        if not verdict:
            return run_of(ENVIRONMENT, "runner: no verdict from the farm's build "
                                       f"({build.get('state_string') or 'no state'})",
                          build_url=url, worker=props.get("workername") or worker)
        result = ALIASES.get(str(verdict), str(verdict))
        return run_of(result, str(props.get("title") or props.get("result_reason") or ""),
                      signature=str(props.get("signature") or ""), build_url=url,
                      worker=str(props.get("workername") or worker))

    def _force(self, builderid: int, cell: str, commit: str, app_commit: str, worker: str,
               step: int, repeat: int) -> int:
        params = {"builderid": builderid, "owner": "xentriage bisect", "revision": commit,
                  "branch": "", "reason": f"bisection {self.bisection} step {step}",
                  proto.CELL: cell, proto.BISECTION: self.bisection, proto.STEP: step,
                  proto.REPEAT: repeat, proto.APP_COMMIT: app_commit, proto.WORKER: worker}
        body = {"jsonrpc": "2.0", "method": "force", "id": step, "params": params}
        first_refusal: float | None = None
        while True:
            try:
                resp = self.session.post(f"{self.api}/forceschedulers/{proto.SCHEDULER}",
                                         json=body, headers=PLAIN, timeout=60)
                resp.raise_for_status()
                doc = resp.json()
                break
            except requests.ConnectionError as exc:
                # Refused: the request never reached the master, so asking again cannot make
                # a second build. Anything else (a timeout) might have, and is not retried.
                now = self.clock()
                first_refusal = now if first_refusal is None else first_refusal
                if now - first_refusal >= self.outage_seconds:
                    raise RunnerUnavailable(f"Buildbot at {self.url} took no step: "
                                            f"{type(exc).__name__}: {exc}"[:300]) from None
                time.sleep(self.poll_seconds)
            except (requests.RequestException, ValueError) as exc:
                raise RunnerUnavailable(f"Buildbot at {self.url} took no step: "
                                        f"{type(exc).__name__}: {exc}"[:300]) from None
        # A refused step would be refused for every commit: the bisection stops, rather
        # than spend its budget on skips.
        if "error" in doc:
            raise RunnerUnavailable(f"Buildbot at {self.url} refused the step: "
                                    f"{doc['error'].get('message')}"[:300])
        try:
            return int(next(iter(doc["result"][1].values())))
        except (KeyError, IndexError, TypeError, ValueError, StopIteration):
            raise RunnerUnavailable(f"Buildbot's force answer has no build request: "
                                    f"{doc}"[:300]) from None

    def _wait(self, brid: int, worker: str, started: float) -> tuple[str, bool]:
        """Until the request completes (""), or why the step gave up (a skip, not a verdict)
        and whether because its worker is gone. Raises RunnerUnavailable when the master
        stays unreachable for outage_seconds."""
        unreachable_since: float | None = None
        polls = 0
        while True:
            now = self.clock()
            if now - started > self.step_timeout:
                return f"no verdict after {self.step_timeout:.0f} s (step timed out)", False
            try:
                request = self._get(f"buildrequests/{brid}")["buildrequests"][0]
                if request.get("complete"):
                    return "", False
                if not request.get("claimed") and not self._connected(worker):
                    return f"worker {worker} is not connected (lost during the bisection)", True
                unreachable_since = None
            except RunnerUnavailable:
                if unreachable_since is None:
                    unreachable_since = now
                elif now - unreachable_since >= self.outage_seconds:
                    raise
            # Quick at first (a small cell's step takes seconds; each wait at most a quarter
            # of the time waited so far), then every poll_seconds: a long build costs the
            # master one request per step every few seconds, not more.
            time.sleep(min(self.poll_seconds, 0.25 * 1.25 ** polls))
            polls += 1

    def _connected(self, worker: str) -> bool:
        rows = self._get("workers", name=worker)["workers"]
        return bool(rows and rows[0].get("connected_to"))

    def _cancel(self, brid: int) -> None:
        """Best effort: a step given up must not build later in a slot that moved on."""
        body = {"jsonrpc": "2.0", "method": "cancel", "id": 1,
                "params": {"reason": "bisection step given up"}}
        try:
            self.session.post(f"{self.api}/buildrequests/{brid}", json=body, headers=PLAIN,
                              timeout=30)
        except requests.RequestException:
            pass
