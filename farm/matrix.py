"""The build/boot matrix as typed data: TOML loading, validation and cell expansion.

Validation is strict for the same reason as the service configuration: a misspelt key that
silently falls back to a default makes a whole axis of the matrix disappear without anyone
noticing. Every error is a :class:`MatrixError` naming the dotted key (``platform[2].symbols``).
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm.matrix_tables import (
    AppTable,
    ArchTable,
    ExcludeTable,
    LibrarySetsTable,
    LibraryTable,
    MatrixError,
    PlatformTable,
    Positive,
    TreeTable,
    _unique,
    symbol_values,
)
from farm.runner_options import RunnerOptions, RunnerRule, options_for
from triage.validation import validate


@dataclass(frozen=True)
class FarmSettings:
    jobs: Positive = 2
    ccache: bool = True
    build_timeout: Positive = 900
    boot_timeout: Positive = 30
    worker_python: str = "python3"
    # Relative to the worker's builder directory: one persistent build dir per cell lives here.
    cells_dir: str = "cells"


@dataclass(frozen=True)
class Tree:
    name: str
    path: Path | None = None  # a local checkout used in place
    url: str | None = None  # a git tree cloned/updated on the worker
    branch: str = "master"
    # Paths (relative to the tree root, fnmatch patterns) that no cell depends on: docs etc.
    ignore_paths: tuple[str, ...] = ()
    # The pool libraries and platforms this tree has (None: all): two releases in one matrix
    # without a page of [[exclude]]s.
    libraries: tuple[str, ...] | None = None
    platforms: tuple[str, ...] | None = None
    # farm.kinds: "unikraft" or "rumprun", and a Rumprun tree's build options.
    kind: str = "unikraft"
    rumprun: Any = None

    @property
    def is_git(self) -> bool:
        return self.url is not None


@dataclass(frozen=True)
class App:
    name: str
    tree: str
    path: str  # relative to the tree root (or absolute)
    success_lines: tuple[str, ...] = ()
    symbols: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Library:
    name: str
    symbol: str
    paths: tuple[str, ...]  # tree-relative patterns belonging to this library (change mapping)
    external: str | None = None  # tree-relative dir passed in L= (Unikraft's external libs)
    depends: tuple[str, ...] = ()  # other pool libraries enabled with this one
    success_lines: tuple[str, ...] = ()
    boot_timeout: int | None = None
    symbols: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Platform:
    name: str
    symbols: tuple[str, ...]
    image_suffix: str  # qemu | fc | xen | linuxu, the image's name part
    boot_platform: str  # the --platform value for workers.boot
    boot_args: tuple[str, ...] = ()  # extra workers.boot options, e.g. ("--accel", "tcg")


@dataclass(frozen=True)
class Arch:
    name: str
    symbol: str
    cross_compile: str = ""


@dataclass(frozen=True)
class Exclusion:
    app: str = "*"
    library: str = "*"
    platform: str = "*"
    arch: str = "*"
    reason: str = ""

    def matches(self, app: str, libset: str, platform: str, arch: str) -> bool:
        return (
            fnmatch.fnmatchcase(app, self.app)
            and fnmatch.fnmatchcase(libset, self.library)
            and fnmatch.fnmatchcase(platform, self.platform)
            and fnmatch.fnmatchcase(arch, self.arch)
        )


@dataclass(frozen=True)
class Cell:
    """One (tree/app, library set, platform, arch) combination: one virtual builder."""

    tree: Tree
    app: App
    libraries: tuple[Library, ...]
    platform: Platform
    arch: Arch
    success_lines: tuple[str, ...]
    boot_timeout: int
    # The libraries whose symbols the fragment enables: the set plus its declared dependencies
    # (e.g. an external lib that "depends on LIBRING" needs LIBRING asked for explicitly).
    enabled: tuple[Library, ...] = ()
    # [[runner]]: the QEMU CPU model, memory and VMM arguments of this cell's boot.
    runner: RunnerOptions = field(default_factory=RunnerOptions)
    # farm.kinds: a Rumprun cell's bake configuration (in the name where the library set is)
    # and its [[rumprun_app]].
    bake: str = ""
    rumprun_app: Any = None

    @property
    def libset(self) -> str:
        if self.bake:
            return self.bake
        return "+".join(lib.name for lib in self.libraries) if self.libraries else "base"

    @property
    def name(self) -> str:
        return f"{self.app.name}-{self.libset}-{self.platform.name}-{self.arch.name}"

    @property
    def real_builder(self) -> str:
        """The real Buildbot builder: one per (platform, arch), see DESIGN §4 "CI farm"."""
        return f"{self.platform.name}-{self.arch.name}"

    def image_name(self, uk_name: str) -> str:
        return f"{uk_name}_{self.platform.image_suffix}-{self.arch.name}"


@dataclass(frozen=True)
class Matrix:
    farm: FarmSettings
    trees: tuple[Tree, ...]
    apps: tuple[App, ...]
    libraries: tuple[Library, ...]
    platforms: tuple[Platform, ...]
    archs: tuple[Arch, ...]
    exclusions: tuple[Exclusion, ...]
    extra_sets: tuple[tuple[str, ...], ...] = ()
    source: Path | None = None
    runners: tuple[RunnerRule, ...] = ()
    rumprun_apps: tuple[Any, ...] = ()  # farm.kinds.RumprunApp

    def tree(self, name: str) -> Tree:
        return next(t for t in self.trees if t.name == name)

    def library(self, name: str) -> Library:
        return next(lib for lib in self.libraries if lib.name == name)

    def library_sets(self) -> list[tuple[Library, ...]]:
        """The base app alone, each pool library alone on top of it, then the extra sets."""
        sets: list[tuple[Library, ...]] = [()]
        sets += [(lib,) for lib in self.libraries]
        sets += [tuple(self.library(n) for n in names) for names in self.extra_sets]
        return sets

    def cells(self) -> list[Cell]:
        out: list[Cell] = []
        for app in self.apps:
            tree = self.tree(app.tree)
            for libs in self.library_sets():
                if tree.libraries is not None and any(
                        lib.name not in tree.libraries for lib in libs):
                    continue
                libset = "+".join(lib.name for lib in libs) if libs else "base"
                for plat in self.platforms:
                    if tree.platforms is not None and plat.name not in tree.platforms:
                        continue
                    for arch in self.archs:
                        if any(x.matches(app.name, libset, plat.name, arch.name)
                               for x in self.exclusions):
                            continue
                        out.append(self._cell(app, libs, plat, arch))
        from farm.kinds import rumprun_cells
        return out + rumprun_cells(self)

    def real_builders(self) -> list[str]:
        names = [f"{p.name}-{a.name}" for p in self.platforms for a in self.archs]
        if self.rumprun_apps:
            from farm.kinds import rumprun_cells
            names += [b for b in dict.fromkeys(c.real_builder for c in rumprun_cells(self))
                      if b not in names]
        return names

    def _cell(self, app: App, libs: tuple[Library, ...], plat: Platform, arch: Arch) -> Cell:
        lines = list(app.success_lines)
        for lib in libs:
            lines += [s for s in lib.success_lines if s not in lines]
        # A library may need longer (or, for a known hang, shorter) than the farm default.
        overrides = [lib.boot_timeout for lib in libs if lib.boot_timeout is not None]
        timeout = max(overrides) if overrides else self.farm.boot_timeout
        libset = "+".join(lib.name for lib in libs) if libs else "base"
        return Cell(self.tree(app.tree), app, libs, plat, arch, tuple(lines), timeout,
                    self._with_dependencies(libs),
                    options_for(self.runners, app.name, libset, plat.name, arch.name))

    def _with_dependencies(self, libs: tuple[Library, ...]) -> tuple[Library, ...]:
        out: list[Library] = []
        todo = list(libs)
        while todo:
            lib = todo.pop(0)
            if lib in out:
                continue
            out.append(lib)
            todo += [self.library(d) for d in lib.depends]
        return tuple(out)


# --- loading -------------------------------------------------------------------------------


def load_matrix(path: Path | str) -> Matrix:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError("", f"{path.name}: not valid TOML: {exc}") from exc
    return parse_matrix(doc, base_dir=path.resolve().parent, source=path)


@dataclass(frozen=True)
class MatrixFile:
    """The matrix file as written: one field per top-level table (triage.validation checks a
    file against it; :func:`parse_matrix` then resolves names and defaults). The Rumprun tables
    (``[[rumprun_app]]``, a tree's ``[tree.rumprun]``) are checked by :mod:`farm.kinds`."""

    farm: FarmSettings = field(default_factory=FarmSettings)
    tree: tuple[TreeTable, ...] = ()
    app: tuple[AppTable, ...] = ()
    library: tuple[LibraryTable, ...] = ()
    platform: tuple[PlatformTable, ...] = ()
    arch: tuple[ArchTable, ...] = ()
    exclude: tuple[ExcludeTable, ...] = ()
    library_sets: LibrarySetsTable = field(default_factory=LibrarySetsTable)
    runner: tuple[RunnerRule, ...] = ()
    rumprun_app: tuple[dict[str, Any], ...] = ()


def parse_matrix(doc: dict[str, Any], base_dir: Path, source: Path | None = None) -> Matrix:
    from farm import kinds

    f: MatrixFile = validate(MatrixFile, doc, prefix="", error=MatrixError)
    # A Rumprun-only matrix has [[rumprun_app]]s instead of [[app]]s, and no Unikraft platforms.
    required = ["tree", "arch"] + ([] if f.rumprun_app else ["app"]) + (["platform"] if f.app
                                                                          else [])
    for name in required:
        if not getattr(f, name):
            raise MatrixError(name, "at least one entry is required")

    trees = []
    for i, t in enumerate(f.tree):
        if (t.path is None) == (t.url is None):
            raise MatrixError(f"tree[{i}].path",
                              "give exactly one of 'path' (local) or 'url' (git)")
        kind, rumprun = kinds.tree_kind(t, f"tree[{i}]")
        trees.append(Tree(
            name=t.name, path=(base_dir / t.path).resolve() if t.path is not None else None,
            url=t.url, branch=t.branch, ignore_paths=t.ignore_paths, libraries=t.libraries,
            platforms=t.platforms, kind=kind, rumprun=rumprun,
        ))
    _unique("tree", (t.name for t in trees))
    tree_names = {t.name for t in trees}

    apps = []
    for i, a in enumerate(f.app):
        tree = a.tree if a.tree is not None else trees[0].name
        if tree not in tree_names:
            raise MatrixError(f"app[{i}].tree", f"no [[tree]] named {tree!r}")
        apps.append(App(a.name, tree, a.path, a.success_lines, symbol_values(a.symbols)))
    _unique("app", (a.name for a in apps))

    libraries = [
        Library(name=lib.name,
                symbol=lib.symbol or "CONFIG_LIB" + re.sub(r"[^A-Z0-9]", "_", lib.name.upper()),
                paths=lib.paths, external=lib.external, depends=lib.depends,
                success_lines=lib.success_lines, boot_timeout=lib.boot_timeout,
                symbols=symbol_values(lib.symbols))
        for lib in f.library
    ]
    _unique("library", (lib.name for lib in libraries))
    lib_names = {lib.name for lib in libraries}
    for i, tree_cfg in enumerate(trees):
        for name in tree_cfg.libraries or ():
            if name not in lib_names:
                raise MatrixError(f"tree[{i}].libraries", f"no [[library]] named {name!r}")
    for i, lib_cfg in enumerate(libraries):
        for dep in lib_cfg.depends:
            if dep not in lib_names:
                raise MatrixError(f"library[{i}].depends", f"no [[library]] named {dep!r}")

    platforms = [Platform(p.name, p.symbols, p.image_suffix, p.boot_platform or p.image_suffix,
                          p.boot_args) for p in f.platform]
    _unique("platform", (p.name for p in platforms))
    for i, tree_cfg in enumerate(trees):
        for name in tree_cfg.platforms or ():
            if name not in {p.name for p in platforms}:
                raise MatrixError(f"tree[{i}].platforms", f"no [[platform]] named {name!r}")

    archs = [Arch(a.name, a.symbol, a.cross_compile) for a in f.arch]
    _unique("arch", (a.name for a in archs))

    exclusions = []
    for i, x in enumerate(f.exclude):
        if not x.reason:
            raise MatrixError(f"exclude[{i}].reason", "say why the cells are excluded")
        exclusions.append(Exclusion(x.app, x.library, x.platform, x.arch, x.reason))

    for names in f.library_sets.extra:
        if not names or not all(n in lib_names for n in names):
            raise MatrixError("library_sets.extra",
                              f"{list(names)!r}: unknown library or empty set")

    return Matrix(f.farm, tuple(trees), tuple(apps), tuple(libraries), tuple(platforms),
                  tuple(archs), tuple(exclusions), f.library_sets.extra, source, f.runner,
                  kinds.parse_apps(f.rumprun_app, tuple(trees)))


def check_unique_names(cells: Iterable[Cell], real_builders: Iterable[str]) -> None:
    """Virtual and real builder names share one namespace in Buildbot's database."""
    counts = Counter([c.name for c in cells] + list(real_builders))
    dupes = sorted(n for n, k in counts.items() if k > 1)
    if dupes:
        raise MatrixError("cells", f"builder names are not unique: {', '.join(dupes[:5])}")
