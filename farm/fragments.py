"""Per-cell Kconfig fragments and the make command lines that use them.

The fragment is fed to ``make ... UK_DEFCONFIG=<abs fragment> defconfig``; Kconfig then fills
every other symbol with its default. Symbols a cell asks for are listed explicitly so that
``workers.cell`` (through ``workers.kconfig_check``) can tell which of them Kconfig dropped (an
unmet dependency). ``cell_spec`` renders everything a worker needs for one cell.
"""

from __future__ import annotations

import posixpath

from farm.matrix import Cell, FarmSettings
from workers.cell import FRAGMENT_NAME, CellSpec

# The fragment file (FRAGMENT_NAME) and the .config live inside the cell's persistent build
# directory; workers.cell writes the fragment there.


def fragment_text(cell: Cell) -> str:
    symbols: dict[str, str] = {cell.arch.symbol: "y"}
    for sym in cell.platform.symbols:
        symbols[sym] = "y"
    symbols.update(cell.app.symbols)
    for lib in cell.enabled or cell.libraries:
        symbols[lib.symbol] = "y"
        symbols.update(lib.symbols)
    lines = [f"# xentriage cell {cell.name}"]
    for sym, value in symbols.items():
        if value == "n":
            lines.append(f"# {sym} is not set")
        elif value in ("y", "m") or value.lstrip("-").isdigit() or value.startswith("0x"):
            lines.append(f"{sym}={value}")
        else:
            lines.append(f'{sym}="{value}"')
    return "\n".join(lines) + "\n"


def external_libs(cell: Cell, tree_root: str) -> list[str]:
    """Absolute L= directories: the cell's external libraries plus their declared dependencies."""
    dirs: list[str] = []
    for lib in cell.enabled or cell.libraries:
        if lib.external:
            dirs.append(posixpath.join(tree_root, lib.external))
    return dirs


def app_dir(cell: Cell, tree_root: str) -> str:
    return posixpath.join(tree_root, cell.app.path)


def make_args(cell: Cell, tree_root: str, build_dir: str) -> list[str]:
    """The make variables every invocation for this cell shares. ``C=`` is always passed:
    without it .config lands in the app directory and parallel cells collide (DESIGN §4)."""
    args = ["make", "-C", tree_root, f"A={app_dir(cell, tree_root)}"]
    libs = external_libs(cell, tree_root)
    if libs:
        args.append("L=" + ":".join(libs))
    args += [f"O={build_dir}", f"C={build_dir}/.config"]
    if cell.arch.cross_compile:
        args.append(f"CROSS_COMPILE={cell.arch.cross_compile}")
    return args


def defconfig_command(cell: Cell, tree_root: str, build_dir: str) -> list[str]:
    frag = posixpath.join(build_dir, FRAGMENT_NAME)
    return [*make_args(cell, tree_root, build_dir), f"UK_DEFCONFIG={frag}", "defconfig"]


CCACHE_DIR = "/usr/lib/ccache"


def build_argv(cell: Cell, tree_root: str, build_dir: str, farm: FarmSettings) -> list[str]:
    return [*make_args(cell, tree_root, build_dir), f"-j{farm.jobs}"]


def boot_options(cell: Cell) -> list[str]:
    """``workers.boot`` options for the cell (everything but the image)."""
    opts = ["--platform", cell.platform.boot_platform, "--arch", cell.arch.name,
            "--timeout", str(cell.boot_timeout)]
    for line in cell.success_lines:
        opts += ["--success-line", line]
    return [*opts, *cell.platform.boot_args, *cell.runner.boot_options()]


def cell_spec(cell: Cell, tree_root: str, build_dir: str, farm: FarmSettings,
              boot_expected: bool = False) -> CellSpec:
    """What ``python -m workers.cell`` needs to configure, build and boot ``cell``.

    ccache is enabled through Debian's masquerade directory (``/usr/lib/ccache`` first on PATH),
    which works with any Makefile that calls ``$(CROSS_COMPILE)gcc`` and needs no CC override.
    """
    if cell.tree.kind != "unikraft":
        from farm.kinds import rumprun_spec
        return rumprun_spec(cell, tree_root, build_dir, farm, boot_expected)
    return CellSpec(
        name=cell.name,
        build_dir=build_dir,
        fragment=fragment_text(cell),
        defconfig=defconfig_command(cell, tree_root, build_dir),
        build=build_argv(cell, tree_root, build_dir, farm),
        image_glob=image_glob(cell),
        boot=boot_options(cell),
        kconfig_root=tree_root,
        kconfig_app=app_dir(cell, tree_root),
        kconfig_libs=external_libs(cell, tree_root),
        path_prepend=[CCACHE_DIR] if farm.ccache else [],
        build_timeout=float(farm.build_timeout),
        boot_expected=boot_expected,
    )


def image_glob(cell: Cell) -> str:
    """The image name with the CONFIG_UK_NAME part left open (it comes from the .config)."""
    return f"*_{cell.platform.image_suffix}-{cell.arch.name}"
