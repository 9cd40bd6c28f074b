"""Tree kinds on the master side: the Rumprun part of the matrix and its cells and specs.

Kept apart from farm.matrix on purpose: a ``[[tree]]`` with ``kind = "rumprun"`` and its
``[tree.rumprun]`` options, and the ``[[rumprun_app]]`` tables, are validated here with their own
dataclasses. A Rumprun cell is app x bake configuration x platform (hw, xen) x arch; it becomes
an ordinary :class:`farm.matrix.Cell` (its bake configuration in the library-set position of
the name), so routing, schedulers, the result table and the status view need no special case.
The worker side is ``workers.kinds.rumprun``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from farm.matrix_tables import MatrixError, TreeTable, _unique
from triage.validation import validate
from workers.kinds import KINDS, RUMPRUN
from workers.kinds.rumprun import BAKE_CONFIGS, RumprunCell

if TYPE_CHECKING:
    from farm.matrix import Cell, FarmSettings, Matrix, Tree
    from workers.cell import CellSpec

# The toolchain workarounds the issue measured (gcc >= 10 and -fno-common, -Werror on new
# warnings): defaults, overridable per tree, recorded in every verdict.
DEFAULT_BUILD_OPTIONS = ("--", "-F", "CFLAGS=-fcommon", "-V", "NOGCCERROR=1")
DEFAULT_BUILD_ENV = {"HOST_CFLAGS": "-O -fcommon", "NOGCCERROR": "1"}
DEFAULT_SUBMODULES = ("src-netbsd", "buildrump.sh")
CACHE_DIR = "rumprun-cache"  # beside the cells directory in each builder dir


@dataclass(frozen=True)
class RumprunTree:
    build_options: tuple[str, ...] = DEFAULT_BUILD_OPTIONS
    build_env: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BUILD_ENV))
    submodules: tuple[str, ...] = DEFAULT_SUBMODULES
    platforms: tuple[str, ...] = ("hw", "xen")
    accel: str = "tcg"  # QEMU for hw: tcg, kvm, or auto (KVM only if its probe boot works)
    # platform -> a build-rr.sh -d directory built outside the farm (no platform build then).
    prebuilt: dict[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.build_options, tuple(sorted(self.build_env.items())),
                     self.submodules, self.platforms, self.accel,
                     tuple(sorted(self.prebuilt.items()))))


@dataclass(frozen=True)
class RumprunApp:
    name: str
    tree: str
    sources: tuple[str, ...]  # tree-relative (or absolute) C sources
    bakes: tuple[str, ...] | None = None  # None: every configuration of each platform
    platforms: tuple[str, ...] | None = None
    success_lines: tuple[str, ...] = ()
    boot_timeout: int | None = None


@dataclass(frozen=True)
class RumprunAppTable:
    """One ``[[rumprun_app]]`` as written (``sources`` is required and not empty)."""

    name: str
    tree: str
    sources: tuple[str, ...]
    bakes: tuple[str, ...] | None = None
    platforms: tuple[str, ...] | None = None
    success_lines: tuple[str, ...] = ()
    boot_timeout: int | None = None


def tree_kind(t: TreeTable, key: str) -> tuple[str, RumprunTree | None]:
    """The ``kind`` of one ``[[tree]]`` and, for Rumprun, its ``[tree.rumprun]`` options."""
    kind = t.kind
    if kind not in KINDS:
        raise MatrixError(f"{key}.kind", f"{kind!r}: one of {', '.join(KINDS)}")
    if kind != RUMPRUN:
        if t.rumprun is not None:
            raise MatrixError(f"{key}.rumprun", "only for kind = \"rumprun\"")
        return kind, None
    rkey = f"{key}.rumprun"
    opts: RumprunTree = validate(RumprunTree, t.rumprun or {}, prefix=rkey, error=MatrixError)
    if opts.accel not in ("tcg", "kvm", "auto"):
        raise MatrixError(f"{rkey}.accel", f"{opts.accel!r}: tcg, kvm or auto")
    for p in opts.platforms:
        if p not in BAKE_CONFIGS:
            raise MatrixError(f"{rkey}.platforms", f"{p!r}: one of {', '.join(BAKE_CONFIGS)}")
    for p, d in opts.prebuilt.items():
        if p not in BAKE_CONFIGS or not d.startswith("/"):
            raise MatrixError(f"{rkey}.prebuilt.{p}", "a platform = absolute directory")
    return kind, opts


def parse_apps(tables: tuple[dict[str, Any], ...], trees: tuple[Tree, ...]
               ) -> tuple[RumprunApp, ...]:
    kinds = {t.name: t.kind for t in trees}
    known = {b for configs in BAKE_CONFIGS.values() for b in configs}
    apps = []
    for i, raw in enumerate(tables):
        key = f"rumprun_app[{i}]"
        a: RumprunAppTable = validate(RumprunAppTable, raw, prefix=key, error=MatrixError)
        if kinds.get(a.tree) != RUMPRUN:
            raise MatrixError(f"{key}.tree", f"no [[tree]] {a.tree!r} with kind = \"rumprun\"")
        for b in a.bakes or ():
            if b not in known:
                raise MatrixError(f"{key}.bakes", f"{b!r} is not a rumprun-bake configuration")
        if not a.sources:
            raise MatrixError(f"{key}.sources", "is required (a non-empty list)")
        apps.append(RumprunApp(
            name=a.name, tree=a.tree, sources=a.sources, bakes=a.bakes, platforms=a.platforms,
            success_lines=a.success_lines, boot_timeout=a.boot_timeout))
    _unique("rumprun_app", (a.name for a in apps))
    return tuple(apps)


def rumprun_cells(matrix: Matrix) -> list[Cell]:
    from farm.matrix import App, Cell, Platform
    out: list[Cell] = []
    for rapp in matrix.rumprun_apps:
        tree = matrix.tree(rapp.tree)
        opts = tree.rumprun or RumprunTree()
        for plat_name in rapp.platforms or opts.platforms:
            if plat_name not in opts.platforms:
                continue
            # hw boots under QEMU (routed like the kvm platform), xen under xl.
            plat = Platform(plat_name, (), "bin", "kvm" if plat_name == "hw" else "xen")
            for bake in BAKE_CONFIGS[plat_name]:
                if rapp.bakes is not None and bake not in rapp.bakes:
                    continue
                for arch in matrix.archs:
                    if any(x.matches(rapp.name, bake, plat_name, arch.name)
                           for x in matrix.exclusions):
                        continue
                    app = App(rapp.name, rapp.tree, rapp.sources[0], rapp.success_lines)
                    out.append(Cell(tree, app, (), plat, arch, rapp.success_lines,
                                    rapp.boot_timeout or matrix.farm.boot_timeout,
                                    bake=bake, rumprun_app=rapp))
    return out


def rumprun_spec(cell: Cell, tree_root: str, build_dir: str, farm: FarmSettings,
                 boot_expected: bool = False) -> CellSpec:
    from workers.cell import CellSpec
    rapp = cell.rumprun_app
    assert isinstance(rapp, RumprunApp)
    opts = cell.tree.rumprun or RumprunTree()
    # build_dir is <builder dir>/<cells_dir>/<cell>: the cache lives in the builder dir.
    cache = posixpath.join(posixpath.dirname(posixpath.dirname(build_dir)), CACHE_DIR)
    kind = RumprunCell(
        tree_root=tree_root, app=rapp.name,
        sources=[posixpath.join(tree_root, s) for s in rapp.sources],
        platform=cell.platform.name, arch=cell.arch.name, bake=cell.bake, cache_dir=cache,
        build_options=list(opts.build_options), build_env=dict(opts.build_env),
        jobs=farm.jobs, submodules=list(opts.submodules),
        boot_timeout=float(cell.boot_timeout), success_lines=list(cell.success_lines),
        accel=opts.accel, prebuilt=opts.prebuilt.get(cell.platform.name, ""))
    from dataclasses import asdict
    return CellSpec(name=cell.name, build_dir=build_dir, fragment="", defconfig=[], build=[],
                    image_glob="*.bin", boot=[], kconfig_root=tree_root,
                    build_timeout=float(farm.build_timeout), boot_expected=boot_expected,
                    kind=RUMPRUN, kind_spec=asdict(kind))
