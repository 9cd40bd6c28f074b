"""The matrix file's tables as typed declarations, and the matrix's error.

Validation is strict (see farm.matrix): triage.validation checks a file against these
dataclasses (pydantic, unknown keys forbidden, no coercion), and every error is a
:class:`MatrixError` naming the dotted key (``platform[2].symbols``), with "did you mean ...?"
for a misspelt key. What a table cannot say by its types (one of ``path``/``url``, names that
refer to other tables, unique names) is checked by :func:`farm.matrix.parse_matrix`.

A new table is a new dataclass here and a field of :class:`farm.matrix.MatrixFile`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from triage.validation import Matches, Range

# Builder names end up in URLs, on disk (per-cell build directories) and in shell commands.
# `-` is allowed (Unikraft's own names: posix-timerfd, app-helloworld): nothing splits a cell
# name back into its parts, and check_unique_names catches two combinations that collide.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SYMBOL_RE = re.compile(r"^CONFIG_[A-Z0-9_]+$")

Name = Annotated[str, Matches(_NAME_RE.pattern, f"a name matching {_NAME_RE.pattern}")]
Symbol = Annotated[str, Matches(_SYMBOL_RE.pattern, "a CONFIG_ symbol")]
Positive = Annotated[int, Range(1)]
# Kconfig values: strings as written, integers, and booleans as y/n.
SymbolValue = str | int | bool


class MatrixError(Exception):
    """The matrix file is invalid; ``key`` is the dotted name of the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class TreeTable:
    name: Name
    path: str | None = None
    url: str | None = None
    branch: str = "master"
    ignore_paths: tuple[str, ...] = ()
    libraries: tuple[str, ...] | None = None
    platforms: tuple[str, ...] | None = None
    kind: str = "unikraft"  # farm.kinds: "unikraft" | "rumprun"
    rumprun: dict[str, Any] | None = None  # [tree.rumprun], checked by farm.kinds


@dataclass(frozen=True)
class AppTable:
    name: Name
    path: str
    tree: str | None = None  # default: the first [[tree]]
    success_lines: tuple[str, ...] = ()
    symbols: dict[Symbol, SymbolValue] = field(default_factory=dict)


@dataclass(frozen=True)
class LibraryTable:
    name: Name
    symbol: Symbol | None = None  # default: CONFIG_LIB<NAME>
    paths: tuple[str, ...] = ()
    external: str | None = None
    depends: tuple[str, ...] = ()
    success_lines: tuple[str, ...] = ()
    boot_timeout: Positive | None = None
    symbols: dict[Symbol, SymbolValue] = field(default_factory=dict)


@dataclass(frozen=True)
class PlatformTable:
    name: Name
    image_suffix: str
    symbols: tuple[Symbol, ...] = ()
    boot_platform: str | None = None  # default: image_suffix
    boot_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArchTable:
    name: Name
    symbol: Symbol
    cross_compile: str = ""


@dataclass(frozen=True)
class ExcludeTable:
    app: str = "*"
    library: str = "*"
    platform: str = "*"
    arch: str = "*"
    reason: str = ""


@dataclass(frozen=True)
class LibrarySetsTable:
    extra: tuple[tuple[str, ...], ...] = ()


def symbol_values(symbols: dict[str, SymbolValue]) -> dict[str, str]:
    return {sym: ("y" if val else "n") if isinstance(val, bool) else str(val)
            for sym, val in symbols.items()}


def _unique(key: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise MatrixError(key, f"duplicate name {n!r}")
        seen.add(n)
