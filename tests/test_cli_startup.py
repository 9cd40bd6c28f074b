"""The CLI starts without the farm's or the store's libraries (issue #9, item 3).

No timing here (bench/bench_startup.py measures it): what is guarded is the cause of a slow
start, a heavy package imported before a command needs it. Each check runs in a fresh
interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from triage.cli import lazy, main

ROOT = Path(__file__).resolve().parent.parent
FARM_AND_STORE = {"buildbot", "twisted", "alembic", "sqlalchemy", "matplotlib", "flask",
                  "jinja2", "requests", "bugzilla"}
PROBE = """
import contextlib, io, json, sys
from triage.cli import main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        main(sys.argv[1:], standalone_mode=False)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "out": out.getvalue(),
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _run(tmp_path: Path, *args: str) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=True, timeout=60)
    return dict(json.loads(proc.stdout.splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["config", "check"], ["config", "--help"]])
def test_help_and_config_check_import_no_heavy_package(tmp_path: Path, args: list[str]) -> None:
    result = _run(tmp_path, *args)
    assert result["code"] in (0, None), result
    heavy = FARM_AND_STORE & set(result["modules"])  # type: ignore[arg-type]
    assert not heavy, f"`xentriage {' '.join(args)}` imported {sorted(heavy)}"


def test_help_lists_every_command_without_importing_it(tmp_path: Path) -> None:
    result = _run(tmp_path, "--help")
    listed = {line.split()[0] for line in str(result["out"]).split("Commands:")[1].splitlines()
              if line.strip()}
    modules = {p.stem for p in (ROOT / "triage" / "cli").glob("cmd_*.py")}
    assert len(listed) == len(modules) and "farm" in listed and "config" in listed
    imported = set(result["modules"])  # type: ignore[arg-type]
    assert "farm" not in imported and "workers" not in imported


def test_the_farm_commands_do_import_the_farm() -> None:
    ctx = click.Context(main)
    farm = main.get_command(ctx, "farm")
    assert isinstance(farm, click.Group) and "run" in farm.commands
    assert "farm.localfarm" in sys.modules


def test_the_source_reader_agrees_with_click() -> None:
    """What ``--help`` shows without importing (read from source) is what the imported command
    says: name, help and short help, for every command module."""
    ctx = click.Context(main)
    entries = main.entries()  # type: ignore[attr-defined]
    for name, entry in entries.items():
        cmd = main.get_command(ctx, name)
        assert cmd is not None and cmd.name == name
        assert entry.help == inspect.cleandoc(cmd.help or ""), name
        assert (entry.short_help, entry.hidden) == (cmd.short_help, cmd.hidden), name
        placeholder = click.Command(name, help=entry.help, short_help=entry.short_help)
        assert placeholder.get_short_help_str(60) == cmd.get_short_help_str(60), name
        # ... and the module is plain enough to be read without importing it.
        path = ROOT / "triage" / "cli" / f"{entry.module.rsplit('.', 1)[1]}.py"
        assert lazy.read_entry(path, entry.module) == entry


def test_a_module_the_reader_cannot_follow_is_imported_instead(tmp_path: Path) -> None:
    pkg = tmp_path / "xtplug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cmd_plain.py").write_text(
        'import click\n\n@click.command("plain")\ndef command():\n    """Plain one."""\n')
    (pkg / "cmd_built.py").write_text(
        'import click\n\ndef _make():\n    @click.command("built", help="Built one.")\n'
        '    def inner():\n        pass\n    return inner\n\ncommand = _make()\n')
    sys.path.insert(0, str(tmp_path))
    try:
        found = lazy.discover("xtplug", [str(pkg)])
        assert "xtplug.cmd_plain" not in sys.modules  # read from source
        assert "xtplug.cmd_built" in sys.modules  # not a decorated def: imported to list it
        assert {n: e.help for n, e in found.items()} == {"plain": "Plain one.",
                                                         "built": "Built one."}
    finally:
        sys.path.remove(str(tmp_path))
        for mod in [m for m in sys.modules if m.startswith("xtplug")]:
            del sys.modules[mod]
