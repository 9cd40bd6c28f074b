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
    _REQUIRED,
    _SYMBOL_RE,
    MatrixError,
    _missing,
    _Section,
    _tables,
    _unique,
)
from farm.runner_options import RunnerOptions, RunnerRule, options_for, rule_from_table


@dataclass(frozen=True)
class FarmSettings:
    jobs: int = 2
    ccache: bool = True
    build_timeout: int = 900
    boot_timeout: int = 30
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


def parse_matrix(doc: dict[str, Any], base_dir: Path, source: Path | None = None) -> Matrix:
    from farm import kinds
    known = {"farm", "tree", "app", "library", "platform", "arch", "exclude", "library_sets",
             "runner", "rumprun_app"}
    for top in doc:
        if top not in known:
            raise MatrixError(top, "unknown key")

    f = _Section("farm", doc.get("farm", {}))
    farm = FarmSettings(
        jobs=f.integer("jobs", FarmSettings.jobs),
        ccache=f.flag("ccache", FarmSettings.ccache),
        build_timeout=f.integer("build_timeout", FarmSettings.build_timeout),
        boot_timeout=f.integer("boot_timeout", FarmSettings.boot_timeout),
        worker_python=f.text("worker_python", FarmSettings.worker_python),
        cells_dir=f.text("cells_dir", FarmSettings.cells_dir),
    )
    f.done()

    trees = []
    for t in _tables(doc, "tree"):
        path_s, url = t.text("path"), t.text("url")
        if (path_s is None) == (url is None):
            raise MatrixError(f"{t.key}.path", "give exactly one of 'path' (local) or 'url' (git)")
        kind, rumprun = kinds.tree_kind(t)
        trees.append(Tree(
            kind=kind, rumprun=rumprun,
            name=t.name(),
            path=(base_dir / path_s).resolve() if path_s is not None else None,
            url=url,
            branch=t.text("branch", "master"),
            ignore_paths=t.strs("ignore_paths"),
            libraries=t.strs("libraries") if "libraries" in t.data else None,
            platforms=t.strs("platforms") if "platforms" in t.data else None,
        ))
        t.done()
    _unique("tree", (t.name for t in trees))
    tree_names = {t.name for t in trees}

    apps = []
    for a in _tables(doc, "app", required="rumprun_app" not in doc):
        tree = a.text("tree", trees[0].name)
        if tree not in tree_names:
            raise MatrixError(f"{a.key}.tree", f"no [[tree]] named {tree!r}")
        apps.append(App(a.name(), tree, a.text("path", _REQUIRED), a.strs("success_lines"),
                        a.symbols()))
        a.done()
    _unique("app", (a.name for a in apps))

    libraries = []
    for lib in _tables(doc, "library", required=False):
        name = lib.name()
        symbol = lib.symbol("symbol") or "CONFIG_LIB" + re.sub(r"[^A-Z0-9]", "_", name.upper())
        libraries.append(Library(
            name=name, symbol=symbol, paths=lib.strs("paths"), external=lib.text("external"),
            depends=lib.strs("depends"), success_lines=lib.strs("success_lines"),
            boot_timeout=lib.integer("boot_timeout"), symbols=lib.symbols(),
        ))
        lib.done()
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

    platforms = []
    for p in _tables(doc, "platform", required="app" in doc):
        symbols = p.strs("symbols")
        for s in symbols:
            if not _SYMBOL_RE.match(s):
                raise MatrixError(f"{p.key}.symbols", f"{s!r} is not a CONFIG_ symbol")
        suffix = p.text("image_suffix", _REQUIRED)
        platforms.append(Platform(p.name(), symbols, suffix, p.text("boot_platform", suffix),
                                  p.strs("boot_args")))
        p.done()
    _unique("platform", (p.name for p in platforms))
    for i, tree_cfg in enumerate(trees):
        for name in tree_cfg.platforms or ():
            if name not in {p.name for p in platforms}:
                raise MatrixError(f"tree[{i}].platforms", f"no [[platform]] named {name!r}")

    archs = []
    for a in _tables(doc, "arch"):
        archs.append(Arch(a.name(), a.symbol("symbol") or _missing(a, "symbol"),
                          a.text("cross_compile", "")))
        a.done()
    _unique("arch", (a.name for a in archs))

    exclusions = []
    for x in _tables(doc, "exclude", required=False):
        ex = Exclusion(x.text("app", "*"), x.text("library", "*"), x.text("platform", "*"),
                       x.text("arch", "*"), x.text("reason", ""))
        x.done()
        if not ex.reason:
            raise MatrixError(f"{x.key}.reason", "say why the cells are excluded")
        exclusions.append(ex)

    ls = _Section("library_sets", doc.get("library_sets", {}))
    extra = []
    for names in ls._get("extra", (list,), [], "a list of lists of library names"):
        if not isinstance(names, list) or not names or not all(n in lib_names for n in names):
            raise MatrixError("library_sets.extra", f"{names!r}: unknown library or empty set")
        extra.append(tuple(names))
    ls.done()

    runners = tuple(rule_from_table(r, MatrixError)
                    for r in _tables(doc, "runner", required=False))

    return Matrix(farm, tuple(trees), tuple(apps), tuple(libraries), tuple(platforms),
                  tuple(archs), tuple(exclusions), tuple(extra), source, runners,
                  kinds.parse_apps(doc, tuple(trees)))


def check_unique_names(cells: Iterable[Cell], real_builders: Iterable[str]) -> None:
    """Virtual and real builder names share one namespace in Buildbot's database."""
    counts = Counter([c.name for c in cells] + list(real_builders))
    dupes = sorted(n for n, k in counts.items() if k > 1)
    if dupes:
        raise MatrixError("cells", f"builder names are not unique: {', '.join(dupes[:5])}")
