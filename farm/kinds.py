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

from farm.matrix_tables import _REQUIRED, MatrixError, _Section, _tables, _unique
from workers.kinds import KINDS, RUMPRUN, UNIKRAFT
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


def tree_kind(t: _Section) -> tuple[str, RumprunTree | None]:
    """The ``kind`` of one ``[[tree]]`` and, for Rumprun, its ``[tree.rumprun]`` options."""
    kind = t.text("kind", UNIKRAFT)
    if kind not in KINDS:
        raise MatrixError(f"{t.key}.kind", f"{kind!r}: one of {', '.join(KINDS)}")
    raw = t._get("rumprun", (dict,), None, "a table")
    if kind != RUMPRUN:
        if raw is not None:
            raise MatrixError(f"{t.key}.rumprun", "only for kind = \"rumprun\"")
        return kind, None
    r = _Section(f"{t.key}.rumprun", raw or {})
    env = r._get("build_env", (dict,), dict(DEFAULT_BUILD_ENV), "a table of strings")
    if not all(isinstance(v, str) for v in env.values()):
        raise MatrixError(f"{r.key}.build_env", "values must be strings")
    opts = RumprunTree(
        build_options=r.strs("build_options", DEFAULT_BUILD_OPTIONS),
        build_env=dict(env),
        submodules=r.strs("submodules", DEFAULT_SUBMODULES),
        platforms=r.strs("platforms", ("hw", "xen")),
        accel=r.text("accel", "tcg"),
        prebuilt=dict(r._get("prebuilt", (dict,), {}, "a table of platform = directory")),
    )
    r.done()
    if opts.accel not in ("tcg", "kvm", "auto"):
        raise MatrixError(f"{r.key}.accel", f"{opts.accel!r}: tcg, kvm or auto")
    for p in opts.platforms:
        if p not in BAKE_CONFIGS:
            raise MatrixError(f"{r.key}.platforms", f"{p!r}: one of {', '.join(BAKE_CONFIGS)}")
    for p, d in opts.prebuilt.items():
        if p not in BAKE_CONFIGS or not isinstance(d, str) or not d.startswith("/"):
            raise MatrixError(f"{r.key}.prebuilt.{p}", "a platform = absolute directory")
    return kind, opts


def parse_apps(doc: dict[str, Any], trees: tuple[Tree, ...]) -> tuple[RumprunApp, ...]:
    kinds = {t.name: t.kind for t in trees}
    apps = []
    for a in _tables(doc, "rumprun_app", required=False):
        tree = a.text("tree", _REQUIRED)
        if kinds.get(tree) != RUMPRUN:
            raise MatrixError(f"{a.key}.tree", f"no [[tree]] {tree!r} with kind = \"rumprun\"")
        bakes = a.strs("bakes") if "bakes" in a.data else None
        known = {b for configs in BAKE_CONFIGS.values() for b in configs}
        for b in bakes or ():
            if b not in known:
                raise MatrixError(f"{a.key}.bakes", f"{b!r} is not a rumprun-bake configuration")
        apps.append(RumprunApp(
            name=a.name(), tree=tree, sources=a.strs("sources") or _need(a, "sources"),
            bakes=bakes, platforms=a.strs("platforms") if "platforms" in a.data else None,
            success_lines=a.strs("success_lines"), boot_timeout=a.integer("boot_timeout")))
        a.done()
    _unique("rumprun_app", (a.name for a in apps))
    return tuple(apps)


def _need(a: _Section, name: str) -> tuple[str, ...]:
    raise MatrixError(f"{a.key}.{name}", "is required (a non-empty list)")


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
