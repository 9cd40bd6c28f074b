"""Per-cell Kconfig fragments and the make command lines that use them.

The fragment is fed to ``make ... UK_DEFCONFIG=<abs fragment> defconfig``; Kconfig then fills
every other symbol with its default. Symbols a cell asks for are listed explicitly so that
``workers.kconfig_check`` can tell which of them Kconfig dropped (an unmet dependency).
"""

from __future__ import annotations

import posixpath
import shlex

from farm.matrix import Cell, FarmSettings

# The fragment file and the .config live inside the cell's persistent build directory.
FRAGMENT_NAME = "xentriage.fragment"


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


DEFCONFIG_FAILED = "XENTRIAGE-DEFCONFIG-FAILED"


def configure_command(cell: Cell, tree_root: str, build_dir: str, worker_python: str) -> str:
    """One remote command for what used to be three steps (write the fragment, ``defconfig``,
    the ``.config`` check): Buildbot's fixed cost per step and per remote command is larger than
    a small cell's whole configure. Exit 0 configured, 3 unsupported (the check's verdict),
    anything else with the ``DEFCONFIG_FAILED`` marker: defconfig itself failed."""
    frag = posixpath.join(build_dir, FRAGMENT_NAME)
    check = [worker_python, "-m", "workers.kconfig_check", "--root", tree_root,
             "--app", app_dir(cell, tree_root)]
    for lib in external_libs(cell, tree_root):
        check += ["--lib", lib]
    check += ["--fragment", frag, "--config", posixpath.join(build_dir, ".config")]
    return (
        f"mkdir -p {shlex.quote(build_dir)} && "
        f"printf '%s' {shlex.quote(fragment_text(cell))} > {shlex.quote(frag)} && "
        f"{{ {shlex.join(defconfig_command(cell, tree_root, build_dir))} || "
        f"{{ rc=$?; echo {DEFCONFIG_FAILED} $rc; exit $rc; }}; }} && "
        f"exec {shlex.join(check)}"
    )


def build_command(cell: Cell, tree_root: str, build_dir: str, farm: FarmSettings,
                  use_ccache: bool) -> str:
    """A shell command: make, then print the image size on a marker line the step parses.

    ccache is enabled through Debian's masquerade directory (``/usr/lib/ccache`` first on PATH),
    which works with any Makefile that calls ``$(CROSS_COMPILE)gcc`` and needs no CC override.
    """
    make = shlex.join([*make_args(cell, tree_root, build_dir), f"-j{farm.jobs}"])
    prefix = 'PATH="/usr/lib/ccache:$PATH" ' if use_ccache else ""
    return (
        f"{prefix}{make} || exit $?; for f in {image_path_glob(cell, build_dir)}; do "
        'if test -f "$f"; then echo "XENTRIAGE-IMAGE $(stat -c %s "$f") $f"; fi; done'
    )


def image_glob(cell: Cell) -> str:
    """The image name with the CONFIG_UK_NAME part left open (it comes from the .config)."""
    return f"*_{cell.platform.image_suffix}-{cell.arch.name}"


def image_path_glob(cell: Cell, build_dir: str) -> str:
    # The glob part must stay unquoted to expand; the directory part is quoted.
    return shlex.quote(build_dir) + "/" + image_glob(cell)
