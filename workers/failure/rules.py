"""Which log lines are a failure's cause, and what kind of cause (pure).

The rules read one cleaned line at a time and return a :class:`Finding` or ``None``. The
first *strong* finding of a phase is its cause: a compiler or assembler error, a linker
``undefined reference``, make's ``*** ... Stop.``, a command that was not found, a download
that failed, a toolchain too old. *Weak* findings (make's ``*** [target] Error N``,
``collect2: ld returned 1``) are consequences: used only when nothing stronger was printed.
Warnings, notes, ``Info:`` lines and arch-specific follow-ups (``relocation truncated to
fit``) are never causes. This is how syzbot, Treeherder and KernelCI's logspec pick the line
a developer would quote.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from workers.failure.normalise import (
    PathContext,
    canonical_library,
    library_of,
    message,
    strip_location,
)

BUILD_FAILED, ENVIRONMENT, BOOT_FAILED = "build-failed", "environment", "boot-failed"

# Substrings one of which every candidate line contains: ``in`` tests (C speed) decide
# whether the detailed rules run at all; a regex alternation costs ten times more per line.
TRIGGERS = ("rror", "not found", "undefined reference", "multiple definition", "Stop.",
            "Cannot open", "No space", "Killed", "memory exhausted", "Cannot allocate",
            "out of memory", "resolve host", "name resolution", "unreachable",
            "Connection refused", "Connection timed out", "unable to access",
            "Name or service", "CRIT", "ERR", "PANIC", "anic", "Assert", "rap", "Require",
            "too old", "No such file", "lacks", "rust-src", "can't find crate", "qemu-system",
            "syntax error", "cannot find", "cannot open", "Exception", "unknown statement",
            "terminal", "Inappropriate ioctl")
# The subset that a failing build always prints near its cause (make's "Error N", a
# compiler's "error:", make's "Stop.", the shell's "not found", the linker's lines): the bulk
# scan of a long log jumps from one to the next and runs the rules on the lines before each.
# (tar's "Cannot open", "multiple definition", "No space left" ... are all followed by make's
# "Error N" within the window.)
BULK_NEEDLES = ("rror", "Stop.", "not found", "undefined reference", "cannot run ")


def triggered(line: str) -> bool:
    return any(t in line for t in TRIGGERS)


_SKIP_RE = re.compile(
    r"\bwarning:|\bWARNING\b|\bnote:|^\s*Info:|\bInfo:|relocation truncated to fit|"
    r"^In file included from|^\s*\d*\s*\|")

_NOT_FOUND_RES = (
    # /bin/sh: 1: lex: not found  |  sh: line 1: bindgen: command not found
    re.compile(r"^(?:\S*/)?(?:ba|da)?sh: (?:\d+: )?(?:line \d+: )?(?P<tool>[^\s:]+): "
               r"(?:command )?not found"),
    # make: aarch64-none-elf-gcc: No such file or directory (make could not exec it)
    re.compile(r"^make(?:\[\d+\])?: (?P<tool>[^\s:*]+): (?:Command not found|"
               r"No such file or directory)"),
    re.compile(r"(?:^|\s)(?P<tool>[\w.+/-]+): command not found"),
    re.compile(r"^cannot run (?P<tool>\S+): "),
)
_TOOLCHAIN_RES = (
    re.compile(r"Require[sd]? (?:GCC|gcc|Clang|clang|binutils|[\w-]+) version.*"),
    re.compile(r"(?:compiler|GCC|gcc|toolchain|binutils|version) (?:is )?too old.*"),
    re.compile(r"can't find crate for [`'\u2018](?:core|std|alloc|compiler_builtins)['\u2019].*"),
    re.compile(r"rust-src.*(?:not|missing).*|(?:not|missing).*rust-src.*"),
)
_DOWNLOAD_RES = (
    re.compile(r"^tar(?: \(child\))?: (?P<file>\S+): Cannot open"),
    re.compile(r"^(?:ERROR \d{3}: .*|curl: \(\d+\) .*)"),  # wget's and curl's HTTP errors
    re.compile(r"(?:Could not resolve host|Temporary failure in name resolution|"
               r"unable to resolve host address|Name or service not known|"
               r"Network is unreachable|Connection refused|Connection timed out|"
               r"fatal: unable to access)"),
)
_RESOURCE_RES = (
    (re.compile(r"No space left on device"), "disk full"),
    (re.compile(r"Killed signal terminated program|internal compiler error: Killed|"
                r"virtual memory exhausted|Cannot allocate memory|[Oo]ut of memory|"
                r"^(?:\S*sh: (?:line )?\d+: )?\d*\s*Killed\b"),
     "out of memory (a process was killed)"),
)

_IN_FUNCTION_RE = re.compile(r"(?P<obj>[^\s:]+): in function [`'\u2018](?P<fn>[^'\u2019]+)"
                             r"['\u2019]")
_UNDEF_RE = re.compile(r"(?P<loc>[^\s]+?):(?:\(\.[^)]*\)|\d+):? undefined reference to "
                       r"[`'\u2018](?P<sym>[^'\u2019]+)['\u2019]")
_MULTIDEF_RE = re.compile(r"(?P<loc>[^\s]+?):(?:\(\.[^)]*\)|\d+):? multiple definition of "
                          r"[`'\u2018](?P<sym>[^'\u2019]+)['\u2019]")
_COMPILE_RE = re.compile(r"^(?P<file>[^\s:]+):(?:\d+:)?(?:\d+:)? (?P<kind>(?:fatal )?(?:error|"
                         r"Error)): (?P<msg>.+)")
_MAKE_STOP_RE = re.compile(r"^(?:make(?:\[\d+\])?: )?(?:(?P<file>[^\s:]+):\d+: )?\*\*\* "
                           r"(?P<msg>.+?)\.?\s+Stop\.\s*$")
_NO_RULE_RE = re.compile(r"No rule to make target '(?P<target>[^']+)'")
_TOOL_ERROR_RE = re.compile(r"^(?P<tool>[\w.+/-]*(?:gcc|g\+\+|cc1|ld|as|clang|rustc|cargo)"
                            r"(?:\.\w+)?): (?:fatal )?error: (?P<msg>.+)")
_GENERIC_ERROR_RE = re.compile(r"^(?:ERROR|Error|error)(?:\[\w+\])?: (?P<msg>.+)")
_MAKE_ERROR_RE = re.compile(r"^make(?:\[\d+\])?: \*\*\* \[(?P<target>[^\]]+)\] "
                            r"Error (?P<code>\d+)")
_COLLECT2_RE = re.compile(r"collect2: error: ld returned \d+ exit status")
_KCONFIG_SYNTAX_RE = re.compile(r"^(?P<file>[^\s:]*(?:Config\.uk|Kconfig)[^\s:]*):\d+: "
                                r"(?P<msg>syntax error.*|unknown (?:statement|option).*|"
                                r"invalid .*)")
_LD_CANNOT_RE = re.compile(r"^(?:\S*/)?(?:[\w.-]*-)?ld(?:\.\w+)?: (?P<msg>cannot (?:find|open) "
                           r".+)")
_PY_EXC_RE = re.compile(r"^(?P<exc>[A-Z]\w*(?:Error|Exception)): (?P<msg>.+)")

# Unikraft's console: "[    0.1] ERR:  [libukrandom] <random.c @  105> message".
_UK_LOG_RE = re.compile(r"(?:\[\s*\d+\.\d+\]\s*)?\b(?P<level>CRIT|ERR)\s*:\s*"
                        r"(?:\[(?P<lib>[^\]]+)\]\s*)?(?:<(?P<src>[^>@]+?)\s*@\s*\d+>\s*)?"
                        r"(?P<msg>.*)$")
_PANIC_RE = re.compile(r"\bPANIC\b|Assertion fail(?:ed|ure)|Unhandled [Tt]rap|Kernel panic")
# A linuxu guest without a terminal on stdin (run without a pty or `script`): the runner's
# fault. Unikraft: "CRIT: [liblinuxuplat] <console.c @ 92> Failed to initialize terminal console".
_NO_TTY_RE = re.compile(r"Failed to initialize terminal console|not a terminal|"
                        r"Inappropriate ioctl for device")
_VMM_ERROR_RE = re.compile(r"^(?P<tool>qemu-system-[\w]+|firecracker|xl): (?P<msg>.+)")


@dataclass(frozen=True)
class Finding:
    rule: str  # compile-error, undefined-reference, missing-tool, boot-error, ...
    cls: str  # build-failed | environment | boot-failed
    key: str  # the normalised text the signature hashes
    title: str  # a one-line human title
    line: str  # the cleaned line, paths as printed (evidence)
    library: str | None = None
    strong: bool = True


def _lib_title(lib: str | None, fallback: str) -> str:
    return lib or fallback


def _tool(name: str) -> str:
    return posixpath.basename(name)


# The program a Makefile calls and the package a worker lacks: one cause, one signature
# whether the log says "lex: not found" or the pre-flight check says "lacks flex".
TOOL_ALIASES = {"lex": "flex", "yacc": "bison"}


def missing_tool_key(tool: str) -> str:
    return f"missing-tool {TOOL_ALIASES.get(tool, tool)}"


def environment_finding(line: str, ctx: PathContext) -> Finding | None:
    m = re.search(r"the worker lacks (?P<tool>[^\s,(]+)", line)
    if m:
        return Finding("missing-tool", ENVIRONMENT, missing_tool_key(m.group("tool")),
                       line.strip(), line)
    for rx in _NOT_FOUND_RES:
        m = rx.search(line)
        if m:
            tool = _tool(m.group("tool"))
            return Finding("missing-tool", ENVIRONMENT, missing_tool_key(tool),
                           f"environment: {tool} not found on the worker (missing host tool)",
                           line)
    for rx in _TOOLCHAIN_RES:
        m = rx.search(line)
        if m:
            text = message(ctx.text(m.group(0))).removesuffix("Stop.").strip(" .")
            return Finding("toolchain", ENVIRONMENT, f"toolchain {text}",
                           f"environment: toolchain too old or incomplete: {text}", line)
    for rx in _DOWNLOAD_RES:
        m = rx.search(line)
        if m:
            what = posixpath.basename(m.group("file")) if "file" in m.groupdict() else \
                message(m.group(0))
            return Finding("download", ENVIRONMENT, f"download {what}",
                           f"environment: download failed or no network ({what})", line)
    for rx, what in _RESOURCE_RES:
        if rx.search(line):
            return Finding("resource", ENVIRONMENT, f"resource {what}",
                           f"environment: worker {what}", line)
    return None


def build_finding(line: str, ctx: PathContext, in_function: str | None) -> Finding | None:
    """The cause a build (or defconfig) output line names, if any; ``in_function`` is the
    object of the linker's last ``in function`` line (which library the reference is from)."""
    env = environment_finding(line, ctx)
    if env is not None:
        return env
    for rx, rule, what in ((_UNDEF_RE, "undefined-reference", "undefined reference to"),
                           (_MULTIDEF_RE, "multiple-definition", "multiple definition of")):
        m = rx.search(line)
        if m:
            loc = strip_location(ctx.path(m.group("loc")) if m.group("loc").startswith("/")
                                 else m.group("loc"))
            lib = library_of(loc) or (library_of(ctx.path(in_function)) if in_function
                                      else None)
            if lib is None and in_function:
                lib = posixpath.basename(in_function).removesuffix(".o")
            sym = m.group("sym")
            key = f"{rule} {sym} lib={canonical_library(lib)} file={posixpath.basename(loc)}"
            return Finding(rule, BUILD_FAILED, key, f"{_lib_title(lib, 'link')}: {what} {sym}",
                           line, lib)
    m = _MAKE_STOP_RE.search(line)
    if m:
        return _make_stop(m, line, ctx)
    m = _KCONFIG_SYNTAX_RE.search(line)
    if m:
        where = strip_location(ctx.path(m.group("file")) if m.group("file").startswith("/")
                              else m.group("file"))
        msg = message(ctx.text(m.group("msg")))
        lib = library_of(where)
        return Finding("kconfig-error", BUILD_FAILED, f"kconfig-error {where} {msg}",
                       f"{lib or where}: Kconfig: {msg}", line, lib)
    m = _LD_CANNOT_RE.search(line)
    if m:
        msg = message(ctx.text(m.group("msg")))
        return Finding("link-error", BUILD_FAILED, f"link-error {msg}", f"ld: {msg}", line)
    m = _PY_EXC_RE.search(line)
    if m:
        msg = message(ctx.text(m.group("msg")))
        return Finding("script-error", BUILD_FAILED, f"script-error {m.group('exc')} {msg}",
                       f"{m.group('exc')}: {msg}", line)
    m = _COMPILE_RE.search(line)
    if m and not _TOOL_ERROR_RE.search(line):
        path = strip_location(ctx.path(m.group("file")) if m.group("file").startswith("/")
                              else m.group("file"))
        msg = message(ctx.text(m.group("msg")))
        lib = library_of(path)
        where = f"{lib}: {posixpath.basename(path)}" if lib else path
        return Finding("compile-error", BUILD_FAILED, f"compile-error {path} {msg}",
                       f"{where}: {m.group('kind').lower()}: {msg}", line, lib)
    m = _TOOL_ERROR_RE.search(line)
    if m:
        if _COLLECT2_RE.search(line):
            return Finding("link-failed", BUILD_FAILED, "link-failed", "link failed", line,
                           strong=False)
        tool = re.sub(r"^.*?-(?=(gcc|g\+\+|ld|as)$)", "", _tool(m.group("tool")))
        msg = message(ctx.text(m.group("msg")))
        return Finding("tool-error", BUILD_FAILED, f"tool-error {tool} {msg}",
                       f"{tool}: {msg}", line)
    m = _GENERIC_ERROR_RE.search(line)
    if m:
        msg = message(ctx.text(m.group("msg")))
        return Finding("error", BUILD_FAILED, f"error {msg}", msg, line)
    m = _MAKE_ERROR_RE.search(line)
    if m:
        target = message(ctx.text(re.sub(r"^[^\s:]+:\d+: ", "", m.group("target"))))
        code = m.group("code")
        if code == "127":
            return Finding("missing-tool", ENVIRONMENT, "missing-tool (exit 127)",
                           "environment: a command was not found (exit 127)", line,
                           strong=False)
        return Finding("make-error", BUILD_FAILED, f"make-error {target}",
                       f"make: {target}: Error {code}", line, library_of(target), strong=False)
    return None


