"""Worker capabilities and routing cells to workers able to build and boot them.

Capabilities come from ``python -m workers.probe --json`` run on (or for) each worker and are
declared to the master in a workers file (``farm up`` writes it). Routing happens per real
builder, i.e. per (platform, arch): its workers are those that can build the arch and, when
any declared worker can boot the platform/arch, only those that can also boot it. When none can
boot it, the cell is still built and its boot step reports "boot skipped: no capable worker".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm.matrix import Arch, MatrixError, Platform
from farm.matrix_tables import Name, Positive
from triage.validation import validate_json


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    build_archs: frozenset[str]
    boots: frozenset[tuple[str, str]]  # (boot_platform, arch)
    max_builds: int = 1
    password_file: Path | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)  # why a capability is missing

    def can_build(self, arch: str) -> bool:
        return arch in self.build_archs

    def can_boot(self, boot_platform: str, arch: str) -> bool:
        return (boot_platform, arch) in self.boots


@dataclass(frozen=True)
class Route:
    builder: str
    workers: tuple[str, ...]
    boot_capable: bool  # some assigned worker can boot this platform/arch
    note: str  # human-readable routing decision, shown as the builder's description


def capabilities_from_probe(probe: Mapping[str, Any]) -> tuple[frozenset[str],
                                                                frozenset[tuple[str, str]],
                                                                dict[str, str]]:
    """(buildable archs, bootable (platform, arch) pairs, reasons) from the probe's JSON.

    Accepts entries as plain names (``"x86_64"``, ``"qemu/x86_64"``) or as objects with an
    ``ok``/``available`` flag and a ``reason``, so that a hand-written workers file stays short.
    """
    archs: set[str] = set()
    boots: set[tuple[str, str]] = set()
    reasons: dict[str, str] = {}
    for entry in _entries(probe.get("build", probe.get("build_archs", []))):
        arch = str(entry.get("arch") or entry.get("name"))
        if entry.get("ok", True):
            archs.add(arch)
        else:
            reasons[f"build/{arch}"] = str(entry.get("reason", ""))
    for entry in _entries(probe.get("boot", [])):
        if "name" in entry and "/" in str(entry["name"]):
            plat, arch = str(entry["name"]).split("/", 1)
        else:
            plat, arch = str(entry.get("platform")), str(entry.get("arch"))
        if entry.get("ok", True):
            boots.add((plat, arch))
        else:
            reasons[f"boot/{plat}/{arch}"] = str(entry.get("reason", ""))
    return frozenset(archs), frozenset(boots), reasons


def _entries(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):  # {"x86_64": {"ok": true, ...}} or {"qemu/x86_64": true}
        out = []
        for k, v in value.items():
            item = dict(v) if isinstance(v, dict) else {"ok": bool(v)}
            item.setdefault("name", k)
            if "ok" not in item and "available" in item:
                item["ok"] = item["available"]
            out.append(item)
        return out
    out = []
    for v in value or []:
        if isinstance(v, str):
            out.append({"name": v, "ok": True})
        elif isinstance(v, dict):
            item = dict(v)
            if "ok" not in item and "available" in item:
                item["ok"] = item["available"]
            out.append(item)
    return out


# A capability list: names ("x86_64", "qemu/x86_64") or tables with ok/available and reason,
# or a table of name -> flag/table (see capabilities_from_probe).
_Entries = list[str | dict[str, Any]] | dict[str, Any]


@dataclass(frozen=True)
class ProbeTable:
    """``python -m workers.probe --json`` output, or a hand-written short form of it."""

    build: _Entries | None = None
    build_archs: _Entries | None = None
    boot: _Entries | None = None
    # The rest of the probe's report says where the capabilities come from (informational).
    hostname: str | None = None
    native_arch: str | None = None
    make: str | None = None
    kvm: dict[str, Any] | None = None
    host_tools: dict[str, str | None] | None = None
    gcc_version: str | None = None
    problems: list[str] | None = None
    boot_cells: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class WorkerEntry:
    """One entry of the workers file, as written."""

    name: Name
    max_builds: Positive = 1
    password_file: str | None = None  # relative to the workers file
    probe: ProbeTable = field(default_factory=lambda: ProbeTable())


@dataclass(frozen=True)
class WorkersFile:
    workers: tuple[WorkerEntry, ...] = ()


def load_workers(path: Path) -> list[WorkerSpec]:
    """The workers file: ``{"workers": [{"name", "max_builds", "password_file", "probe"}]}``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MatrixError("workers", f"cannot read workers file {path.name}: "
                                     f"{exc.strerror}") from exc
    doc: WorkersFile = validate_json(
        WorkersFile, raw, prefix="",
        error=lambda key, msg: MatrixError(key or "workers", msg if key else f"{path.name}: {msg}"))
    specs = []
    for w in doc.workers:
        archs, boots, reasons = capabilities_from_probe(w.probe.as_dict())
        specs.append(WorkerSpec(
            name=w.name, build_archs=archs, boots=boots, max_builds=w.max_builds,
            password_file=(path.parent / w.password_file) if w.password_file else None,
            reasons=reasons,
        ))
    if not specs:
        raise MatrixError("workers", f"{path.name} declares no workers")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise MatrixError("workers", "worker names are not unique")
    return specs


def route(platform: Platform, arch: Arch, workers: Iterable[WorkerSpec]) -> Route:
    builder = f"{platform.name}-{arch.name}"
    workers = list(workers)
    builders = [w for w in workers if w.can_build(arch.name)]
    booters = [w for w in builders if w.can_boot(platform.boot_platform, arch.name)]
    if booters:
        names = tuple(w.name for w in booters)
        return Route(builder, names, True, f"built and booted on {', '.join(names)}")
    if builders:
        names = tuple(w.name for w in builders)
        return Route(builder, names, False,
                     f"built on {', '.join(names)}; boot skipped: no capable worker")
    # Nobody declared this arch: keep the cells visible and let them fail loudly (the
    # compiler is missing) rather than silently dropping part of the matrix.
    names = tuple(w.name for w in workers)
    return Route(builder, names, False, f"no declared worker can build {arch.name}")
