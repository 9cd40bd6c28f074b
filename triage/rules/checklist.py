"""What a bug report holds: one detector per checklist item, judged from text and attachments.

Precision matters both ways: a false "present" lets an unusable report through to developers, a
false "missing" asks a reporter for what they already gave (the surest way to lose them). So:

* a version is a release number, not a word: ``4.17.2`` or ``Xen 4.18`` count, ``latest`` or
  ``the newest one`` do not; a bare number counts as the Xen version only when it looks like a
  Xen release (3.x / 4.x) and is not introduced as a kernel, distro, compiler or QEMU version;
* logs are evidence, not a mention: an ``xl dmesg`` paste (``(XEN)`` lines), a serial console
  excerpt, a kernel log or a call trace counts; "I checked xl dmesg" does not; a log attachment
  counts by its name, summary or type;
* expected vs actual needs both halves.

All detectors are linear regular expressions (no nested quantifiers), so a 1 MB description costs
milliseconds, and none of them interprets markup: HTML or wiki syntax is just text here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from triage.model import Attachment, Bug


@dataclass(frozen=True)
class Evidence:
    """Everything a report says: the text of the summary, description and human comments, the
    non-obsolete attachments, and the Bugzilla fields a reporter may have filled in."""

    text: str
    attachments: tuple[Attachment, ...]
    version_field: str = ""
    platform_field: str = ""
    op_sys_field: str = ""
    # Lower-cased once: the case-insensitive detectors search this with case-sensitive patterns,
    # about four times faster than re.IGNORECASE over large alternations.
    lower: str = ""

    def __post_init__(self) -> None:
        if not self.lower:
            object.__setattr__(self, "lower", self.text.lower())


def gather(bug: Bug, bots: Iterable[str] = ()) -> Evidence:
    bot_set = {b.lower() for b in bots}
    parts = [bug.summary]
    parts.extend(c.text for c in sorted(bug.comments, key=lambda c: c.count)
                 if c.author.lower() not in bot_set)
    return Evidence(
        text="\n".join(parts).replace("\r\n", "\n").replace("\r", "\n"),
        attachments=tuple(a for a in bug.attachments
                          if not a.is_obsolete and a.creator.lower() not in bot_set),
        version_field=bug.version, platform_field=bug.platform, op_sys_field=bug.op_sys,
    )


_NOT_A_VERSION = {"", "unspecified", "---", "other", "all", "latest", "master", "unknown",
                  "trunk", "n/a"}
_DOTTED = r"\d{1,2}\.\d{1,2}(?:\.\d{1,3})?(?:-rc\d{0,2}|-pre|-unstable)?"
_XEN_VERSION = re.compile(
    r"\b(?:xen(?:[ _-]?(?:version|ver|hypervisor|release))?|xen_version|hypervisor"
    r"(?: version)?|xenproject|xen-unstable|xen-)\s*(?:is|=|:|v)?\s*(" + _DOTTED + r")\b")
_BARE_VERSION = re.compile(r"(?<![\w.-])v?([34]\.\d{1,2}(?:\.\d{1,3})?(?:-rc\d{0,2})?)"
                           r"(?!\w|\.\d)")
# Words that make the number that follows a version of something else.
_OTHER_SOFTWARE = re.compile(
    r"(?:kernel|linux|dom0|debian|ubuntu|fedora|centos|rhel|gcc|clang|qemu|python|glibc|"
    r"libvirt|bios|firmware|uefi|grub|openssl|systemd|suse|alpine|freebsd|netbsd|version of)"
    r"\W{0,3}(?:version\W{0,2})?$")
_XEN_COMMIT = re.compile(r"\b(?:xen|staging|master|unstable)\b[^\n]{0,40}?\b(?:commit|at|@|"
                         r"changeset)\W{0,3}[0-9a-f]{7,40}\b")
_UNIKRAFT_RELEASE = re.compile(r"(?:\b(?:unikraft|release|kraftkit|uk)[ _-]?(?:version)?"
                               r"\W{0,3}v?|\bv|release-)(0\.\d{1,2}(?:\.\d{1,3})?)\b"
                               r"|(?<![\w.])(0\.1\d(?:\.\d{1,3})?)(?!\w|\.\d)")

_ARCH = re.compile(r"(?<![\w-])(x86[_-]64|x86|amd64|x64|i[3-6]86|ia32|arm64|aarch64|armv[78]"
                   r"(?:-?a|l)?|arm32|armhf|arm|riscv(?:64)?|ppc64(?:le)?)(?![\w])")
_NOT_AN_ARCH = {"", "all", "other", "pc", "unspecified", "---"}

_HARDWARE = re.compile(
    r"\b(?:intel|amd|xeon|epyc|ryzen|threadripper|opteron|core\s?i[3579]|pentium|celeron|"
    r"atom|cortex-a\d+|neoverse|ampere|altra|graviton|thunderx2?|raspberry\s?pi|rpi\s?[345]|"
    r"imx8|zynq|rockchip|rk3399|jetson|apple\s?m[123]|dell|poweredge|optiplex|latitude|lenovo|"
    r"thinkpad|thinkstation|supermicro|hp\s(?:elitebook|proliant|z\d)|proliant|asus|gigabyte|"
    r"msi|asrock|intel\s?nuc|motherboard|mainboard|chipset|model name|cpu model|dmidecode|"
    r"qemu(?:[ -]kvm)?\s(?:machine|guest|nested)|nested\svirt\w*|virtualbox|vmware)\b")

_DISTRO = re.compile(
    r"\b(?:debian|ubuntu|fedora|centos|rhel|red hat|rocky|alma ?linux|opensuse|suse|sles|"
    r"arch ?linux|manjaro|gentoo|alpine|void linux|nixos|qubes(?: os)?|xcp-ng|xenserver|"
    r"citrix hypervisor|oracle vm|slackware|freebsd|netbsd|openbsd|yocto|buildroot)\b")
_DOM0_KERNEL = re.compile(
    r"(?:\b(?:dom0|linux|kernel|uname -r\W*)\W{0,12}(?:version\W{0,3})?v?\d\.\d{1,2}"
    r"(?:\.\d{1,3})?|\b\d\.\d{1,2}\.\d{1,3}-\d+-(?:amd64|arm64|generic|cloud)\b"
    r"|\b\d\.\d{1,2}\.\d{1,3}[.-](?:fc|el)\d+)")

_STEPS = re.compile(
    r"(?m)\b(?:steps? to reproduce|to reproduce\s*:|how to reproduce"
    r"|reproduc(?:e|ible|er) (?:by|with|steps)|repro(?: steps)?\s*:|steps\s*:)"
    # a command at a shell prompt, or two command lines in a row (a summary naming one is not)
    r"|^\s*[$#]\s*(?:sudo\s+)?(?:xl|kraft|virsh|xe|qemu-system-[\w-]+|make)\s+[a-z-]{2,}"
    r"|^\s*(?:xl|kraft|virsh|qemu-system-[\w-]+)\s+[a-z-]{2,}[^\n]*\n"
    r"\s*(?:xl|kraft|virsh|qemu-system-[\w-]+)\s+[a-z-]{2,}"
    r"|^\s*(?:1[.)]|step 1)\s+\S[^\n]*\n(?:[^\n]*\n){0,5}?\s*2[.)]\s+\S")
_EXPECTED = re.compile(r"\b(?:expected|expect(?:ing)?|should(?: have)?|supposed to)\b")
_ACTUAL = re.compile(r"\b(?:actual(?:ly)?|instead|observed|what happens|but (?:it|got|the|"
                     r"i get|xen|we)|however|result(?:s|ed)? in|crash(?:es|ed)?|hangs?|fails?)\b")

# Log evidence: lines that are log output, not talk about logs.
_LOG_LINE = re.compile(
    r"(?m)^\s*(?:\(XEN\)\s|\(d\d+\)\s|\[\s*\d+\.\d{3,}\]\s|(?:\w{3}\s+\d+\s[\d:]{8}\s)?\S+\s"
    r"kernel:\s|Xen call trace:|----\[ Xen-|Panic on CPU \d|Call Trace:|RIP:\s|"
    r"\[\s*\d+\.\d+\]\s|(?:ERR|CRIT|WARN|Info|INFO):\s*\[|Powered by|o\.\s+.*Unikraft)")
_LOG_NAMES = re.compile(r"(?i)(?:\.log$|\.txt$|dmesg|console|serial|boot|trace|xl[-_ ]info|"
                        r"journal|syslog|panic|crash)")
_LOG_SUMMARY = re.compile(r"(?i)\b(?:log|dmesg|console|serial|output|trace|xl info|journal|"
                          r"panic|crash)\b")
_LOG_TYPES = ("text/plain", "text/x-log", "application/x-log")

_CONSOLE_LINE = re.compile(
    r"(?m)^\s*(?:\[\s*\d+\.\d+\]\s|Powered by|o\.\s|(?:ERR|CRIT|WARN|Info|dbg):\s*\[|"
    r"SeaBIOS|Booting from|qemu-system-\w+:|Unikraft|\(XEN\)\s)")
_KCONFIG = re.compile(r"(?m)^\s*(?:#\s*)?CONFIG_[A-Z0-9_]+(?:=|\sis not set)")
_KRAFTFILE = re.compile(r"(?m)^\s*(?:spec:\s*v?\d|unikraft:|targets:|runtime:|libraries:)")
_CONFIG_NAMES = re.compile(r"(?i)(?:^|/)(?:\.config|config|defconfig|kraftfile(?:\.ya?ml)?|"
                           r"kraft\.ya?ml|.*\.config)$")

_PLATFORM = re.compile(r"\b(?:kvm|qemu|firecracker|fc|xen|linuxu|hyperkit|solo5|"
                       r"cloud-hypervisor)\b")


def _count(pattern: re.Pattern[str], text: str, enough: int) -> int:
    n = 0
    for _ in pattern.finditer(text):
        n += 1
        if n >= enough:
            break
    return n


def _version_field(ev: Evidence) -> bool:
    value = ev.version_field.strip()
    return value.lower() not in _NOT_A_VERSION and bool(re.search(r"\d", value))


def has_xen_version(ev: Evidence) -> bool:
    if _version_field(ev):
        return True
    if _XEN_VERSION.search(ev.lower) or _XEN_COMMIT.search(ev.lower):
        return True
    for m in _BARE_VERSION.finditer(ev.lower):
        before = ev.lower[max(0, m.start() - 25) : m.start()]
        if not _OTHER_SOFTWARE.search(before):
            return True
    return False


def has_unikraft_release(ev: Evidence) -> bool:
    if _version_field(ev):
        return True
    return bool(_UNIKRAFT_RELEASE.search(ev.lower))


def has_architecture(ev: Evidence) -> bool:
    field = ev.platform_field.strip().lower()
    if field not in _NOT_AN_ARCH and _ARCH.fullmatch(field):
        return True
    return bool(_ARCH.search(ev.lower))


def has_hardware(ev: Evidence) -> bool:
    return bool(_HARDWARE.search(ev.lower))


def has_dom0(ev: Evidence) -> bool:
    return bool(_DISTRO.search(ev.lower) or _DOM0_KERNEL.search(ev.lower))


def has_steps(ev: Evidence) -> bool:
    return bool(_STEPS.search(ev.lower))


def has_expected_actual(ev: Evidence) -> bool:
    return bool(_EXPECTED.search(ev.lower)) and bool(_ACTUAL.search(ev.lower))


def _log_attachment(a: Attachment) -> bool:
    if a.is_patch:
        return False
    return bool(_LOG_NAMES.search(a.file_name) or _LOG_SUMMARY.search(a.summary)
                or a.content_type.lower() in ("text/x-log", "application/x-log"))


def has_logs(ev: Evidence) -> bool:
    if any(_log_attachment(a) for a in ev.attachments):
        return True
    return _count(_LOG_LINE, ev.text, 2) >= 2


def has_console_log(ev: Evidence) -> bool:
    if any(_log_attachment(a) for a in ev.attachments):
        return True
    return _count(_CONSOLE_LINE, ev.text, 2) >= 2


def has_platform(ev: Evidence) -> bool:
    return bool(_PLATFORM.search(ev.lower))


def has_config(ev: Evidence) -> bool:
    if any(_CONFIG_NAMES.search(a.file_name) for a in ev.attachments):
        return True
    return _count(_KCONFIG, ev.text, 3) >= 3 or _count(_KRAFTFILE, ev.lower, 2) >= 2


@dataclass(frozen=True)
class Item:
    """A checklist item: what the bot checks, and how it asks a reporter for it."""

    name: str
    label: str  # short, for decisions and the plan
    ask: str  # one sentence to the reporter, in their terms
    present: Callable[[Evidence], bool]


ITEMS: dict[str, Item] = {item.name: item for item in (
    Item("version", "Xen version",
         "Which Xen version are you running? The number matters, e.g. 4.17.2 (`xl info` shows "
         "it as xen_version); \"latest\" changes over time, so it is not enough.",
         has_xen_version),
    Item("architecture", "architecture",
         "Which CPU architecture is this: x86_64 or arm64 (aarch64), or another?",
         has_architecture),
    Item("hardware", "hardware or platform",
         "What hardware does it run on: the machine or board model and the CPU (for example "
         "\"Dell PowerEdge R740, Intel Xeon Gold 6230\"), or the VM if Xen runs nested?",
         has_hardware),
    Item("dom0", "dom0 kernel or distribution",
         "Which dom0 do you use: the distribution and its kernel version (`uname -r` in dom0)?",
         has_dom0),
    Item("steps", "steps to reproduce",
         "What exactly do you do to make it happen? Numbered steps with the commands you run "
         "(and the guest configuration, if a guest is involved) let a developer repeat it.",
         has_steps),
    Item("expected_actual", "expected vs actual behaviour",
         "What did you expect to happen, and what happened instead?",
         has_expected_actual),
    Item("logs", "logs",
         "Please attach the logs: the output of `xl dmesg` and, if the host crashes or hangs, "
         "the serial console. Attaching them as a file is easiest.",
         has_logs),
    Item("release", "Unikraft release",
         "Which Unikraft release do you use (e.g. 0.17.0), or which commit if you build from "
         "git?",
         has_unikraft_release),
    Item("platform", "platform",
         "Which platform do you run the unikernel on: KVM (QEMU or Firecracker), Xen or linuxu?",
         has_platform),
    Item("config", "configuration (.config or Kraftfile)",
         "Please attach the build configuration: the `.config` of the build, or your Kraftfile.",
         has_config),
    Item("console_log", "console log",
         "Please attach the console output of the failing boot or run (everything from the "
         "start).",
         has_console_log),
)}

DEFAULT_CHECKLISTS: dict[str, list[str]] = {
    "Xen": ["version", "architecture", "hardware", "dom0", "steps", "expected_actual", "logs"],
    "Unikraft": ["release", "platform", "architecture", "config", "console_log"],
    "*": ["steps", "expected_actual", "logs"],
}


def checklist_for(checklists: dict[str, list[str]], product: str, component: str) -> tuple[
        str, list[str]]:
    """The most specific checklist: ``Product/Component``, then ``Product``, then ``*``."""
    for key in (f"{product}/{component}", product, "*"):
        if key in checklists:
            return key, checklists[key]
    return "", []


@dataclass(frozen=True)
class Assessment:
    checklist: str
    present: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def assess(bug: Bug, checklists: dict[str, list[str]], bots: Iterable[str] = ()) -> Assessment:
    key, names = checklist_for(checklists, bug.product, bug.component)
    ev = gather(bug, bots)
    present: list[str] = []
    missing: list[str] = []
    for name in names:
        (present if ITEMS[name].present(ev) else missing).append(name)
    return Assessment(key, tuple(present), tuple(missing))


def labels(names: Sequence[str]) -> list[str]:
    return [ITEMS[n].label for n in names]
