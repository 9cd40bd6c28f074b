"""Normalising log text so that one cause reads the same on every cell, arch and worker (pure).

A signature must not contain what differs between two runs of the same failure: the worker's
directory layout, the cell's build directory and name, addresses, timestamps, pids, line
numbers (they move between arches and releases) or the toolchain's install path. Paths are
rewritten first with the prefixes the log itself names (``make -C ROOT A=APP O=BUILD L=...``,
``Entering directory``), then, for any other absolute path, by recognising a Unikraft tree or
build directory inside it, so that a log without its commands still gives the same text.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[c78=>]")
# An absolute path token: stops at whitespace, quotes, brackets, commas and `:` (file:line:).
_ABS_PATH_RE = re.compile(r"(?<![\w.~-])/[^\s:'\"`\u2018\u2019()\[\]<>,;=]+")
_TREE_ANCHORS = ("lib", "plat", "arch", "drivers", "include", "support")
# Unikraft's external libraries and apps live in their own repositories, named lib-*/app-*.
_REPO_PREFIXES = ("lib-", "app-")
# The host's own files (compiler headers, the linker): never part of a tree. /opt and /usr/src
# may hold a tree, so only these prefixes count.
_SYSTEM_PREFIXES = ("/usr/lib/", "/usr/lib64/", "/usr/libexec/", "/usr/include/", "/usr/bin/",
                    "/usr/share/", "/lib/", "/lib64/", "/bin/", "/sbin/", "/etc/", "/proc/",
                    "/dev/", "/nix/")
_BUILD_DIR_NAMES = ("build", "cells")  # .../build/<...>, .../cells/<cell>/<...>
# Toolchain installs (rustup, cross sysroots) contain lib/ and include/ too: not the tree.
_TOOLCHAIN_PARTS = (".rustup", ".cargo", ".local", "rustlib", "toolchains", "sysroot",
                    "gcc-cross", "site-packages")
_MAKE_VAR_RE = re.compile(r"(?:^|\s)(-C|[AOLC]|UK_DEFCONFIG)(?:=|\s+)(\S+)")
_ENTERING_RE = re.compile(r"Entering directory [`'\u2018]([^'\u2019]+)['\u2019]")

_HEX_RE = re.compile(r"\b0x[0-9a-fA-F]+\b")
_LONG_HEX_RE = re.compile(r"\b[0-9a-fA-F]{8,}\b")
_SECTION_OFFSET_RE = re.compile(r":?\(\.[\w.$]+\+0x[0-9a-fA-F]+\)")
_TIMESTAMP_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?Z?|"
                           r"\b\d{2}:\d{2}:\d{2}\b")
_PID_RE = re.compile(r"\b(pid|PID|process)[ =:]?\s*\d+\b")
_MAKE_LEVEL_RE = re.compile(r"\bmake\[\d+\]")
_JOBS_RE = re.compile(r"-j\s*\d+\b")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "`": "'", "\u201c": '"', "\u201d": '"'})
_SPACES_RE = re.compile(r"\s+")


def clean_line(raw: str) -> str:
    """The line as a terminal would show it: no escape sequences, no carriage returns (a line
    ending in ``\\r`` followed by more text keeps only what was printed last, as on a tty)."""
    line = _ANSI_RE.sub("", raw).rstrip("\r\n")
    if "\r" in line:
        parts = [p for p in line.split("\r") if p.strip()]
        line = parts[-1] if parts else ""
    return line.rstrip()


@dataclass
class PathContext:
    """Prefixes learned from the log's own commands, longest first when rewriting."""

    prefixes: dict[str, str] = field(default_factory=dict)
    cell: str | None = None
    app: str | None = None  # the A= directory, when a command named it
    _ordered: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, replacement: str) -> None:
        path = path.rstrip("/")
        if not path.startswith("/") or len(path) < 2 or path in self.prefixes:
            return
        self.prefixes[path] = replacement
        self._ordered = sorted(self.prefixes.items(), key=lambda kv: -len(kv[0]))

    def learn_command(self, command: str) -> None:
        """``make -C ROOT A=APP L=a:b O=BUILD C=BUILD/.config UK_DEFCONFIG=...`` (any order)."""
        for var, value in _MAKE_VAR_RE.findall(command):
            value = value.strip("'\"")
            if var == "-C":
                self.add(value, "")
            elif var == "A":
                # By its directory's name, as guess_path names it when no command is there.
                self.app = self.app or value.rstrip("/")
                self.add(value, posixpath.basename(value.rstrip("/")) + "/")
            elif var == "O":
                self.add(value, "<build>/")
            elif var == "L":
                for lib in value.split(":"):
                    if lib:
                        self.add(lib, posixpath.basename(lib.rstrip("/")) + "/")
            elif var in ("C", "UK_DEFCONFIG"):
                self.add(posixpath.dirname(value), "<build>/")

    def learn_line(self, line: str) -> None:
        """The first ``Entering directory`` is the tree root when no command named it."""
        if "" in self.prefixes.values():
            return
        m = _ENTERING_RE.search(line)
        if m:
            self.add(m.group(1), "")

    def path(self, path: str) -> str:
        for prefix, replacement in self._ordered:
            if path == prefix or path.startswith(prefix + "/"):
                rest = path[len(prefix) + 1:]
                return (replacement + rest) if rest else (replacement.rstrip("/") or ".")
        return guess_path(path)

    def text(self, text: str) -> str:
        out = _ABS_PATH_RE.sub(lambda m: self.path(m.group(0)), text)
        if self.cell:
            out = out.replace(self.cell, "<cell>")
        return out


