"""Benchmark: the completeness checklist's quality on the labelled corpus and its speed.

Figures (docs/BENCHMARKS.md, section "Completeness checklist"):

1. per item precision/recall of "missing", micro F1 and exact missing-set match on the tuning
   set and on the set written after the detectors (``tests/corpus``), plus follow-ups the whole
   rule chain would send to complete reports and to corporate, project or bot accounts;
2. rule evaluation over 5,000 bugs made from the corpus reports (every rule's chain, as the
   daily pass runs it), median of ``--repeat`` runs; the target is under 2 s;
3. the checklist alone over the same 5,000 bugs, and, with ``--compare-rev REV``, the checklist
   of an older revision (read from git) over the same bugs in the same run, for the ratio.

Run from the repository root: ``python bench/bench_completeness.py [--bugs 5000] [--repeat 5]
[--compare-rev 1a14110]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.corpus.corpus import HELDOUT, HELDOUT2, TUNING, load, score
from triage.completeness.checklist import DEFAULT_CHECKLISTS, assess
from triage.config import load_settings
from triage.model import Bug
from triage.nag import NagLedger
from triage.plan import evaluate_bug, plan_pass
from triage.rules import build_rules
from triage.rules.base import RuleContext, StateRecord

BOT = "triage-bot@xenproject.org"


def settings_in(tmp: Path):  # type: ignore[no-untyped-def]
    path = tmp / "bench.toml"
    path.write_text(f'[general]\nstate_dir = "{tmp / "state"}"\nbot_email = "{BOT}"\n'
                    f'bot_accounts = ["{BOT}"]\n[safety]\nchange_cap = 100000\n',
                    encoding="utf-8")
    return load_settings(path)


def many(bugs: list[Bug], n: int) -> list[Bug]:
    return [dataclasses.replace(bugs[i % len(bugs)], id=i + 1) for i in range(n)]


def old_checklist(rev: str) -> types.ModuleType | None:
    try:
        source = subprocess.run(["git", "show", f"{rev}:triage/rules/checklist.py"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("old_checklist")
    sys.modules["old_checklist"] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:checklist.py", "exec"), module.__dict__)
    return module


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def fmt(times: list[float]) -> str:
    return (f"median {statistics.median(times):.3f} s (min {min(times):.3f}, "
            f"max {max(times):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bugs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare-rev", default="")
    args = parser.parse_args()
    tuning, heldout = load(TUNING), load(HELDOUT, first_id=1000)
    heldout2 = load(HELDOUT2, first_id=2000)
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    for name, cases in (("tuning set", tuning), ("held-out set", heldout),
                        ("second held-out set", heldout2)):
        print(score(cases).table(name))

    with tempfile.TemporaryDirectory() as tmpdir:
        settings = settings_in(Path(tmpdir))
        rules = build_rules(settings)
        cases = tuning + heldout + heldout2
        sent = {}
        for c in cases:
            plan = evaluate_bug(c.bug, rules, RuleContext(now=c.bug.creation_time,
                                                          settings=settings,
                                                          state=StateRecord(c.bug.id)))
            sent[c.id] = sum(len(r.result.changes) for r in plan.results if r.rule == "followup")
        complete = [c.id for c in cases if not c.missing and c.account == "community"]
        others = [c.id for c in cases if c.account != "community"]
        print(f"follow-ups to complete community reports: {sum(sent[i] for i in complete)} "
              f"of {len(complete)} reports; to corporate/project/bot accounts: "
              f"{sum(sent[i] for i in others)} of {len(others)}")

        bugs = many([c.bug for c in cases], args.bugs)

        def chain() -> None:
            ledger = NagLedger.from_entries(settings.nag, [BOT], [])
            plan_pass(bugs, rules, lambda b: RuleContext(now=b.creation_time, settings=settings,
                                                         state=StateRecord(b.id)), ledger)

        print(f"rule evaluation (every rule + nag ledger), {len(bugs)} corpus bugs: "
              f"{fmt(timed(chain, args.repeat))} — target < 2 s")
        print(f"checklist alone, {len(bugs)} bugs: "
              f"{fmt(timed(lambda: [assess(b, DEFAULT_CHECKLISTS) for b in bugs], args.repeat))}")
        if args.compare_rev:
            old = old_checklist(args.compare_rev)
            if old is None:
                print(f"(no checklist at {args.compare_rev}: comparison skipped)")
            else:
                lists = old.DEFAULT_CHECKLISTS
                print(f"checklist of {args.compare_rev}, same bugs, same run: "
                      f"{fmt(timed(lambda: [old.assess(b, lists) for b in bugs], args.repeat))}")


if __name__ == "__main__":
    main()