def _make_stop(m: re.Match[str], line: str, ctx: PathContext) -> Finding:
    file = m.group("file")
    where = strip_location(ctx.path(file) if file and file.startswith("/") else file or "")
    msg_raw = m.group("msg")
    lib = library_of(where) if where else None
    rule = _NO_RULE_RE.search(msg_raw)
    if rule:
        target = ctx.path(rule.group("target")) if rule.group("target").startswith("/") else \
            rule.group("target")
        if target.startswith("<sys>/"):
            # A file outside the tree and the build directory: a toolchain part that is not
            # installed (rust-src under ~/.rustup, a sysroot header), not a defect in the tree.
            return Finding("toolchain", ENVIRONMENT, f"toolchain missing {target}",
                           f"environment: toolchain incomplete: no {target}", line)
        lib = lib or library_of(target)
    msg = message(ctx.text(msg_raw))
    env = environment_finding(msg_raw, ctx)
    if env is not None:
        return Finding(env.rule, env.cls, env.key, env.title + (f" ({where})" if where else ""),
                       line)
    return Finding("make-stop", BUILD_FAILED, f"make-stop {where} {msg}",
                   f"{_lib_title(lib, where or 'make')}: {msg}", line, lib)


def boot_finding(line: str, ctx: PathContext) -> Finding | None:
    """An error a guest printed (the first one is the cause of a failed boot)."""
    if _NO_TTY_RE.search(line):
        return Finding("no-tty", ENVIRONMENT, "no-tty",
                       "environment: the linuxu guest has no terminal on stdin (run it on a "
                       "pty, e.g. under `script`)", line)
    m = _UK_LOG_RE.search(line)
    if m:
        lib = m.group("lib")
        short = lib.removeprefix("lib") if lib else None
        msg = message(ctx.text(m.group("msg")))
        return Finding("boot-error", BOOT_FAILED, f"boot {canonical_library(lib)} {msg}",
                       f"{short or 'guest'}: {msg}", line, short)
    m = _PANIC_RE.search(line)
    if m:
        msg = message(ctx.text(line[m.start():]))
        return Finding("boot-panic", BOOT_FAILED, f"boot-panic {msg}", f"guest: {msg}", line)
    m = _VMM_ERROR_RE.search(line)
    if m:
        msg = message(ctx.text(m.group("msg")))
        return Finding("vmm-error", ENVIRONMENT, f"vmm {_tool(m.group('tool'))} {msg}",
                       f"environment: {m.group('tool')}: {msg}", line)
    return None


def skipped(line: str) -> bool:
    return bool(_SKIP_RE.search(line))


def in_function(line: str) -> str | None:
    m = _IN_FUNCTION_RE.search(line)
    return m.group("obj") if m else None
