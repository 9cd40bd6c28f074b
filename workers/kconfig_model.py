"""Reading the dependency side of Kconfig files (Unikraft's ``Config.uk`` and ``Kconfig``).

Only what explains a dropped symbol is kept: each symbol's ``depends on`` expressions, including
those inherited from enclosing ``if`` blocks, ``menu ... depends on`` and ``choice`` blocks, and
who ``select``s it. ``source`` is followed when its path can be resolved (``$(UK_BASE)`` and
friends are substituted); every other Config.uk/Kconfig file in the tree is parsed too, without
inherited context, so libraries pulled in by generated files are still known.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TOKEN_RE = re.compile(r'\s*(\|\||&&|!=|<=|>=|[!()=<>]|"(?:[^"\\]|\\.)*"|[A-Za-z0-9_.\-$]+)')
_VAR_RE = re.compile(r"\$\(([A-Za-z0-9_]+)\)|\$([A-Za-z0-9_]+)")
SKIP_DIRS = {".git", "build", ".unikraft", "__pycache__"}

Node = tuple[Any, ...]  # ("sym", name) | ("not", n) | ("and"|"or", a, b) | (op, a, b)


class ExprError(ValueError):
    pass


def parse_expr(text: str) -> Node:
    toks: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise ExprError(f"cannot parse Kconfig expression {text!r}")
        toks.append(m.group(1))
        pos = m.end()
    i = 0

    def peek() -> str | None:
        return toks[i] if i < len(toks) else None

    def take() -> str:
        nonlocal i
        if i >= len(toks):
            raise ExprError(f"unexpected end of expression {text!r}")
        i += 1
        return toks[i - 1]

    def p_or() -> Node:
        node = p_and()
        while peek() == "||":
            take()
            node = ("or", node, p_and())
        return node

    def p_and() -> Node:
        node = p_not()
        while peek() == "&&":
            take()
            node = ("and", node, p_not())
        return node

    def p_not() -> Node:
        if peek() == "!":
            take()
            return ("not", p_not())
        if peek() == "(":
            take()
            node = p_or()
            if take() != ")":
                raise ExprError(f"missing ')' in {text!r}")
            return node
        left: Node = ("sym", take())
        if peek() in ("=", "!=", "<", ">", "<=", ">="):
            op = take()
            return (op, left, ("sym", take()))
        return left

    node = p_or()
    if i != len(toks):
        raise ExprError(f"trailing tokens in {text!r}")
    return node


def _atom(name: str, values: Mapping[str, str]) -> str:
    if name in ("y", "n", "m"):
        return name
    if name.startswith('"'):
        return name[1:-1]
    return values.get(name.removeprefix("CONFIG_"), "n")


def evaluate(node: Node, values: Mapping[str, str]) -> bool:
    """Kconfig truth with ``m`` counted as true (the farm builds no modules)."""
    kind = node[0]
    if kind == "sym":
        return _atom(node[1], values) in ("y", "m")
    if kind == "not":
        return not evaluate(node[1], values)
    if kind == "and":
        return evaluate(node[1], values) and evaluate(node[2], values)
    if kind == "or":
        return evaluate(node[1], values) or evaluate(node[2], values)
    left, right = _atom(node[1][1], values), _atom(node[2][1], values)
    if kind == "=":
        return left == right
    if kind == "!=":
        return left != right
    try:
        a, b = int(left, 0), int(right, 0)
    except ValueError:
        a, b = left, right  # type: ignore[assignment]
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[kind]


def render(node: Node) -> str:
    kind = node[0]
    if kind == "sym":
        return str(node[1])
    if kind == "not":
        inner = render(node[1])
        return f"!{inner}" if node[1][0] == "sym" else f"!({inner})"
    if kind in ("and", "or"):
        parts = []
        for child in node[1:]:
            text = render(child)
            parts.append(f"({text})" if child[0] in ("and", "or") and child[0] != kind else text)
        return (" && " if kind == "and" else " || ").join(parts)
    return f"{render(node[1])} {kind} {render(node[2])}"


def unmet_parts(node: Node, values: Mapping[str, str]) -> list[str]:
    """The smallest false pieces of a false expression: the false conjuncts of an ``&&``,
    the whole of an ``||`` or a negation, with the value that made it false."""
    if evaluate(node, values):
        return []
    if node[0] == "and":
        return unmet_parts(node[1], values) + unmet_parts(node[2], values)
    if node[0] == "sym":
        return [f"{node[1]} (is {_atom(node[1], values)})"]
    if node[0] == "not" and node[1][0] == "sym":
        return [f"!{node[1][1]} ({node[1][1]} is {_atom(node[1][1], values)})"]
    return [render(node)]


def why_enabled(name: str, values: Mapping[str, str], model: KconfigModel,
                depth: int = 4) -> list[str]:
    """Why a symbol is set: the enabled symbols that select it or whose ``default y if``
    turned it on, followed back to what was asked for. ``["LIBUKVMEM selects PAGING",
    "PAGING sets HAVE_PAGING (default y if PAGING)"]`` for ``HAVE_PAGING``."""
    info = model.symbols.get(name)
    if info is None or depth <= 0:
        return []
    on = [s for s in info.selected_by if _atom(s, values) in ("y", "m")]
    if on:
        who = on[0]
        return [*why_enabled(who, values, model, depth - 1), f"{who} selects {name}"]
    for expr in info.default_ifs:
        if evaluate(expr, values):
            syms = [n for n in _symbols(expr) if _atom(n, values) in ("y", "m")]
            chain = why_enabled(syms[0], values, model, depth - 1) if syms else []
            return [*chain, f"{syms[0] if syms else render(expr)} sets {name} "
                            f"(default y if {render(expr)})"]
    return []


def _symbols(node: Node) -> list[str]:
    if node[0] == "sym":
        return [str(node[1])] if node[1] not in ("y", "n", "m") and not str(
            node[1]).startswith('"') else []
    return [s for child in node[1:] if isinstance(child, tuple) for s in _symbols(child)]


@dataclass
class SymbolInfo:
    name: str
    deps: list[Node] = field(default_factory=list)
    has_prompt: bool = False
    choice_deps: list[Node] = field(default_factory=list)
    selected_by: list[str] = field(default_factory=list)
    defined_in: list[str] = field(default_factory=list)
    default_ifs: list[Node] = field(default_factory=list)  # "default y if EXPR"


@dataclass
class KconfigModel:
    symbols: dict[str, SymbolInfo] = field(default_factory=dict)
    parsed: set[Path] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def info(self, name: str) -> SymbolInfo:
        return self.symbols.setdefault(name, SymbolInfo(name))

    def parse_file(self, path: Path, variables: Mapping[str, str],
                   context: tuple[Node | None, ...] = ()) -> None:
        path = path.resolve()
        if path in self.parsed or not path.is_file():
            return
        self.parsed.add(path)
        text = path.read_text(encoding="utf-8", errors="replace").replace("\\\n", " ")
        stack: list[Node | None] = list(context)
        cur: SymbolInfo | str | None = None
        in_choice: list[Node] | None = None
        help_indent: int | None = None
        for raw in text.splitlines():
            stripped = raw.strip()
            indent = len(raw) - len(raw.lstrip())
            if help_indent is not None:
                if not stripped or indent > help_indent:
                    continue
                help_indent = None
            line = stripped.split(" #", 1)[0].strip() if not stripped.startswith("#") else ""
            if not line:
                continue
            word, _, rest = line.partition(" ")
            word, rest = word.strip(), rest.strip()
            try:
                if word in ("config", "menuconfig"):
                    cur = self.info(rest)
                    cur.deps.extend(e for e in stack if e is not None)
                    cur.defined_in.append(str(path))
                    if in_choice is not None:
                        cur.choice_deps = list(in_choice)
                elif word == "choice":
                    in_choice = [e for e in stack if e is not None]
                    cur = "choice"
                elif word == "endchoice":
                    in_choice, cur = None, None
                elif word == "if":
                    stack.append(parse_expr(rest))
                    cur = None
                elif word in ("menu", "comment"):
                    if word == "menu":
                        stack.append(None)
                    cur = word
                elif word in ("endif", "endmenu"):
                    if len(stack) > len(context):
                        stack.pop()
                    cur = None
                elif word in ("source", "rsource", "osource", "orsource"):
                    self._source(path, word, rest, variables, tuple(stack))
                elif word in ("help", "---help---"):
                    help_indent = indent
                elif word == "depends" and rest.startswith("on "):
                    expr = parse_expr(rest[3:])
                    if cur == "menu":
                        stack[-1] = expr
                    elif cur == "choice" and in_choice is not None:
                        in_choice.append(expr)
                    elif isinstance(cur, SymbolInfo):
                        cur.deps.append(expr)
                elif isinstance(cur, SymbolInfo) and word in (
                        "bool", "tristate", "string", "int", "hex", "prompt"):
                    prompt = rest.startswith('"') or word == "prompt"
                    cur.has_prompt = cur.has_prompt or prompt
                    m = re.search(r'"\s+if\s+(.+)$', rest)
                    if m:
                        cur.deps.append(parse_expr(m.group(1)))
                elif isinstance(cur, SymbolInfo) and word in ("default", "def_bool") and \
                        re.match(r"^y\s+if\s+", rest):
                    cur.default_ifs.append(parse_expr(rest.split(" if ", 1)[1]))
                elif isinstance(cur, SymbolInfo) and word in ("select", "imply"):
                    target = rest.split(" if ", 1)[0].strip()
                    if word == "select":
                        self.info(target).selected_by.append(cur.name)
            except ExprError as exc:
                self.errors.append(f"{path}: {exc}")

    def _source(self, here: Path, word: str, rest: str, variables: Mapping[str, str],
                context: tuple[Node | None, ...]) -> None:
        target = _VAR_RE.sub(lambda m: variables.get(m.group(1) or m.group(2), "\0"),
                             rest.strip().strip('"'))
        if "\0" in target or any(c in target for c in "*?"):
            return  # unresolvable: the catch-all parse picks the file up without context
        path = Path(target)
        if word.startswith(("rsource", "orsource")) or not path.is_absolute():
            base = here.parent if word in ("rsource", "orsource") else Path(variables["UK_BASE"])
            path = base / path
            if not path.exists():
                path = here.parent / target
        self.parse_file(path, variables, context)


def kconfig_files(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name == "Config.uk" or name == "Kconfig" or name.startswith("Kconfig."):
                yield Path(dirpath) / name


def load_model(root: Path, app: Path | None = None, libs: Iterable[Path] = ()) -> KconfigModel:
    """Parse the tree (following sources from its top Config.uk), the app and external libs."""
    variables = {"UK_BASE": str(root), "UK_ROOT": str(root), "CONFIG_UK_BASE": str(root),
                 "KCONFIG_DIR": str(root), "UK_APP": str(app or root)}
    model = KconfigModel()
    for top in (root / "Config.uk", root / "Kconfig"):
        model.parse_file(top, variables)
    for extra in [app, *libs]:
        if extra is not None:
            model.parse_file(extra / "Config.uk", variables)
    for path in kconfig_files(root):
        model.parse_file(path, variables)
    return model
