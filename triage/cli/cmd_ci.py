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
    """CI results: classify cell logs (and, later, link them to bugs)."""


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
