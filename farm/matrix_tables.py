"""The matrix file's tables: typed access that names the offending key, and its errors.

Validation is strict (see farm.matrix): every error is a :class:`MatrixError` naming the dotted
key (``platform[2].symbols``), and a table's unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Builder names end up in URLs, on disk (per-cell build directories) and in shell commands.
# `-` is allowed (Unikraft's own names: posix-timerfd, app-helloworld): nothing splits a cell
# name back into its parts, and check_unique_names catches two combinations that collide.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SYMBOL_RE = re.compile(r"^CONFIG_[A-Z0-9_]+$")


class MatrixError(Exception):
    """The matrix file is invalid; ``key`` is the dotted name of the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class _Section:
    """Typed access to one TOML table that remembers which keys were read."""

    def __init__(self, key: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise MatrixError(key, "must be a table")
        self.key, self.data, self.used = key, data, set[str]()

    def _get(self, name: str, types: tuple[type, ...], default: Any, what: str) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is _REQUIRED:
                raise MatrixError(f"{self.key}.{name}", "is required")
            return default
        value = self.data[name]
        # bool is an int subclass: "jobs = true" must not pass as 1.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise MatrixError(f"{self.key}.{name}", f"must be {what}")
        return value

    def text(self, name: str, default: Any = None) -> Any:
        return self._get(name, (str,), default, "a string")

    def name(self, name: str = "name") -> str:
        value = self.text(name, _REQUIRED)
        if not _NAME_RE.match(value):
            raise MatrixError(f"{self.key}.{name}", f"{value!r} must match {_NAME_RE.pattern}")
        return str(value)

    def integer(self, name: str, default: Any = None, minimum: int = 1) -> Any:
        value = self._get(name, (int,), default, "an integer")
        if value is not None and value < minimum:
            raise MatrixError(f"{self.key}.{name}", f"must be >= {minimum}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        return bool(self._get(name, (bool,), default, "true or false"))

    def strs(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(name, (list,), list(default), "a list of strings")
        if not all(isinstance(v, str) for v in value):
            raise MatrixError(f"{self.key}.{name}", "must be a list of strings")
        return tuple(value)

    def symbols(self, name: str = "symbols") -> dict[str, str]:
        value = self._get(name, (dict,), {}, "a table of CONFIG_ symbols")
        out = {}
        for sym, val in value.items():
            if not _SYMBOL_RE.match(sym):
                raise MatrixError(f"{self.key}.{name}.{sym}", "is not a CONFIG_ symbol")
            if isinstance(val, bool):
                val = "y" if val else "n"
            if not isinstance(val, str | int):
                raise MatrixError(f"{self.key}.{name}.{sym}", "must be a string, int or bool")
            out[sym] = str(val)
        return out

    def symbol(self, name: str) -> Any:
        value = self.text(name)
        if value is not None and not _SYMBOL_RE.match(value):
            raise MatrixError(f"{self.key}.{name}", f"{value!r} is not a CONFIG_ symbol")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise MatrixError(f"{self.key}.{unknown[0]}", "unknown key")


_REQUIRED = object()


def _tables(doc: dict[str, Any], name: str, required: bool = True) -> list[_Section]:
    value = doc.get(name, [])
    if not isinstance(value, list):
        raise MatrixError(name, "must be an array of tables ([[" + name + "]])")
    if required and not value:
        raise MatrixError(name, "at least one entry is required")
    return [_Section(f"{name}[{i}]", v) for i, v in enumerate(value)]


def _unique(key: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise MatrixError(key, f"duplicate name {n!r}")
        seen.add(n)


def _missing(section: _Section, name: str) -> str:
    raise MatrixError(f"{section.key}.{name}", "is required")


