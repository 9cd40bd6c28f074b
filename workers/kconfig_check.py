"""Which requested symbols Kconfig dropped, and why: ``python -m workers.kconfig_check``.

Kconfig silently drops a symbol whose dependencies are unmet, so a cell that asked for a
library can build an image without it and "pass". This compares the fragment with the
resulting ``.config`` and names, for each dropped symbol, the unmet part of its dependencies
(read from the tree's Config.uk/Kconfig files, the app's and the external libraries').

Exit codes: 0 every requested symbol kept, 3 some dropped (the cell is unsupported, not
failed), 4 usage or other error. The last line is ``XENTRIAGE-KCONFIG-RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from workers.kconfig_model import (
    KconfigModel,
    Node,
    evaluate,
    load_model,
    render,
    unmet_parts,
    why_enabled,
)

RESULT_MARKER = "XENTRIAGE-KCONFIG-RESULT"
EXIT_OK, EXIT_DROPPED, EXIT_ERROR = 0, 3, 4

_SET_RE = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET_RE = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")


def read_config(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        m = _SET_RE.match(line)
        if m:
            values[m.group(1)] = m.group(2).strip().strip('"')
            continue
        m = _UNSET_RE.match(line)
        if m:
            values[m.group(1)] = "n"
    return values


def symbol_kind(name: str) -> str:
    if name.startswith("ARCH_"):
        return "arch"
    if name.startswith(("PLAT_", "KVM_VMM_")):
        return "platform"
    if name.startswith("LIB"):
        return "library"
    return "option"


@dataclass(frozen=True)
class Dropped:
    symbol: str  # with the CONFIG_ prefix, as written in fragments
    kind: str  # arch | platform | library | option
    requested: str
    actual: str
    unmet: tuple[str, ...]
    depends_on: str
    reason: str
    # Which enabled symbols caused an unmet "!SYM": "LIBUKVMEM selects PAGING", ...
    because: tuple[str, ...] = ()


@dataclass
class CheckResult:
    status: str  # ok | dropped | error
    requested: int
    dropped: list[Dropped] = field(default_factory=list)
    platform_dropped: bool = False
    arch_dropped: bool = False
    message: str = ""

    def line(self) -> str:
        return f"{RESULT_MARKER} {json.dumps(asdict(self), sort_keys=True)}"


def explain(name: str, want: str, values: Mapping[str, str], model: KconfigModel) -> Dropped:
    info = model.symbols.get(name)
    actual = values.get(name, "(absent)")
    kind = symbol_kind(name)
    if info is None or not info.defined_in:
        reason = (f"CONFIG_{name} is not defined by any Config.uk/Kconfig file of the tree, app "
                  "or libraries (a library directory missing from L=?)")
        return Dropped(f"CONFIG_{name}", kind, want, actual, (), "", reason)
    deps = info.deps + info.choice_deps
    unmet = tuple(part for dep in deps for part in unmet_parts(dep, values))
    depends_on = " && ".join(render(d) for d in deps)
    because: list[str] = []
    for dep in deps:
        for neg in _negated_true(dep, values):
            because += [*why_enabled(neg, values, model), f"{name} depends on !{neg}"]
    if unmet:
        reason = f"CONFIG_{name} dropped: unmet dependency {', '.join(unmet)}"
        if because:
            reason += f" ({'; '.join(because)})"
    elif not info.has_prompt:
        reason = f"CONFIG_{name} has no prompt, so a fragment cannot set it (only its default)"
    elif info.choice_deps or any(n for n in ("ARCH_", "KVM_VMM_") if name.startswith(n)):
        reason = f"CONFIG_{name} lost its choice to another member requested or defaulted"
    else:
        reason = f"CONFIG_{name} dropped although its dependencies ({depends_on or 'none'}) hold"
    if kind == "platform":
        reason += " [the platform itself was dropped]"
    elif kind == "arch":
        reason += " [the architecture itself was dropped]"
    return Dropped(f"CONFIG_{name}", kind, want, actual, unmet, depends_on, reason,
                   tuple(because))


def _negated_true(node: Node, values: Mapping[str, str]) -> list[str]:
    """The symbols ``S`` of the false ``!S`` conjuncts of a dependency (``S`` is set)."""
    if evaluate(node, values):
        return []
    if node[0] == "and":
        return _negated_true(node[1], values) + _negated_true(node[2], values)
    if node[0] == "not" and node[1][0] == "sym":
        return [str(node[1][1])]
    return []


def check(requested: Mapping[str, str], values: Mapping[str, str],
          model: KconfigModel) -> CheckResult:
    dropped = [
        explain(name, want, values, model)
        for name, want in requested.items()
        if want in ("y", "m") and values.get(name) not in ("y", "m")
    ]
    result = CheckResult("dropped" if dropped else "ok", len(requested), dropped)
    result.platform_dropped = any(d.kind == "platform" for d in dropped)
    result.arch_dropped = any(d.kind == "arch" for d in dropped)
    result.message = (f"{len(dropped)} of {len(requested)} requested symbols dropped"
                      if dropped else f"all {len(requested)} requested symbols kept")
    return result


def check_tree(requested: Mapping[str, str], values: Mapping[str, str], root: Path,
               app: Path | None, libs: Sequence[Path], *, out: TextIO,
               warnings: TextIO) -> CheckResult:
    """``check`` against the model read from the tree, app and libraries; prints each dropped
    symbol's reason and the summary to ``out``, problems reading the Kconfig files to
    ``warnings``."""
    model = load_model(root.resolve(), app.resolve() if app else None,
                       [lib.resolve() for lib in libs])
    for err in model.errors:
        warnings.write(f"warning: {err}\n")
    res = check(requested, values, model)
    for d in res.dropped:
        out.write(d.reason + "\n")
    out.write(res.message + "\n")
    return res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workers.kconfig_check",
                                 description="Report symbols Kconfig dropped from a fragment.")
    ap.add_argument("--root", required=True, type=Path, help="the Unikraft(-style) tree")
    ap.add_argument("--app", type=Path, help="the application directory (A=)")
    ap.add_argument("--lib", action="append", default=[], type=Path,
                    help="an external library directory (one of L=); repeatable")
    ap.add_argument("--fragment", required=True, type=Path)
    ap.add_argument("--config", required=True, type=Path, help="the resulting .config")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return EXIT_ERROR if exc.code else EXIT_OK
    try:
        requested = read_config(args.fragment.read_text(encoding="utf-8"))
        values = read_config(args.config.read_text(encoding="utf-8"))
    except OSError as exc:
        res = CheckResult("error", 0, message=f"cannot read {exc.filename}: {exc.strerror}")
        print(res.message, file=sys.stderr)
        print(res.line())
        return EXIT_ERROR
    res = check_tree(requested, values, args.root, args.app, args.lib, out=sys.stdout,
                     warnings=sys.stderr)
    print(res.line())
    return EXIT_DROPPED if res.dropped else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
