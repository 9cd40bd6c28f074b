"""Fixtures for the worker-side tests: real builds of the fixture tree, cached per session."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UKTREE = REPO / "tests" / "fixtures" / "uktree"
HELLO = UKTREE / "apps" / "hello"
NETDEV = UKTREE / "extlibs" / "netdev"
CROSS = {"x86_64": "", "arm64": "aarch64-linux-gnu-"}
ARCH_SYMBOL = {"x86_64": "CONFIG_ARCH_X86_64", "arm64": "CONFIG_ARCH_ARM_64"}


def require_binary(name: str) -> str:
    """Skip when a Debian binary is absent, except under CI where that must fail loudly."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required under CI but not installed")
        pytest.skip(f"{name} not installed")
    return path


@dataclass(frozen=True)
class CellBuild:
    build_dir: Path
    fragment: Path
    config: Path
    arch: str
    libs: tuple[Path, ...]
    returncode: int
    output: str

    def image(self, suffix: str, name: str = "hello") -> Path:
        return self.build_dir / f"{name}_{suffix}-{self.arch}"

    def make_argv(self, root: Path = UKTREE, *targets: str) -> list[str]:
        argv = ["make", "-C", str(root), f"A={root / 'apps' / 'hello'}",
                f"O={self.build_dir}", f"C={self.config}"]
        if self.libs:
            argv.append("L=" + ":".join(str(p) for p in self.libs))
        if CROSS[self.arch]:
            argv.append(f"CROSS_COMPILE={CROSS[self.arch]}")
        return [*argv, *targets]


def make_cell(build_dir: Path, arch: str, symbols: Iterable[str], *, libs: Iterable[Path] = (),
              root: Path = UKTREE, build: bool = True, jobs: int = 2) -> CellBuild:
    """defconfig from a fragment (arch symbol plus ``symbols``), then optionally build."""
    require_binary("make")
    require_binary(CROSS[arch] + "gcc")
    build_dir.mkdir(parents=True, exist_ok=True)
    fragment = build_dir / "xentriage.fragment"
    fragment.write_text("".join(f"{s}=y\n" for s in [ARCH_SYMBOL[arch], *symbols]))
    cell = CellBuild(build_dir, fragment, build_dir / ".config", arch, tuple(libs), 0, "")
    out = subprocess.run([*cell.make_argv(root), f"UK_DEFCONFIG={fragment}", "defconfig"],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    if not build:
        return cell
    res = subprocess.run([*cell.make_argv(root), f"-j{jobs}"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120)
    return CellBuild(build_dir, fragment, cell.config, arch, cell.libs, res.returncode,
                     res.stdout + res.stderr)


CellFactory = Callable[..., CellBuild]


@pytest.fixture(scope="session")
def uk_cell(tmp_path_factory: pytest.TempPathFactory) -> CellFactory:
    """``uk_cell(key, arch, symbols, libs=())``: the cell built once per session under ``key``."""
    cache: dict[str, CellBuild] = {}
    base = tmp_path_factory.mktemp("cells")

    def get(key: str, arch: str, symbols: Iterable[str], libs: Iterable[Path] = (),
            build: bool = True) -> CellBuild:
        if key not in cache:
            cache[key] = make_cell(base / key, arch, list(symbols), libs=list(libs), build=build)
        return cache[key]

    return get


def config_values(path: Path) -> Mapping[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("CONFIG_"):
            key, _, value = line.partition("=")
            values[key] = value
    return values
