"""Rendering a worker's ``buildbot.tac`` and systemd unit from the templates beside this file."""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent
TAC_TEMPLATE = TEMPLATE_DIR / "buildbot.tac.in"
UNIT_TEMPLATE = TEMPLATE_DIR / "xentriage-worker@.service"
UNIT_NAME = "xentriage-worker@.service"
_PLACEHOLDER_RE = re.compile(r"@[A-Z_]+@")


class ProvisionError(ValueError):
    pass


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    master_host: str
    master_port: int
    basedir: Path
    password_file: Path | None = None
    user: str = ""
    buildbot_worker: str = ""

    @classmethod
    def parse(cls, name: str, master: str, basedir: str, password_file: str | None = None,
              user: str | None = None, buildbot_worker: str | None = None) -> WorkerSpec:
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise ProvisionError(f"--name {name!r}: use letters, digits, '-', '_' or '.'")
        host, sep, port = master.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ProvisionError(f"--master {master!r}: expected HOST:PORT")
        pw = Path(password_file).resolve() if password_file else None
        if pw is not None and not pw.is_file():
            raise ProvisionError(f"--password-file {password_file}: no such file")
        tool = buildbot_worker or shutil.which("buildbot-worker") or str(
            Path(sys.executable).with_name("buildbot-worker"))
        return cls(name, host.strip("[]"), int(port), Path(basedir).resolve(), pw,
                   user or getpass.getuser(), tool)


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    leftover = _PLACEHOLDER_RE.findall(template)
    if leftover:
        raise ProvisionError(f"unfilled template placeholders: {sorted(set(leftover))}")
    return template


def render_tac(spec: WorkerSpec) -> str:
    # repr() makes every value a valid, safely quoted Python literal.
    return _fill(TAC_TEMPLATE.read_text(encoding="utf-8"), {
        "BASEDIR": repr(str(spec.basedir)),
        "MASTER_HOST": repr(spec.master_host),
        "MASTER_PORT": repr(spec.master_port),
        "NAME": repr(spec.name),
        "PASSWORD_FILE": repr(str(spec.password_file) if spec.password_file else None),
    })


def render_unit(spec: WorkerSpec) -> str:
    return _fill(UNIT_TEMPLATE.read_text(encoding="utf-8"), {
        "USER": spec.user,
        "BASEDIR_ROOT": str(spec.basedir.parent),
        "BUILDBOT_WORKER": spec.buildbot_worker,
    })


def write_worker(spec: WorkerSpec, unit_dir: Path | None = None,
                 capabilities: dict[str, object] | None = None) -> list[Path]:
    """Write buildbot.tac, the worker info files and the unit; return the paths written."""
    spec.basedir.mkdir(parents=True, exist_ok=True)
    info = spec.basedir / "info"
    info.mkdir(exist_ok=True)
    written = [spec.basedir / "buildbot.tac", info / "admin", info / "host"]
    written[0].write_text(render_tac(spec), encoding="utf-8")
    written[1].write_text(f"{spec.user} <{spec.user}@{socket.getfqdn()}>\n", encoding="utf-8")
    written[2].write_text(f"{socket.gethostname()}: xentriage CI farm worker\n",
                          encoding="utf-8")
    if capabilities is not None:
        # Buildbot sends every file in info/ to the master as worker info.
        caps = info / "xentriage_capabilities"
        caps.write_text(json.dumps(capabilities, sort_keys=True) + "\n", encoding="utf-8")
        written.append(caps)
    unit = (unit_dir or spec.basedir) / UNIT_NAME
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(render_unit(spec), encoding="utf-8")
    os.chmod(unit, 0o644)
    written.append(unit)
    return written