def guess_path(path: str) -> str:
    """A path from an unknown layout: a tree path from its first Unikraft top-level directory
    (``.../unikraft/lib/posix-timerfd/timerfd.c`` -> ``lib/posix-timerfd/timerfd.c``), a build
    path from its build directory, a system path (toolchain, rustup) by its last components."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return path
    if any(p in _TOOLCHAIN_PARTS for p in parts):
        return "<sys>/" + "/".join(parts[-4:])
    if path.startswith(_SYSTEM_PREFIXES):
        return "<sys>/" + "/".join(parts[-2:])
    for i, part in enumerate(parts):
        if part in _BUILD_DIR_NAMES and i + 1 < len(parts):
            skip = 2 if part == "cells" else 1  # cells/<cell>/...
            rest = parts[i + skip:]
            return "<build>/" + "/".join(rest) if rest else "<build>"
    for i in range(len(parts) - 1):
        if parts[i].startswith(_REPO_PREFIXES):
            return "/".join(parts[i:])
    for i in range(len(parts) - 1):
        if parts[i] in _TREE_ANCHORS:
            return "/".join(parts[i:])
    return "/".join(parts[-2:])


def message(text: str) -> str:
    """What varies between runs of one cause, taken out of an already path-normalised text."""
    text = text.translate(_QUOTES)
    text = _SECTION_OFFSET_RE.sub("", text)
    text = _TIMESTAMP_RE.sub("<time>", text)
    text = _PID_RE.sub(r"\1 <pid>", text)
    text = _HEX_RE.sub("0x?", text)
    text = _LONG_HEX_RE.sub("<hex>", text)
    text = _MAKE_LEVEL_RE.sub("make", text)
    text = _JOBS_RE.sub("-jN", text)
    return _SPACES_RE.sub(" ", text).strip()


def strip_location(path: str) -> str:
    """``file.c:93:9`` -> ``file.c`` (line and column move between arches and releases)."""
    return re.sub(r"(:\d+)+$", "", path)


def library_of(path: str) -> str | None:
    """The library a normalised path belongs to: ``lib/<name>/``, ``plat/<name>``, an external
    library's directory (``lib-musl/``), a build sub-directory (``<build>/libposixtimerfd/``)."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] in ("lib", "plat", "drivers") and parts[1]:
        return parts[1] if parts[0] == "lib" else f"{parts[0]}/{parts[1]}"
    if len(parts) >= 2 and parts[0] == "arch":
        return "arch"
    if len(parts) >= 3 and parts[0] == "<build>" and parts[1].startswith("lib"):
        return parts[1]
    if len(parts) >= 2 and parts[0].startswith(_REPO_PREFIXES):
        return parts[0]
    return None


def canonical_library(name: str | None) -> str | None:
    """``posix-timerfd``, ``libposix_timerfd`` and ``libposixtimerfd`` are one library."""
    if name is None:
        return None
    base = name.rsplit("/", 1)[-1].lower()
    base = base.removesuffix(".o").removesuffix(".ld")
    base = re.sub(r"[-_.]", "", base)
    return base.removeprefix("lib") or base
