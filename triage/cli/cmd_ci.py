"""``xentriage ci ...``: the CI side of triage. ``ci classify LOG...``: what kind of failure a
cell's log shows and which cause (class, signature, title, evidence), the same extractor the
farm's workers run (workers.failure), so a signature from a stored log matches the farm's."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from triage.cli.common import EXIT_INPUT, echo
from workers.failure import Classification, LogClassifier, classify_stream


@click.group("ci")
def command() -> None:
    """CI results: classify cell logs, sweep and link results to bugs, status."""


def _explain_with_tree(found: Classification, clf: LogClassifier, tree: Path) -> None:
    """A plain log names the dropped symbols but not why: the tree's Config.uk files do."""
    from workers import kconfig_check
    from workers.kconfig_model import load_model

    if found.cls != "unsupported" or not clf.requested or not clf.values:
        return
    app = Path(clf.ctx.app) if clf.ctx.app else None
    libs = [Path(p) for p, v in clf.ctx.prefixes.items()
            if v.endswith("/") and v != "<build>/" and p != clf.ctx.app and Path(p).is_dir()]
    model = load_model(tree.resolve(), app.resolve() if app and app.is_dir() else None, libs)
    check = kconfig_check.check(clf.requested, clf.values, model)
    if check.dropped:
        from dataclasses import asdict

        clf.add_dropped([asdict(d) for d in check.dropped])
        refined = clf.result()
        found.title, found.key, found.signature = refined.title, refined.key, refined.signature
        found.dropped = refined.dropped


def classify_file(path: Path, success_lines: tuple[str, ...], tree: Path | None
                  ) -> dict[str, Any]:
    with path.open(encoding="utf-8", errors="replace", newline="\n") as fh:
        found, clf = classify_stream(fh, success_lines)
    if tree is not None:
        _explain_with_tree(found, clf, tree)
    return {"log": str(path), **found.to_json()}


def _render(doc: dict[str, Any]) -> str:
    lines = [f"{doc['log']}:", f"  class:     {doc['cls']}"]
    if doc["signature"]:
        lines.append(f"  signature: {doc['signature']}")
    lines.append(f"  title:     {doc['title']}")
    if doc["phase"]:
        lines.append(f"  phase:     {doc['phase']}")
    for d in doc["dropped"]:
        unmet = ", ".join(d.get("unmet") or []) or "unknown (give --tree)"
        lines.append(f"  dropped:   {d.get('symbol')}: unmet {unmet}")
        if d.get("because"):
            lines.append(f"             because {'; '.join(d['because'])}")
    if doc["evidence"] and doc["cls"] != "passed":
        lines.append("  evidence:")
        lines += [f"    | {ln}" for ln in doc["evidence"]]
    return "\n".join(lines)


@command.command("classify")
@click.argument("logs", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a list).")
@click.option("--tree", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="The Unikraft tree the log was built from: names an unsupported cell's "
                   "unmet dependency from its Config.uk files.")
@click.option("--success-line", "success_lines", multiple=True, metavar="TEXT",
              help="For a plain log: text the boot must print (repeatable); the farm's log "
                   "carries its verdict.")
def classify_cmd(logs: tuple[Path, ...], as_json: bool, tree: Path | None,
                 success_lines: tuple[str, ...]) -> None:
    """Classify cell logs: the farm's stdio log or a plain sectioned log (=== build ...).

    Prints each log's class, signature, one-line title, evidence lines and, for an
    unsupported cell, the dropped symbol and its unmet dependency. Exit 7 when a log cannot
    be read (the others are still classified)."""
    docs, failed = [], False
    for path in logs:
        try:
            docs.append(classify_file(path, success_lines, tree))
        except OSError as exc:
            failed = True
            echo(f"error: cannot read {path}: {exc.strerror or exc}", err=True)
    if as_json:
        echo(json.dumps(docs, indent=2))
    else:
        echo("\n".join(_render(d) for d in docs))
    if failed:
        sys.exit(EXIT_INPUT)


