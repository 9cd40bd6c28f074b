"""Logs and console output: two or more lines of real tool output, or an attached log file.

A paste is recognised by its lines, not by talk about logs: a line counts when it has the shape
of some tool's output (Xen's ``(XEN)`` prefix, kernel or syslog timestamps, ``libxl:``/``xl:``
toolstack errors, ``qemu-system-*:`` device-model messages, a ``key : value`` line of ``xl
info``, a table of ``xl list``, compiler ``file.c:12:3: error:`` and make ``***`` lines, Python
tracebacks, Unikraft's ``CRIT: [lib...]`` lines and boot banner), or when it follows a line that
introduces output ("Output of xl dmesg:", "Journal de la console :") and does not read as prose.
One quoted error line, a paraphrase, or "xl dmesg shows some errors" is not a log.
"""

from __future__ import annotations

import re

from triage.completeness.evidence import Evidence, Finding
from triage.model import Attachment

# One alternation, anchored at the start of a (stripped) line; compiled once.
_TOOL_LINE = re.compile(
    r"(?:\(xen\)\s|\(d\d+v?\d*\)\s|\[\s*\d+\.\d+\]|<\d>\[?\s*\d|"
    r"\w{3}\s+\d{1,2}\s\d\d:\d\d:\d\d\s\S+\s\S+?:|\d{4}-\d\d-\d\d[t ]\d\d:\d\d:\d\d|"
    r"libxl(?:-\w+)?: (?:error|warning|debug|info|verbose|critical|detail)|xl: (?:error|warning)|"
    r"xc: (?:error|info|detail)|libxc|xenstore\w*: |xen-(?!version)\w+: |"
    r"qemu-system-\w+: |qemu(?:-dm)?: |qemu emulator version|"
    r"[\w./+-]+\.(?:c|h|s|cc|cpp|ml|py|go):\d+(?::\d+)?: (?:error|warning|note|fatal)|"
    r"[\w./+-]+: (?:in function|assembler messages|undefined reference)|"
    r"cc1\w*: |collect2: |/usr/bin/ld: |ld(?:\.\w+)?: |gcc: error|clang: error|"
    r"make(?:\[\d+\])?: (?:\*\*\*|entering|leaving|nothing)|\*\*\* |"
    r"(?:cc|ld|as|ar|hostcc|gen|ocamlopt|ocamlc|cpp|objcopy|uk\w*)\s{2,}\S|"
    r"traceback \(most recent call last\)|file \"[^\"]+\", line \d+|\w*(?:error|exception): |"
    r"(?:crit|err|warn|info|dbg|debug|error|warning)\s*:\s*\[|powered by unikraft|"
    r"o\.\s+.*unikraft|seabios|booting from |opensbi|boot hart|en\d+: |eth\d+: |"
    r"segmentation fault|parsing config from|exit code:|e\s{2}\S|"
    r"call trace:|rip: |rsp: |oops[:\[]|bug: |kernel panic|panic: |cpuid = |"
    r"----\[ |\*\*\*\* |xen call trace|fatal trap|"
    r"name\s+id\s+mem|idx be |user\s+pid|domain-0\s+0\s|\(null\)\s+\d|"
    r"[a-z_][a-z0-9_]*(?:\s{2,}|_[a-z0-9_]*\s+):\s\S|"  # xl info: "xen_version   : 4.19.1"
    r"\w+\([^)\n]{0,200}\)\s+=\s|--- sig|"  # strace
    r"[\w/-]+\s+\d+\s+\d+\s+\d+\s+[-rbpscd]{6}|"  # xl list rows
    r"error: )")
# A line that introduces a paste (ends with a colon and names output, a log or a tool).
_INTRO = re.compile(
    r"(?:output|log|logs|dmesg|console|konsole|consola|consolle|konsola|journal|journalctl|"
    r"strace|trace|ausgabe|protokoll|sortie|salida|uscita|saída|uitvoer|wyjście|registro|"
    r"shows|prints|printed|says|gives|get|got|see|only|error|errors|fehler|erreur|errore|"
    r"błąd|fout|erro|boot|serial|xl [\w-]+|list|info|instead|invece|statt|zamiast|"
    r"stattdessen|lines|result|obtenu|ottenuto|obtenido|obtido|verkregen|uzyskane|but|fails|"
    r"failed|crash\w*|stops|dies|ends|hangs|below|follows|mine|this|here|abort\w*|exits)\W{0,3}:$")
_INTRO_START = re.compile(r"(?:output|log|logs|ausgabe|sortie|salida|uscita|saída|uitvoer|"
                          r"wyjście|registro|journal|protokoll|console|konsole|consola|"
                          r"xl [\w-]+|dmesg|serial)\b[^\n]*:$")
