"""Worker capabilities and routing cells to workers able to build and boot them.

Capabilities come from ``python -m workers.probe --json`` run on (or for) each worker and are
declared to the master in a workers file (``farm up`` writes it). Routing happens per real
builder, i.e. per (platform, arch): its workers are those that can build the arch and, when
any declared worker can boot the platform/arch, only those that can also boot it. When none can
boot it, the cell is still built and its boot step reports "boot skipped: no capable worker".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm.matrix import Arch, MatrixError, Platform


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


def load_workers(path: Path) -> list[WorkerSpec]:
    """The workers file: ``{"workers": [{"name", "max_builds", "password_file", "probe"}]}``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MatrixError("workers", f"cannot read workers file {path.name}: {exc}") from exc
    specs = []
    for i, w in enumerate(doc.get("workers", [])):
        key = f"workers[{i}]"
        if not isinstance(w, dict) or not isinstance(w.get("name"), str):
            raise MatrixError(f"{key}.name", "is required")
        unknown = set(w) - {"name", "max_builds", "password_file", "probe"}
        if unknown:
            raise MatrixError(f"{key}.{sorted(unknown)[0]}", "unknown key")
        archs, boots, reasons = capabilities_from_probe(w.get("probe", {}))
        pw = w.get("password_file")
        specs.append(WorkerSpec(
            name=w["name"], build_archs=archs, boots=boots,
            max_builds=int(w.get("max_builds", 1)),
            password_file=(path.parent / pw) if pw else None, reasons=reasons,
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
