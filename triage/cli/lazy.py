"""Subcommands found by module name and imported only when run.

Every subcommand lives in ``triage/cli/cmd_<name>.py`` and exposes ``command`` (a click command
or group). Importing them all to print ``--help`` would pull Buildbot, Twisted, SQLAlchemy and
matplotlib into every start-up, so the group reads each module's *source* instead: the name and
the help of ``command`` come from its decorator and docstring (:mod:`ast`, no import). The module
itself is imported when its command runs (or when a tool asks for the command object).

A new command is a new ``cmd_<name>.py`` with a module-level ``@click.command("name")`` (or
``@click.group("name")``) decorated ``def command(...)`` whose docstring's first sentence is the
one-line help. Nothing else is edited. A module whose ``command`` is not written that way still
works: it is imported to be listed (slower, never wrong).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click


@dataclass(frozen=True)
class CommandEntry:
    """What ``--help`` needs of a subcommand, read from its module's source."""

    name: str
    module: str  # the dotted module name
    help: str | None
    short_help: str | None
    hidden: bool


def _literal(node: ast.expr | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def _is_click_factory(call: ast.expr) -> bool:
    """``@click.command(...)`` / ``@click.group(...)`` (also imported bare)."""
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("command", "group")


def read_entry(path: Path, module: str) -> CommandEntry | None:
    """The entry of the module at ``path``, or None when its source does not say it plainly."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if not (isinstance(node, ast.FunctionDef) and node.name == "command"):
            continue
        factories = [d for d in node.decorator_list if _is_click_factory(d)]
        if len(factories) != 1:
            return None
        call = factories[0]
        assert isinstance(call, ast.Call)
        name = _literal(call.args[0]) if call.args else None
        kwargs = {k.arg: _literal(k.value) for k in call.keywords if k.arg}
        name = kwargs.get("name", name)
        if not isinstance(name, str):
            return None
        # click itself reads the docstring the same way (inspect.cleandoc).
        help_text = kwargs.get("help") or ast.get_docstring(node)
        return CommandEntry(name=name, module=module, help=help_text,
                            short_help=kwargs.get("short_help"),
                            hidden=bool(kwargs.get("hidden", False)))
    return None


def _load(module: str) -> click.Command:
    command = getattr(importlib.import_module(module), "command", None)
    if not isinstance(command, click.Command):
        raise RuntimeError(f"{module} must expose a click command named 'command'")
    return command


def discover(package: str, paths: list[str]) -> dict[str, CommandEntry]:
    """Every ``cmd_*`` module of the package, by command name."""
    found: dict[str, CommandEntry] = {}
    for info in sorted(pkgutil.iter_modules(paths), key=lambda i: i.name):
        if not info.name.startswith("cmd_"):
            continue
        module = f"{package}.{info.name}"
        path = Path(getattr(info.module_finder, "path", "")) / f"{info.name}.py"
        entry = read_entry(path, module) if path.is_file() else None
        if entry is None:  # not plain enough to read: ask the module itself
            cmd = _load(module)
            entry = CommandEntry(name=cmd.name or info.name, module=module, help=cmd.help,
                                 short_help=cmd.short_help, hidden=cmd.hidden)
        if entry.name in found:
            raise RuntimeError(f"two modules define the command {entry.name!r}: "
                               f"{found[entry.name].module} and {module}")
        found[entry.name] = entry
    return found


class LazyGroup(click.Group):
    """A click group whose subcommands are ``cmd_*`` modules, imported on first use."""

    def __init__(self, *args: Any, package: str, package_paths: list[str],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._package = package
        self._paths = package_paths
        self._entries: dict[str, CommandEntry] | None = None

    def entries(self) -> dict[str, CommandEntry]:
        if self._entries is None:
            self._entries = discover(self._package, self._paths)
        return self._entries

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.entries()) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            entry = self.entries().get(cmd_name)
            if entry is None:
                return None
            self.add_command(_load(entry.module), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own listing, from the entries: a placeholder command with the module's help
        gives the same one-line text without importing the module."""
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name)
            if cmd is None:
                e = self.entries()[name]
                cmd = click.Command(name, help=e.help, short_help=e.short_help, hidden=e.hidden)
            if not cmd.hidden:
                rows.append((name, cmd))
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])
