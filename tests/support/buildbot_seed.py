"""Writing farm-like build history straight into a Buildbot database (tests and the benchmark).

The rows are what a farm run leaves: per run one source stamp and its change (what Buildbot's
grid and console views need), per cell and run a buildset, build request, build and the
properties the farm's step publishes (``cell``, ``cell_result``, ``result_reason``,
``revision``). The schema is Buildbot's own (:data:`buildbot.db.model.Model.metadata`); a master
started on the file afterwards reads it as its history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from buildbot.db.model import Model

RESULT_CODES = {"passed": 0, "boot-skipped": 1, "build-failed": 2, "boot-failed": 2,
                "timeout": 2, "unsupported": 3, "error": 2, "environment": 4}


@dataclass(frozen=True)
class SeededBuild:
    cell: str
    run: int
    result: str
    reason: str = ""


def _h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def create_schema(engine: sa.Engine) -> None:
    Model.metadata.create_all(engine)


def seed(engine: sa.Engine, cells: Sequence[str], runs: int,
         outcome: Callable[[str, int], tuple[str, str]], start: int = 1_700_000_000,
         running: Sequence[str] = ()) -> dict[str, int]:
    """``runs`` runs over ``cells``; ``outcome(cell, run)`` → (cell_result, reason). The cells
    in ``running`` get one more build that has not finished. Returns builder ids by cell."""
    md = Model.metadata
    t = md.tables
    with engine.begin() as conn:
        # Ids continue after whatever is there: a live master's own rows are left alone.
        def top(table: str, col: str = "id") -> int:
            return int(conn.execute(sa.select(sa.func.max(t[table].c[col]))).scalar() or 0)

        masterid = top("masters") + 1
        conn.execute(t["masters"].insert(), [{"id": masterid, "name": f"seed{masterid}",
                                              "name_hash": _h(f"seed{masterid}"), "active": 0,
                                              "last_active": start}])
        first = top("builders") + 1
        conn.execute(t["builders"].insert(), [{"id": first + i, "name": c, "name_hash": _h(c)}
                                              for i, c in enumerate(cells)])
        ids = {c: first + i for i, c in enumerate(cells)}
        ss, ch, bs, bss, br, bl, bp = [], [], [], [], [], [], []
        bsid, brid, buildid = top("buildsets"), top("buildrequests"), top("builds")
        ss0, ch0 = top("sourcestamps"), top("changes", "changeid")
        for run in range(1, runs + 2):
            extra = run == runs + 1
            if extra and not running:
                break
            rev = _h(f"rev{run}")
            when = start + run * 3600
            ssid = ss0 + run
            ss.append({"id": ssid, "ss_hash": _h(f"ss{ssid}"), "branch": "master",
                       "revision": rev, "repository": "", "codebase": "", "project": "fixture",
                       "created_at": when})
            ch.append({"changeid": ch0 + run, "author": "seed", "comments": f"run {run}",
                       "when_timestamp": when, "repository": "", "codebase": "",
                       "project": "fixture", "sourcestampid": ssid, "revision": rev,
                       "branch": "master", "category": "xentriage-snapshot"})
            for cell in (running if extra else cells):
                bsid += 1
                brid += 1
                buildid += 1
                bs.append({"id": bsid, "submitted_at": when, "complete": int(not extra),
                           "complete_at": None if extra else when + 60, "results":
                           None if extra else 0, "reason": "seed"})
                bss.append({"buildsetid": bsid, "sourcestampid": ssid})
                br.append({"id": brid, "buildsetid": bsid, "builderid": ids[cell],
                           "priority": 0, "submitted_at": when, "complete": int(not extra),
                           "results": None if extra else 0,
                           "complete_at": None if extra else when + 60})
                result, reason = ("", "") if extra else outcome(cell, run)
                bl.append({"id": buildid, "number": run, "builderid": ids[cell],
                           "buildrequestid": brid, "masterid": masterid, "started_at": when,
                           "complete_at": None if extra else when + 60,
                           "locks_duration_s": 0, "state_string": reason or result or "building",
                           "results": None if extra else RESULT_CODES.get(result, 2)})
                props = {"cell": cell, "revision": rev, "virtual_builder_name": cell}
                if not extra:
                    props |= {"cell_result": result, "result_reason": reason}
                bp += [{"buildid": buildid, "name": k, "value": json.dumps(v),
                        "source": "seed"} for k, v in props.items()]
        for name, rows in (("sourcestamps", ss), ("changes", ch), ("buildsets", bs),
                           ("buildset_sourcestamps", bss), ("buildrequests", br),
                           ("builds", bl), ("build_properties", bp)):
            if rows:
                conn.execute(t[name].insert(), rows)
    return ids
