"""`buildbot reconfig` re-executes ci/master.cfg in the running master: it must pick up changed
farm code, not the modules imported at start-up.

Buildbot's reconfig is ``FileLoader(basedir, configFileName).loadConfig()`` in the master's
process: the quick tests run exactly that twice in one fresh process, with a farm module changed
in between; the slow one starts a real master, changes a farm module and runs
``buildbot reconfig``. All work on a copy of the farm's code (the checkout is never modified).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from farm.buildbot_config import build_master_config, load_master_settings
from farm.localfarm import free_port
from farm.matrix import MatrixError

REPO = Path(__file__).resolve().parents[2]

RECONFIG = """
import json, sys
from pathlib import Path
from buildbot.config.master import FileLoader

copy, basedir = Path(sys.argv[1]), sys.argv[2]
loader = FileLoader(basedir, str(copy / "ci" / "master.cfg"))
first = loader.loadConfig()
source = copy / "farm" / "buildbot_config.py"
source.write_text(source.read_text().replace('"xentriage CI farm"', '"farm code reloaded"'))
second = loader.loadConfig()
import farm.buildbot_config
print(json.dumps({"first": first.title, "second": second.title,
                  "module": farm.buildbot_config.__file__,
                  "builders": [b.name for b in second.builders]}))
"""


def _copy_farm(tmp_path: Path, master_cfg: str | None = None) -> Path:
    copy = tmp_path / "checkout"
    for name in ("farm", "workers", "ci"):
        shutil.copytree(REPO / name, copy / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # ci/matrix.toml names the fixture tree relative to itself.
    (copy / "tests" / "fixtures").mkdir(parents=True)
    (copy / "tests" / "fixtures" / "uktree").symlink_to(REPO / "tests" / "fixtures" / "uktree")
    if master_cfg is not None:
        (copy / "ci" / "master.cfg").write_text(master_cfg)
    return copy


def _reconfig_twice(tmp_path: Path, copy: Path) -> dict[str, object]:
    basedir = tmp_path / "master"
    basedir.mkdir()
    # triage (the dashboards' store code) comes from the checkout; farm and workers from the
    # copy, which master.cfg puts first on sys.path.
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("XENTRIAGE_FARM_MATRIX", None)
    proc = subprocess.run([sys.executable, "-c", RECONFIG, str(copy), str(basedir)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_reconfig_picks_up_changed_farm_code(tmp_path: Path) -> None:
    copy = _copy_farm(tmp_path)
    out = _reconfig_twice(tmp_path, copy)
    assert out["first"] == "xentriage CI farm"
    assert out["second"] == "farm code reloaded"
    assert str(out["module"]).startswith(str(copy))
    assert "kvm-x86_64" in list(out["builders"])  # type: ignore[arg-type]


@pytest.mark.slow
def test_buildbot_reconfig_of_a_running_master_uses_the_changed_farm_code(tmp_path: Path) -> None:
    copy = _copy_farm(tmp_path)
    basedir = tmp_path / "master"
    bin_dir = Path(sys.executable).parent
    www = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("XENTRIAGE_FARM_MATRIX", None)
    subprocess.run([str(bin_dir / "buildbot"), "create-master", "-q", "-r",
                    f"--config={copy / 'ci' / 'master.cfg'}", str(basedir)],
                   env=env, check=True, timeout=120)
    (basedir / "farm.json").write_text(json.dumps({"pb_port": free_port(), "www_port": www}))

    def descriptions() -> set[str]:
        answer = requests.get(f"http://127.0.0.1:{www}/api/v2/builders", timeout=10).json()
        return {b["description"] or "" for b in answer["builders"]}

    subprocess.run([str(bin_dir / "buildbot"), "start", "--start_timeout=240", str(basedir)],
                   env=env, check=True, timeout=260, capture_output=True)
    try:
        assert any(d.startswith("built and booted on") for d in descriptions())
        routing = copy / "farm" / "routing.py"
        routing.write_text(routing.read_text().replace('f"built and booted on',
                                                       'f"reconfigured: booted on'))
        proc = subprocess.run([str(bin_dir / "buildbot"), "reconfig", str(basedir)], env=env,
                              capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        got = descriptions()
        assert any(d.startswith("reconfigured: booted on") for d in got), got
        assert not any(d.startswith("built and booted on") for d in got)
    finally:
        subprocess.run([str(bin_dir / "buildbot"), "stop", str(basedir)], env=env,
                       timeout=120, capture_output=True)


def test_without_dropping_the_modules_reconfig_keeps_the_old_code(tmp_path: Path) -> None:
    # The control: the same master.cfg without its module purge serves the stale code, so the
    # test above fails if the purge is lost.
    text = (REPO / "ci" / "master.cfg").read_text()
    start = text.index("_RELOADED = ")
    end = text.index("from farm.buildbot_config import")
    copy = _copy_farm(tmp_path, text[:start] + text[end:])
    out = _reconfig_twice(tmp_path, copy)
    assert out["first"] == out["second"] == "xentriage CI farm"


def test_builder_names_are_checked_once_in_the_farm_config(tmp_path: Path) -> None:
    # Cell x-base-kvm-x86_64 and the real builder of platform "x-base-kvm" collide.
    text = (REPO / "ci" / "matrix.toml").read_text()
    text += '\n[[platform]]\nname = "x-base-kvm"\nsymbols = ["CONFIG_PLAT_KVM"]\n' \
            'image_suffix = "qemu"\n\n[[app]]\nname = "x"\npath = "apps/helloworld"\n'
    text = text.replace('path = "../tests/fixtures/uktree"',
                        f'path = "{REPO / "tests" / "fixtures" / "uktree"}"')
    (tmp_path / "matrix.toml").write_text(text)
    (tmp_path / "farm.json").write_text(json.dumps({"matrix": "matrix.toml"}))
    with pytest.raises(MatrixError, match=r"not unique: .*x-base-kvm-x86_64"):
        build_master_config(load_master_settings(tmp_path, REPO / "ci"))