@command.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Open CI failure signatures: class, affected set, cells, first/last seen, last good and
    first bad revision, bug and claimer; cells awaiting their retry, flaky cells and their
    flake rate, environment failures by worker (and owner)."""
    from triage.ci.status import load_status, render
    from triage.cli.common import app

    a = app(ctx)
    status = load_status(a.store, a.settings.ci.worker_owners)
    echo(json.dumps(status.to_json(), indent=2) if as_json else render(status))


@command.command("bisect-run")
@click.option("--production", is_flag=True,
              help="Write what the bisections found to Bugzilla (default: dry run).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Run at most this many bisections (the day's bisect.per_day still holds).")
@click.option("--retry-errors", is_flag=True,
              help="Queue again the bisections that could not run (after fixing the cause).")
@click.pass_context
def bisect_run_cmd(ctx: click.Context, production: bool, limit: int | None,
                   retry_errors: bool) -> None:
    """Run the bisection queue CI linking filled (within bisect.per_day), then link: one
    comment per finished bisection in its CI bug, the fix in the "resolved" comment. The
    bisections themselves run either way; the Bugzilla writes are a dry run unless
    --production."""
    from triage.ci.bisect.queue import BisectionError, QueueBusy
    from triage.ci.bisect.service import bisect_pass
    from triage.cli.common import EXIT_CONFIG, EXIT_UNAVAILABLE, app

    a = app(ctx)
    if not a.settings.bisect.enabled:
        echo("error: bisection is off (bisect.enabled = false)", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        queue, link = bisect_pass(a.settings, a.store, production=production, limit=limit,
                                  retry_errors=retry_errors)
    except QueueBusy as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    except BisectionError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    for rec, outcome, error in queue.ran:
        if outcome is None:
            what = f"could not run: {error}"
        elif outcome.first_new is not None:
            what = f"{outcome.status}: {outcome.first_new.id} {outcome.first_new.subject}"
        else:
            what = f"{outcome.status} ({outcome.reason})"
        echo(f"- {rec.request.kind} {rec.request.cell} {rec.request.old[:12]}.."
             f"{rec.request.new[:12]}: {what}")
    echo(queue.summary())
    if link is not None:
        echo(render_link(link))
    if queue.link_error:
        echo(f"error: linking after the run (the outcomes are kept; the next pass writes): "
             f"{queue.link_error}", err=True)
        sys.exit(EXIT_UNAVAILABLE)


@command.command("sweep")
@click.option("--production", is_flag=True, help="Write to Bugzilla (default: dry run).")
@click.option("--no-link", is_flag=True, help="Only sweep results in; plan no bug.")
@click.option("--buildbot-url", default=None,
              help="The master to sweep (default: ci.buildbot_url).")
@click.option("--master", "master_name", default=None,
              help="The name its results are stored under (default: ci.master_name).")
@click.option("--wait-retries", is_flag=True,
              help="When the pass retried newly failing cells, wait for the farm to finish "
                   "them and sweep and link again (at most 3 rounds).")
@click.pass_context
def sweep_cmd(ctx: click.Context, production: bool, no_link: bool, buildbot_url: str | None,
              master_name: str | None, wait_retries: bool) -> None:
    """Sweep Buildbot's REST API (ci.buildbot_url) for results a push lost, from the stored
    checkpoint, then link them to bugs (dry run unless --production)."""
    from dataclasses import replace

    from triage.ci.service import ci_pass, wait_farm_idle
    from triage.ci.sweep import SweepError, sweep
    from triage.cli.common import EXIT_CONFIG, EXIT_UNAVAILABLE, app

    a = app(ctx)
    settings = a.settings
    settings.ci = replace(settings.ci, buildbot_url=buildbot_url or settings.ci.buildbot_url,
                          master_name=master_name or settings.ci.master_name)
    ci = settings.ci
    if not ci.buildbot_url:
        echo("error: ci.buildbot_url is not set (or give --buildbot-url)", err=True)
        sys.exit(EXIT_CONFIG)
    if no_link:
        try:
            swept = sweep(a.store, ci.buildbot_url, master=ci.master_name,
                          page_size=ci.sweep_page_size)
        except SweepError as exc:
            echo(f"error: {exc}", err=True)
            sys.exit(EXIT_UNAVAILABLE)
        echo(f"swept {swept.builds} builds in {swept.pages} pages: {swept.stored} new, "
             f"checkpoint {swept.checkpoint}")
        return
    for _ in range(3):
        result = ci_pass(settings, a.store, production=production)
        if result.sweep is not None:
            echo(f"swept {result.sweep.builds} builds in {result.sweep.pages} pages: "
                 f"{result.sweep.stored} new, checkpoint {result.sweep.checkpoint}")
        if result.error:
            echo(f"error: {result.error}", err=True)
            sys.exit(EXIT_UNAVAILABLE)
        assert result.link is not None
        echo(render_link(result.link))
        if not (wait_retries and result.link.retried):
            break
        echo("waiting for the retries to finish")
        wait_farm_idle(ci.buildbot_url)


def render_link(link: Any) -> str:
    """The plan of a linking pass: what it would file / comment / resolve / reopen."""
    mode = "production" if link.production else "dry run"
    lines = [f"ci link ({mode}): {len(link.changes)} writes planned"]
    if link.aborted:
        lines.append(f"aborted: {link.aborted}")
    for p in link.plans:
        c = p.change
        if c is None:
            if p.why:
                lines.append(f"- {p.signature}: {p.state}: {p.why}")
            continue
        what = ("file" if c.create is not None else
                "resolve" if c.update and c.update.resolution else
                "reopen" if c.update and c.update.status else "comment")
        target = f"bug {c.bug_id}" if c.bug_id else "new bug"
        summary = c.create.summary if c.create is not None else c.reason
        lines.append(f"- {what} {target} [{link.outcomes.get(c.key, 'planned')}]: {summary}")
        if p.group is not None:
            lines.append(f"    affected: {p.group.description}; cells: {', '.join(p.group.cells)}")
    for want in getattr(link, "queued", ()):
        r = want.request
        lines.append(f"- queued a {r.kind} bisection of {r.cell}: {r.old[:12]}..{r.new[:12]}")
    for _, c in getattr(link, "bisections", ()):
        lines.append(f"- comment bug {c.bug_id} [{link.outcomes.get(c.key, 'planned')}]: "
                     f"{c.reason}")
    if link.retried:
        lines.append("retried (newly failing): " + ", ".join(link.retried))
    if link.flaky:
        lines.append("flaky (failed, passed on retry): " + ", ".join(link.flaky))
    owners = link.owners
    if owners.planned or owners.aborted:
        lines.append(f"worker owners: {owners.planned} environment mail(s) planned"
                     + (f"; aborted: {owners.aborted}" if owners.aborted else ""))
        for key, status in sorted((owners.outcomes or {}).items()):
            lines.append(f"- mail {key} [{status}]")
    return "\n".join(lines)


@command.command("link")
@click.option("--production", is_flag=True, help="Write to Bugzilla (default: dry run).")
@click.pass_context
def link_cmd(ctx: click.Context, production: bool) -> None:
    """Link the stored results to bugs without sweeping: file, comment, resolve, reopen."""
    from triage.ci.service import make_linker
    from triage.cli.common import app

    a = app(ctx)
    link = make_linker(a.settings, a.store, production=production).run(production=production)
    echo(render_link(link))


_tree_opt = click.option(
    "--tree", "tree", type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="The tree's git repository (default: bisect.repository, else the matrix tree's path).")
_matrix_opt = click.option(
    "--matrix", "matrix", type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The farm matrix the cell comes from (default: bisect.matrix, else ci/matrix.toml).")


@command.command("bisect")
@click.argument("cell")
@click.argument("good", metavar="GOOD")
@click.argument("bad", metavar="BAD")
@click.option("--fix", is_flag=True,
              help="Find the first fixed commit: GOOD is then the last failing revision and "
                   "BAD the first passing one.")
@click.option("--signature", default="",
              help="The failure signature S (default: read off the failing end's first run).")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Steps at once (default: bisect.workers; 0: one per farm.jobs cores).")
@click.option("--flake-rate", type=click.FloatRange(0, 0.5), default=0.0,
              help="The cell's flake rate (repeats each step above bisect.flake_threshold).")
@click.option("--max-builds", type=click.IntRange(1, 1000), default=None,
              help="Builds this bisection may use (default: bisect.max_builds).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_tree_opt
@_matrix_opt
@click.pass_context
def bisect_cmd(ctx: click.Context, cell: str, good: str, bad: str, fix: bool, signature: str,
               workers: int | None, flake_rate: float, max_builds: int | None, as_json: bool,
               tree: Path | None, matrix: Path | None) -> None:
    """Bisect CELL between GOOD and BAD on this machine: the first commit that fails with the
    same signature (or, with --fix, the first that passes again). Prints every step with its
    verdict, the builds and rounds used, the commit's id, author, subject and link, the
    confidence and the command that reproduces a step. Exit 6 when inconclusive, 7 on a bad
    cell, revision or range."""
    from dataclasses import replace

    from triage.ci.bisect import render as bisect_render
    from triage.ci.bisect.local import BisectError, bisect_locally
    from triage.ci.bisect.model import CAUSE, FIX, FOUND, StepRun
    from triage.cli.common import EXIT_NOT_FOUND, app

    settings = app(ctx).settings.bisect
    if max_builds is not None:
        settings = replace(settings, max_builds=max_builds)
    slots = settings.workers if workers is None else workers  # 0: local.local_slots

    def progress(round_no: int, run: StepRun) -> None:
        if not as_json:
            sig = f" {run.signature}" if run.signature and run.result != "passed" else ""
            echo(f"  round {round_no}: {run.commit[:12]} {run.result}{sig} "
                 f"({run.seconds:.1f}s, {run.worker})", err=True)

    try:
        outcome = bisect_locally(settings, cell, good, bad, kind=FIX if fix else CAUSE,
                                 signature=signature, flake_rate=flake_rate, slots=slots,
                                 matrix=matrix, tree=tree, on_step=progress)
    except BisectError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    echo(json.dumps(bisect_render.to_json(outcome), indent=2) if as_json
         else bisect_render.render(outcome))
    if outcome.status != FOUND:
        sys.exit(EXIT_NOT_FOUND)


@command.command("bisect-step")
@click.argument("cell")
@click.argument("commit")
@click.option("--slot", type=click.IntRange(0, 63), default=0,
              help="The slot whose worktree and build directory to use (default 0; with "
                   "bisect.runner = \"buildbot\": the N-th connected worker).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_tree_opt
@_matrix_opt
@click.pass_context
def bisect_step_cmd(ctx: click.Context, cell: str, commit: str, slot: int, as_json: bool,
                    tree: Path | None, matrix: Path | None) -> None:
    """Build and boot CELL at COMMIT once, as a bisection step does (the slot's worktree and
    persistent build directory under bisect.workdir): prints the result, signature and title,
    and the log's path. Exit 7 on a bad cell or revision."""
    from dataclasses import asdict

    from triage.ci.bisect.commits import CommitLogError
    from triage.ci.bisect.local import BisectError, local_setup
    from triage.ci.bisect.runners import RunnerError
    from triage.cli.common import app

    settings = app(ctx).settings.bisect
    try:
        setup = local_setup(settings, cell, slots=slot + 1, matrix=matrix, tree=tree)
        commit_id = setup.log.resolve(commit)
    except (BisectError, CommitLogError) as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    try:
        run = setup.runner.run(cell, commit_id, slot)
    except RunnerError as exc:  # the Buildbot runner's master or builder is not there
        echo(f"error: runner: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    if as_json:
        echo(json.dumps(asdict(run), indent=2))
        return
    echo(f"{cell} at {commit_id}: {run.result}")
    if run.signature:
        echo(f"  signature: {run.signature}")
    if run.title:
        echo(f"  title:     {run.title}")
    if run.app_commit:
        echo(f"  app:       {run.app_commit}")
    echo(f"  log:       {setup.runner.last_log}")