_OUTPUTISH = re.compile(r"\d|[\[\]{}<>|/=]|\w:\w")
# "top -b -n1 | head -8:": a command line introducing its output.
_COMMAND_INTRO = re.compile(r"[a-z][\w.-]*\s[^\n]*?(?:\s-{1,2}\w|\s\|)")
_PROMPT = re.compile(r"(?:[$>]|#(?!#))\s*(?:sudo\s+)?(?!config_)[a-z./][\w./-]*")
_CONFIG_INTRO = re.compile(r"(?:config\w*|kraftfile|kconfig|\.cfg|\.config|konfiguration|"
                           r"configuración|configurazione|konfiguracja)\W{0,20}:$")
_LIST_ITEM = re.compile(r"(?:\d{1,2}[.)]|[-*•])\s")
_PROSE = re.compile(r"[a-zà-ÿ][a-zà-ÿ' ,]*[a-zà-ÿ][.!?]?$")

_LOG_NAME = re.compile(r"(?:\.log|\.txt|\.out|\.err)$|dmesg|console|serial|syslog|journal|"
                       r"trace|xl[-_ ]?info|boot|panic|crash|output|minicom|putty|kern")
_LOG_WORDS = re.compile(r"\b(?:log|logs|dmesg|console|serial|output|trace|xl info|journal|"
                        r"panic|crash|protokoll|ausgabe|journal|sortie|salida|uscita|saída|"
                        r"uitvoer|wyjście|registro|konsol\w*|consol\w*)\b")
_NOT_LOG_NAME = re.compile(r"\.(?:patch|diff|cfg|conf|config|sql|c|h|py|sh|yaml|yml|toml|png|"
                           r"jpe?g|gif|dts|dtb)$|kraftfile|\.config|defconfig|config\b")
LOG_TYPES = ("text/x-log", "application/x-log")


def log_attachment(a: Attachment) -> bool:
    """An attached log: a log-like name, description or type, and not a patch or a config."""
    if a.is_patch:
        return False
    name = a.file_name.lower()
    summary = a.summary.lower()
    if _NOT_LOG_NAME.search(name) or re.search(r"\b(?:config\w*|kraftfile|patch|fix)\b|"
                                               r"\.config", summary):
        return bool(_LOG_WORDS.search(summary) and not re.search(r"config|kraftfile|patch",
                                                                 summary))
    return bool(_LOG_NAME.search(name) or _LOG_WORDS.search(summary)
                or a.content_type.lower() in LOG_TYPES)


def _is_prose(line: str) -> bool:
    return len(line.split()) >= 5 and bool(_PROSE.match(line)) and "=" not in line


def log_lines(lower: str, enough: int = 2) -> list[str]:
    """Up to ``enough`` lines of tool output in ``lower`` (a lower-cased text)."""
    found: list[str] = []
    intro = False  # the previous non-empty line introduced output
    config = False
    prompt = False  # the previous line was a command at a prompt: what follows is its output
    fresh = False  # an introduction was just seen: one blank line may follow it
    paste = False  # the previous line was tool output
    previous = ""
    for raw in lower.split("\n"):
        line = raw.strip().strip("`").strip()
        if not line:
            if not fresh:
                intro = config = False
            fresh = False
            continue
        fresh = False
        was_paste, paste = paste, False
        if line.startswith(("```", "~~~")):
            continue
        if line.endswith(":") and _CONFIG_INTRO.search(line):
            config, intro, fresh = True, False, True
            continue
        tool = bool(_TOOL_LINE.match(line))
        was_prompt, prompt = prompt, bool(_PROMPT.match(line))
        if prompt:
            previous = raw.strip()
            continue
        if was_prompt and not config and not _is_prose(line):
            if not found:
                found.append(previous)
            found.append(raw.strip())
        elif tool and not config:
            found.append(raw.strip())
            paste = True
            continue
        elif was_paste and not config and _OUTPUTISH.search(line) and not line.endswith(":") \
                and not _LIST_ITEM.match(line) and not _is_prose(line):
            found.append(raw.strip())  # a paste goes on: a table row after its header
        elif intro and not config and not _LIST_ITEM.match(line) and not _is_prose(line):
            found.append(raw.strip())
        elif line.endswith(":") and (_INTRO.search(line) or _INTRO_START.match(line)
                                     or _COMMAND_INTRO.match(line)):
            intro, config, fresh = True, False, True
            continue
        elif not tool:
            intro = intro and not _is_prose(line)
        if len(found) >= enough:
            break
    return found


def detect_logs(ev: Evidence, item: str = "logs") -> Finding:
    for a in ev.attachments:
        if log_attachment(a):
            what = a.summary or a.file_name
            return Finding(item, True, f"an attached log ({what})", a.file_name,
                           f"attachment {a.file_name}")
    near = ""
    for src in ev.texts:
        lines = log_lines(src.lower)
        if len(lines) >= 2:
            start = src.lower.find(lines[0].lower())
            quote = src.text[start:start + 160] if start >= 0 else lines[0]
            return Finding(item, True, "pasted tool output", quote.split("\n")[0], src.where)
        if lines and not near:
            near = f"only one line of output ({src.where}): one quoted line is not a log"
    return Finding(item, False, note=near)
